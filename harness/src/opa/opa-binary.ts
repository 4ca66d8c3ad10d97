// The OPA binary the lab runs and lints with: found (a path from the environment, `opa` on PATH, the
// cache) or built from its Go module into the cache, like kind (providers/kind/tools.ts). npm has no
// OPA server binary, and OPA publishes its releases as a Go module whose root is the `opa` main package,
// so `go install github.com/open-policy-agent/opa@v1.22.3` is a complete build (mechanisms.md §A5:
// about 1 min 10 s on 2 cores with a warm module cache). A cross-process lock keeps two builds apart.
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { executableProblem } from "../binaries/binary-check.ts";
import { cacheRoot } from "../binaries/cache.ts";
import { readEnvFlag, type Env } from "../binaries/env.ts";
import { goInstall, probeGo } from "../binaries/go-build.ts";
import { acquireLock } from "../binaries/lock.ts";
import { tryRun } from "../providers/kind/tools.ts";
import { LabError } from "../util/errors.ts";
import { silentLogger, type Logger, type Progress, type ProgressTask } from "../util/logger.ts";

/** The OPA release the lab's policies are written and tested for (Rego v1; OPA ≥ 1.0). */
export const OPA_VERSION = "v1.22.3";

/** OPA's Go module; its root is the `opa` command. */
export const OPA_MODULE = "github.com/open-policy-agent/opa";

/**
 * Environment variables ensureOpa and the OPA tests read. Precedence: explicit option, then variable,
 * then default. docs/opa.md shows this table (a test keeps them in step).
 */
export const OPA_ENV = Object.freeze({
  IMAGEPOLICY_LAB_OPA: `Path of the opa binary; it must report ${OPA_VERSION.slice(1)}. Default: \`opa\` on PATH when it is ${OPA_VERSION}, then <cache>/tools/opa-${OPA_VERSION}/opa, built there when missing.`,
  IMAGEPOLICY_LAB_CACHE: "Cache root (shared with the Kubernetes binaries and kind). Default ${XDG_CACHE_HOME:-~/.cache}/imagepolicy-lab.",
  IMAGEPOLICY_LAB_NO_BUILD: "1/true: never build from Go modules; a missing opa is then an error that says how to get one.",
  IMAGEPOLICY_LAB_OPA_TESTS: "Tests only: `required` makes the OPA tests fail instead of skip when no opa can be found or built. .ci/run sets it.",
} as const);

/** Where ensureOpa builds OPA: `<cache>/tools/opa-<version>/`. */
export function opaCacheDir(env: Env = process.env): string {
  return join(cacheRoot(env), "tools", `opa-${OPA_VERSION}`);
}

/** The command that installs OPA into the cache by hand (what ensureOpa runs). */
export function opaInstallCommand(env: Env = process.env): string {
  return `CGO_ENABLED=0 GOBIN=${opaCacheDir(env)} go install ${OPA_MODULE}@${OPA_VERSION}`;
}

/** "1.22.3" from `opa version` output ("Version: 1.22.3\nBuild Commit: …"). */
export function parseOpaVersion(output: string): string | undefined {
  return /^Version:\s*v?(\d+\.\d+\.\d+\S*)/m.exec(output)?.[1];
}

export type OpaLookup = { path: string; searched: string[] } | { path?: undefined; searched: string[]; problem: string };

/**
 * Finds an opa of OPA_VERSION without building: `IMAGEPOLICY_LAB_OPA` alone when set, else `opa` on
 * PATH, then the cache. A binary of another release is reported, not used: the policies and the lint
 * rules are tested against this one.
 */
export async function findOpa(env: Env = process.env, signal?: AbortSignal): Promise<OpaLookup> {
  const fromVar = env.IMAGEPOLICY_LAB_OPA?.trim();
  const candidates = fromVar
    ? [fromVar]
    : [...(env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "opa")), join(opaCacheDir(env), "opa")];
  const searched: string[] = [];
  const wrong: string[] = [];
  for (const path of [...new Set(candidates)]) {
    searched.push(path);
    const unusable = await executableProblem(path);
    if (unusable) {
      // Only an explicit path deserves a word on why it failed; PATH entries without opa are normal.
      if (fromVar) wrong.push(`${path} (IMAGEPOLICY_LAB_OPA) ${unusable}`);
      continue;
    }
    const r = await tryRun(path, ["version"], { timeoutMs: 10_000, ...(signal ? { signal } : {}) });
    const version = parseOpaVersion(r.stdout);
    if (!r.ok || !version) {
      wrong.push(`${path} did not answer 'opa version' (${(r.spawnError ?? r.stderr.trim().split("\n").pop()) || `exit ${r.exitCode}`})`);
      continue;
    }
    if (`v${version}` !== OPA_VERSION) {
      wrong.push(`${path} is OPA ${version}, not ${OPA_VERSION.slice(1)}`);
      continue;
    }
    return { path, searched };
  }
  const where = fromVar ? "IMAGEPOLICY_LAB_OPA" : `PATH and ${opaCacheDir(env)}`;
  return { searched, problem: wrong.length ? wrong.join("; ") : `no opa ${OPA_VERSION} found (looked in ${where})` };
}

export interface EnsureOpaOptions {
  /** Environment to read (OPA_ENV) and to build with. Default process.env. */
  env?: Env;
  logger?: Logger;
  /** Progress of a build (a cold one takes a few minutes on 2 cores; warm about 70 s). */
  progress?: Progress;
  signal?: AbortSignal;
  /** How long to wait for another process's build; default the lock's 45 min. */
  lockTimeoutMs?: number;
}

/**
 * Returns the path of a working opa OPA_VERSION: findOpa's, or one built into opaCacheDir() with
 * `go install` (CGO_ENABLED=0, -trimpath, -s -w) under a cross-process lock, so concurrent callers
 * (test workers, two labs) build once. Throws LabError saying what was searched and how to get one
 * when nothing is found and building is impossible (no Go, IMAGEPOLICY_LAB_NO_BUILD, a wrong
 * IMAGEPOLICY_LAB_OPA) or fails.
 */
export async function ensureOpa(o: EnsureOpaOptions = {}): Promise<string> {
  const env = o.env ?? process.env;
  const logger = o.logger ?? silentLogger;
  const found = await findOpa(env, o.signal);
  if (found.path !== undefined) {
    logger.debug(`opa ${OPA_VERSION}: ${found.path}`);
    return found.path;
  }
  // An explicit path that is wrong is the user's to fix; building another copy would hide the mistake.
  if (env.IMAGEPOLICY_LAB_OPA?.trim()) throw new LabError(`opa ${OPA_VERSION}: ${found.problem}; unset IMAGEPOLICY_LAB_OPA to let the lab build it`);
  const cannot = (why: string) =>
    new LabError(`opa ${OPA_VERSION} is not installed (${found.problem}) and cannot be built: ${why}; install it with '${opaInstallCommand(env)}' or point IMAGEPOLICY_LAB_OPA at one`);
  if (readEnvFlag(env, "IMAGEPOLICY_LAB_NO_BUILD")) throw cannot("IMAGEPOLICY_LAB_NO_BUILD is set");
  const go = await probeGo(env, o.signal);
  if ("problem" in go) throw cannot(`${go.problem} (OPA ${OPA_VERSION} needs Go 1.25 or later)`);

  const dir = opaCacheDir(env);
  const tools = join(dir, "..");
  let waitTask: ProgressTask | undefined;
  const lock = await acquireLock(`${dir}.lock`, {
    purpose: `building opa ${OPA_VERSION}`,
    ...(o.lockTimeoutMs !== undefined ? { timeoutMs: o.lockTimeoutMs } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onWait(holder, waitedMs) {
      waitTask ??= o.progress?.start(`waiting for another process to finish building opa ${OPA_VERSION}`);
      waitTask?.update(`${holder ? `pid ${holder.pid}` : "unknown holder"} · ${Math.round(waitedMs / 1000)}s`);
    },
  });
  try {
    waitTask?.succeed();
    if (lock.waited) {
      const again = await findOpa({ ...env, PATH: "" }, o.signal);
      if (again.path !== undefined) return again.path;
    }
    // Build aside, check, then rename into place: a reader sees the old state or a verified binary.
    await mkdir(tools, { recursive: true });
    const tmp = await mkdtemp(join(tools, `.tmp-opa-${OPA_VERSION}-`));
    try {
      await goInstall(
        { label: `opa ${OPA_VERSION}`, ldflags: "-s -w", packages: [`${OPA_MODULE}@${OPA_VERSION}`] },
        { env, workRoot: cacheRoot(env), outDir: tmp, logger, ...(o.progress ? { progress: o.progress } : {}), ...(o.signal ? { signal: o.signal } : {}) },
      );
      const built = await findOpa({ IMAGEPOLICY_LAB_OPA: join(tmp, "opa") }, o.signal);
      if (built.path === undefined) throw new LabError(`built opa ${OPA_VERSION}, but it does not answer as expected: ${built.problem}`);
      await mkdir(dir, { recursive: true });
      await rename(built.path, join(dir, "opa"));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    throw new LabError(`failed to build opa ${OPA_VERSION} (${opaInstallCommand(env)})`, { cause: err });
  } finally {
    await lock.release();
  }
  logger.info(`built opa ${OPA_VERSION} into ${dir}`);
  return join(dir, "opa");
}
