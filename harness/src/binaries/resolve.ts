// Finds or makes kube-apiserver, kube-controller-manager and etcd for one Kubernetes release. Each
// binary is looked up on its own through the published order, so a KUBEBUILDER_ASSETS directory
// (which has no kube-controller-manager) still counts for the two it does have:
//
//   1. $TEST_ASSET_KUBE_APISERVER, $TEST_ASSET_KUBE_CONTROLLER_MANAGER, $TEST_ASSET_ETCD (envtest's names)
//   2. $KUBEBUILDER_ASSETS/<name>
//   3. the cache, <root>/bin/v<version>/, trusted only through its manifest (cache.ts)
//   4. the official release downloads, checksum-verified (download.ts)   — off with IMAGEPOLICY_LAB_NO_DOWNLOAD=1
//   5. a build from the official Go modules with the local `go` (go-build.ts) — off with IMAGEPOLICY_LAB_NO_BUILD=1
//
// Steps 4 and 5 install into the cache under a per-version lock; a second process waits for the
// first and then takes the result from the cache. Every step records what it tried, so the final
// BinariesUnavailableError lists every place and why it did not work.
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BinariesUnavailableError, LabError } from "../util/errors.ts";
import { silentLogger, silentProgress, type Logger, type Progress } from "../util/logger.ts";
import { executableProblem, probeVersion } from "./binary-check.ts";
import { cacheRoot, checkCachedBinary, installIntoCache, readManifest, removeLeftoverTempDirs, tempDirPrefix, versionBinDir, type InstallItem } from "./cache.ts";
import { BINARY_NAMES, readEnv, readEnvFlag, TEST_ASSET_VARS, type BinaryName, type Env } from "./env.ts";
import { DEFAULT_DOWNLOAD_URLS, DownloadFailedError, downloadEtcd, downloadKubernetesBinary, goPlatform, type DownloadUrls } from "./download.ts";
import { buildEtcd, buildKubernetes, probeGo, type BuiltBinary, type GoContext } from "./go-build.ts";
import { acquireLock } from "./lock.ts";
import { DEFAULT_K8S_VERSION, versionInfo, type K8sVersionInfo } from "./versions.ts";

/** Where the three binaries are. Paths are absolute and executable. */
export interface ControlPlaneBinaries {
  kubeApiserver: string;
  kubeControllerManager: string;
  etcd: string;
  /** Kubernetes release the set was resolved for, e.g. "1.36.1". */
  version: string;
  /** etcd release Kubernetes pins for `version`, e.g. "3.6.8". */
  etcdVersion: string;
  /** Where they came from, for humans, e.g. "cache /root/.cache/imagepolicy-lab/bin/v1.36.1 (built from …)". */
  source: string;
  /** The same per binary. */
  sources: Record<BinaryName, string>;
  /** Every place that was looked at, in order, including the successful ones. */
  attempts: string[];
}

export interface ResolveBinariesOptions {
  /** Kubernetes release ("1.36.1" or "v1.36.1"); default DEFAULT_K8S_VERSION. Must be in versions.ts. */
  k8sVersion?: string;
  /** Environment to read (see env.ts for the table) and to run `go` with; default process.env. */
  env?: Env;
  /** Cache root; overrides $IMAGEPOLICY_LAB_CACHE and the XDG default. */
  cacheDir?: string;
  progress?: Progress;
  logger?: Logger;
  signal?: AbortSignal;
  /** Run `--version` on binaries from steps 1–2 and warn when they report another release; default true. */
  checkVersions?: boolean;
  /** Download sources, for mirrors and tests; default dl.k8s.io and GitHub releases. */
  downloadUrls?: Partial<DownloadUrls>;
  /** Budget for a download server to answer; default 5_000 ms. */
  connectTimeoutMs?: number;
  /** How long to wait for another process that is building the same release; default 2_700_000 ms (45 min). */
  lockTimeoutMs?: number;
}

/** State shared by the steps of one resolution. */
interface Run {
  info: K8sVersionInfo;
  env: Env;
  root: string;
  binDir: string;
  logger: Logger;
  options: ResolveBinariesOptions;
  /** `where` is the place (variable or cache dir), `source` the full human description. */
  found: Partial<Record<BinaryName, { path: string; where: string; source: string }>>;
  attempts: string[];
}

function missing(run: Run): BinaryName[] {
  return BINARY_NAMES.filter((n) => !run.found[n]);
}

/**
 * Finds or makes the control-plane binaries for `k8sVersion` (see the order above). Throws
 * ConfigError for an unknown version or a malformed variable, and BinariesUnavailableError when every
 * step failed; its `attempts` list every place tried.
 */
export async function resolveBinaries(options: ResolveBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  const info = versionInfo(options.k8sVersion ?? DEFAULT_K8S_VERSION);
  const env = options.env ?? process.env;
  const root = cacheRoot(env, options.cacheDir);
  const run: Run = {
    info,
    env,
    root,
    binDir: versionBinDir(root, info.version),
    logger: options.logger ?? silentLogger,
    options,
    found: {},
    attempts: [],
  };
  // Read the switches up front so a malformed value fails before anything slow happens.
  const noDownload = readEnvFlag(env, "IMAGEPOLICY_LAB_NO_DOWNLOAD");
  const noBuild = readEnvFlag(env, "IMAGEPOLICY_LAB_NO_BUILD");

  await fromEnvPaths(run);
  await fromKubebuilderAssets(run);
  await fromCache(run);
  if (missing(run).length > 0) {
    if (noDownload && noBuild) {
      run.attempts.push("download: skipped ($IMAGEPOLICY_LAB_NO_DOWNLOAD is set)", "build from Go modules: skipped ($IMAGEPOLICY_LAB_NO_BUILD is set)");
    } else {
      await underLock(run, async () => {
        if (noDownload) run.attempts.push("download: skipped ($IMAGEPOLICY_LAB_NO_DOWNLOAD is set)");
        else await fromDownload(run);
        if (missing(run).length === 0) return;
        if (noBuild) run.attempts.push("build from Go modules: skipped ($IMAGEPOLICY_LAB_NO_BUILD is set)");
        else await fromBuild(run);
      });
    }
  }

  const still = missing(run);
  if (still.length > 0) {
    throw new BinariesUnavailableError(run.attempts, hint(run, still, { noDownload, noBuild }));
  }
  const sources = Object.fromEntries(BINARY_NAMES.map((n) => [n, run.found[n]?.source ?? ""])) as Record<BinaryName, string>;
  const distinct = [...new Set(Object.values(sources))];
  const places = [...new Set(BINARY_NAMES.map((n) => run.found[n]?.where))];
  return {
    kubeApiserver: run.found["kube-apiserver"]?.path ?? "",
    kubeControllerManager: run.found["kube-controller-manager"]?.path ?? "",
    etcd: run.found.etcd?.path ?? "",
    version: info.version,
    etcdVersion: info.etcdVersion,
    // One line for the common case of a single place (the cache); per binary otherwise.
    source:
      distinct.length === 1
        ? (distinct[0] ?? "")
        : places.length === 1 && places[0]?.startsWith("cache ")
          ? `${places[0]} (${[...new Set(BINARY_NAMES.map((n) => sources[n].slice(`${places[0]} (`.length, -1)))].join("; ")})`
          : BINARY_NAMES.map((n) => `${n}: ${sources[n]}`).join("; "),
    sources,
    attempts: run.attempts,
  };
}

/** Alias for CLI wiring (`imagepolicy-lab binaries`): the same resolution, named for what it guarantees. */
export const ensureBinaries = resolveBinaries;

// Step 1: one variable per binary.
async function fromEnvPaths(run: Run): Promise<void> {
  for (const name of missing(run)) {
    const variable = TEST_ASSET_VARS[name];
    const value = readEnv(run.env, variable);
    if (!value) {
      run.attempts.push(`$${variable}: not set`);
      continue;
    }
    await useExplicit(run, name, value, `$${variable}`);
  }
}

// Step 2: setup-envtest's directory layout.
async function fromKubebuilderAssets(run: Run): Promise<void> {
  const todo = missing(run);
  if (todo.length === 0) return;
  const dir = readEnv(run.env, "KUBEBUILDER_ASSETS");
  if (!dir) {
    run.attempts.push("$KUBEBUILDER_ASSETS: not set");
    return;
  }
  for (const name of todo) await useExplicit(run, name, join(dir, name), "$KUBEBUILDER_ASSETS");
}

/** A user-named file: it must be executable; a different release is a warning, since they chose it. */
async function useExplicit(run: Run, name: BinaryName, path: string, via: string): Promise<void> {
  const absolute = resolve(path);
  const problem = await executableProblem(absolute);
  if (problem) {
    run.attempts.push(`${via}: ${absolute}: ${problem}`);
    return;
  }
  if (run.options.checkVersions ?? true) {
    const expected = name === "etcd" ? run.info.etcdVersion : run.info.version;
    const probe = await probeVersion(name, absolute, run.options.signal ? { signal: run.options.signal } : {});
    if (probe.problem) run.logger.warn(`${name} from ${via} (${absolute}): ${probe.problem}; using it anyway`);
    else if (probe.version !== expected) {
      run.logger.warn(`${name} from ${via} (${absolute}) reports ${probe.version}, expected ${expected}; using it anyway`);
    }
  }
  run.attempts.push(`${via}: ${absolute}: found ${name}`);
  run.found[name] = { path: absolute, where: via, source: `${via} (${absolute})` };
}

// Step 3: the cache. Called again after waiting for another process's lock.
async function fromCache(run: Run): Promise<void> {
  const todo = missing(run);
  if (todo.length === 0) return;
  const read = await readManifest(run.binDir, run.info);
  if (!read.manifest) {
    run.attempts.push(`cache ${run.binDir}: ${read.problem}`);
    return;
  }
  for (const name of todo) {
    const check = await checkCachedBinary(run.binDir, read.manifest, name);
    if (!check.ok) {
      run.attempts.push(`cache ${run.binDir}: ${name}: ${check.problem}`);
      if (read.manifest.binaries[name]) run.logger.warn(`ignoring cached ${name} in ${run.binDir}: ${check.problem}; it will be replaced`);
      continue;
    }
    run.attempts.push(`cache ${run.binDir}: found ${name}`);
    run.found[name] = { path: check.path, where: `cache ${run.binDir}`, source: `cache ${run.binDir} (${check.entry.origin})` };
  }
}

/** Holds the per-version lock around downloads and builds; re-reads the cache if someone else held it. */
async function underLock(run: Run, fn: () => Promise<void>): Promise<void> {
  const { progress, signal } = run.options;
  const waitTask = { current: undefined as ReturnType<Progress["start"]> | undefined };
  const lock = await acquireLock(`${run.binDir}.lock`, {
    purpose: `provisioning Kubernetes v${run.info.version} binaries`,
    ...(run.options.lockTimeoutMs !== undefined ? { timeoutMs: run.options.lockTimeoutMs } : {}),
    ...(signal ? { signal } : {}),
    onWait(holder, waitedMs) {
      waitTask.current ??= progress?.start(`waiting for another process to finish provisioning v${run.info.version}`);
      waitTask.current?.update(`${holder ? `pid ${holder.pid}` : "unknown holder"} · ${Math.round(waitedMs / 1000)}s`);
    },
  }).catch(async (err: unknown) => {
    waitTask.current?.fail();
    throw err;
  });
  try {
    if (lock.waited) {
      waitTask.current?.succeed();
      await fromCache(run);
      if (missing(run).length === 0) return;
    }
    await removeLeftoverTempDirs(run.root, run.info.version);
    await fn();
  } finally {
    await lock.release();
  }
}

/** A temp dir beside the bin dir (same filesystem, so installing is a rename), removed afterwards. */
async function withTempDir<T>(run: Run, fn: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(join(run.root, "bin"), { recursive: true });
  const dir = await mkdtemp(tempDirPrefix(run.root, run.info.version));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function install(run: Run, items: InstallItem[]): Promise<void> {
  const paths = await installIntoCache(run.binDir, run.info, items);
  for (const item of items) {
    const path = paths[item.name];
    if (path) run.found[item.name] = { path, where: `cache ${run.binDir}`, source: `cache ${run.binDir} (${item.origin})` };
  }
}

// Step 4: official release artifacts.
async function fromDownload(run: Run): Promise<void> {
  const platform = goPlatform();
  if (platform.os !== "linux") {
    run.attempts.push(`download: skipped (Kubernetes publishes server binaries for linux only, this is ${platform.os})`);
    return;
  }
  const urls: DownloadUrls = { ...DEFAULT_DOWNLOAD_URLS, ...run.options.downloadUrls };
  const fetchOptions = {
    platform,
    ...(run.options.connectTimeoutMs !== undefined ? { connectTimeoutMs: run.options.connectTimeoutMs } : {}),
    ...(run.options.signal ? { signal: run.options.signal } : {}),
  };
  const unreachable = new Set<string>();
  await withTempDir(run, async (dir) => {
    for (const name of missing(run)) {
      const host = new URL(name === "etcd" ? urls.etcd : urls.kubernetes).host;
      if (unreachable.has(host)) {
        run.attempts.push(`download ${name}: skipped (${host} unreachable, see above)`);
        continue;
      }
      const label = name === "etcd" ? `etcd v${run.info.etcdVersion}` : `${name} v${run.info.version}`;
      // Not `task()`: an unreachable host is an expected outcome offline, and its line should say
      // what happens next rather than read like the end of the road.
      const t = (run.options.progress ?? silentProgress).start(`downloading ${label}`);
      const started = performance.now();
      try {
        const got = await (name === "etcd"
          ? downloadEtcd(run.info.etcdVersion, dir, urls, { ...fetchOptions, task: t })
          : downloadKubernetesBinary(name, run.info.version, dir, urls, { ...fetchOptions, task: t })
        ).catch((err: unknown) => {
          const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
          t.fail(err instanceof DownloadFailedError && err.unreachable ? `${host} unreachable (${why}); trying the next source` : why);
          throw err;
        });
        t.succeed(`${((performance.now() - started) / 1000).toFixed(1)}s`);
        const probe = await probeVersion(name, got.path, run.options.signal ? { signal: run.options.signal } : {});
        if (probe.problem) run.logger.warn(`downloaded ${name}: ${probe.problem}`);
        await install(run, [{ name, sourcePath: got.path, origin: `downloaded from ${got.url}`, versionOutput: probe.firstLine }]);
        run.attempts.push(`download ${got.url}: ok`);
      } catch (err) {
        if (!(err instanceof DownloadFailedError)) throw err;
        if (err.unreachable) unreachable.add(host);
        run.attempts.push(`download ${err.url}: ${err.reason}`);
      }
    }
  });
}

// Step 5: build from the Go modules.
async function fromBuild(run: Run): Promise<void> {
  const { signal, progress } = run.options;
  const go = await probeGo(run.env, signal);
  if ("problem" in go) {
    run.attempts.push(`build from Go modules: ${go.problem}`);
    return;
  }
  const todo = missing(run);
  const k8s = todo.filter((n): n is Exclude<BinaryName, "etcd"> => n !== "etcd");
  await withTempDir(run, async (outDir) => {
    const ctx: GoContext = {
      env: run.env,
      workRoot: run.root,
      outDir,
      logger: run.logger,
      ...(progress ? { progress } : {}),
      ...(signal ? { signal } : {}),
    };
    const groups: Array<{ label: string; build: () => Promise<BuiltBinary[]> }> = [];
    if (k8s.length > 0) groups.push({ label: `k8s.io/kubernetes@v${run.info.version}`, build: () => buildKubernetes(run.info, k8s, go, ctx) });
    if (todo.includes("etcd")) groups.push({ label: `go.etcd.io/etcd/server/v3@v${run.info.etcdVersion}`, build: () => buildEtcd(run.info, go, ctx) });
    for (const group of groups) {
      try {
        const built = await group.build();
        await install(run, built.map((b) => ({ name: b.name, sourcePath: b.path, origin: b.origin, versionOutput: b.versionOutput })));
        run.attempts.push(`build ${group.label} with ${go.version}: ok`);
      } catch (err) {
        signal?.throwIfAborted();
        if (!(err instanceof LabError)) throw err;
        // One line here; the full go output is in the logger's debug stream.
        run.attempts.push(`build ${group.label} with ${go.version}: ${err.message.split("\n")[0]}`);
        run.logger.debug(err.message);
      }
    }
  });
}

/** How to get unstuck, given what failed. */
function hint(run: Run, still: BinaryName[], switches: { noDownload: boolean; noBuild: boolean }): string {
  const vars = still.map((n) => TEST_ASSET_VARS[n]).join(", ");
  const ways = [
    `set ${vars} to existing binaries`,
    `point KUBEBUILDER_ASSETS at a directory that holds them (setup-envtest provides kube-apiserver and etcd, not kube-controller-manager)`,
    switches.noDownload
      ? "unset IMAGEPOLICY_LAB_NO_DOWNLOAD to allow downloads from dl.k8s.io and github.com"
      : "allow network access to dl.k8s.io and github.com",
    switches.noBuild
      ? "unset IMAGEPOLICY_LAB_NO_BUILD to allow building from Go modules"
      : `install Go (https://go.dev/dl/; Kubernetes ${run.info.version} needs the Go version in its go.mod) with access to a Go module proxy, which builds them into ${run.binDir}`,
  ];
  return `To fix, do one of:\n${ways.map((w) => `  - ${w}`).join("\n")}`;
}
