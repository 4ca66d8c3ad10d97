// Builds the control-plane binaries from the official Go modules when no release download is
// possible. kube-apiserver and kube-controller-manager come from k8s.io/kubernetes, whose go.mod
// replaces its staging modules (k8s.io/api, …) with ./staging paths that do not exist in the module
// zip; a small main module pins them to their published v0.<minor>.<patch> tags instead, generated
// from kubernetes' own go.mod. etcd comes from go.etcd.io/etcd/server/v3, whose root is the etcd main
// package. Flags follow the official builds: static (CGO_ENABLED=0), -trimpath, -s -w, the version
// variables hack/lib/version.sh sets, and the release tags plus `providerless`.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { parse as parseYaml } from "yaml";
import { CommandError, LabError } from "../util/errors.ts";
import { task, type Logger, type Progress, type ProgressTask } from "../util/logger.ts";
import { probeVersion } from "./binary-check.ts";
import type { BinaryName, Env } from "./env.ts";
import type { K8sVersionInfo } from "./versions.ts";

export const K8S_MODULE = "k8s.io/kubernetes";
export const ETCD_MODULE = "go.etcd.io/etcd/server/v3";

/**
 * Build tags: what hack/lib/golang.sh uses for release builds (selinux, notest, grpcnotrace) plus
 * providerless, which leaves the legacy in-tree cloud providers out of kube-controller-manager.
 */
export const K8S_BUILD_TAGS = "providerless,selinux,notest,grpcnotrace";

/** Commands of k8s.io/kubernetes the lab builds: the local control plane's two, and the rest a kind node needs. */
export type K8sCommand = Exclude<BinaryName, "etcd"> | "kube-scheduler" | "kube-proxy" | "kubeadm" | "kubelet" | "kubectl";

const K8S_COMMANDS: Readonly<Record<K8sCommand, string>> = Object.freeze({
  "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
  "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
  "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
  "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
  kubeadm: "k8s.io/kubernetes/cmd/kubeadm",
  kubelet: "k8s.io/kubernetes/cmd/kubelet",
  kubectl: "k8s.io/kubernetes/cmd/kubectl",
});

function isControlPlaneBinary(name: K8sCommand): name is Exclude<BinaryName, "etcd"> {
  return name === "kube-apiserver" || name === "kube-controller-manager";
}

// ---------------------------------------------------------------------------------------------
// go.mod generation (pure, unit-tested with fixture text)

interface GoModDirective {
  verb: string;
  args: string;
}

/** The directives of a go.mod, with blocks flattened and comments dropped. */
export function parseGoMod(text: string): GoModDirective[] {
  const out: GoModDirective[] = [];
  let block: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    if (!line) continue;
    if (block) {
      if (line === ")") block = undefined;
      else out.push({ verb: block, args: line });
      continue;
    }
    const open = /^(\w+)\s*\($/.exec(line);
    if (open) {
      block = open[1];
      continue;
    }
    const single = /^(\w+)\s+(.+)$/.exec(line);
    if (single) out.push({ verb: single[1] ?? "", args: single[2] ?? "" });
  }
  return out;
}

interface Replace {
  /** Module path on the left, without version. */
  path: string;
  /** Right side verbatim. */
  target: string;
}

function replacesOf(directives: GoModDirective[]): Replace[] {
  return directives
    .filter((d) => d.verb === "replace")
    .map((d) => {
      const [left = "", right = ""] = d.args.split("=>").map((s) => s.trim());
      return { path: left.split(/\s+/)[0] ?? "", target: right };
    });
}

function header(directives: GoModDirective[], what: string): string[] {
  const go = directives.find((d) => d.verb === "go")?.args;
  if (!go) throw new LabError(`failed to generate the build go.mod: ${what}'s go.mod has no go directive`);
  const godebug = directives.filter((d) => d.verb === "godebug").map((d) => `godebug ${d.args}`);
  // The main module decides the language version and GODEBUG defaults; copy the upstream ones so
  // the binaries behave as the upstream build would.
  return [`go ${go}`, ...(godebug.length ? ["", ...godebug] : [])];
}

/**
 * go.mod of the main module that builds Kubernetes `k8sVersion` ("1.36.1") from its module, given
 * the text of k8s.io/kubernetes' own go.mod: every `./staging/...` replace becomes a replace to the
 * published staging module at v0.<minor>.<patch>; replaces to other module versions are kept.
 */
export function kubernetesBuildGoMod(k8sGoMod: string, k8sVersion: string): string {
  const directives = parseGoMod(k8sGoMod);
  const stagingVersion = `v${k8sVersion.replace(/^v?1\./, "0.")}`;
  const lines: string[] = [];
  for (const r of replacesOf(directives)) {
    if (r.target.startsWith("./staging/")) lines.push(`\t${r.path} => ${r.path} ${stagingVersion}`);
    else if (r.target.startsWith(".") || r.target.startsWith("/")) {
      throw new LabError(`failed to generate the build go.mod: ${K8S_MODULE} replaces ${r.path} with local path ${r.target}, which the module zip does not carry`);
    } else lines.push(`\t${r.path} => ${r.target}`);
  }
  if (lines.length === 0) throw new LabError(`failed to generate the build go.mod: ${K8S_MODULE}'s go.mod has no ./staging replaces (not a Kubernetes go.mod?)`);
  return [
    `// Generated by imagepolicy-lab from ${K8S_MODULE}@v${k8sVersion}'s go.mod; rewritten on every build.`,
    `// Its ./staging replaces point at the published staging modules (${stagingVersion}).`,
    "module imagepolicy-lab.local/kubernetes-build",
    "",
    ...header(directives, K8S_MODULE),
    "",
    `require ${K8S_MODULE} v${k8sVersion}`,
    "",
    "replace (",
    ...lines,
    ")",
    "",
  ].join("\n");
}

/**
 * go.mod of the main module that builds etcd `etcdVersion` ("3.6.8"), given the text of
 * go.etcd.io/etcd/server/v3's go.mod. etcd's repo replaces its sibling modules (api, client, pkg)
 * with ../ paths; the same tag of each sibling is the same code, so they are required at that tag.
 * `./FORBIDDEN_DEPENDENCY` replaces only guard against bad imports and are dropped.
 */
export function etcdBuildGoMod(etcdServerGoMod: string, etcdVersion: string): string {
  const directives = parseGoMod(etcdServerGoMod);
  const siblings = replacesOf(directives)
    .filter((r) => r.target.startsWith("../"))
    .map((r) => `\t${r.path} v${etcdVersion}`);
  return [
    `// Generated by imagepolicy-lab from ${ETCD_MODULE}@v${etcdVersion}'s go.mod; rewritten on every build.`,
    "module imagepolicy-lab.local/etcd-build",
    "",
    ...header(directives, ETCD_MODULE),
    "",
    "require (",
    `\t${ETCD_MODULE} v${etcdVersion}`,
    ...siblings,
    ")",
    "",
  ].join("\n");
}

/** Keeps the command packages in go.mod through `go mod tidy` (the usual tools.go idiom). */
export function toolsGo(packages: string[]): string {
  return ["//go:build tools", "", "package tools", "", "import (", ...packages.map((p) => `\t_ "${p}"`), ")", ""].join("\n");
}

/** -ldflags for Kubernetes binaries: the variables hack/lib/version.sh sets, plus -s -w. */
export function kubernetesLdflags(k8sVersion: string, meta: { gitCommit?: string; buildDate?: string } = {}): string {
  const [major = "", minor = ""] = k8sVersion.split(".");
  const values: Record<string, string> = {
    gitVersion: `v${k8sVersion}`,
    gitMajor: major,
    gitMinor: minor,
    // What version.sh reports for a build from an exported tree rather than a git checkout.
    gitTreeState: "archive",
    gitCommit: meta.gitCommit ?? "",
    ...(meta.buildDate ? { buildDate: meta.buildDate } : {}),
  };
  const flags = ["k8s.io/client-go/pkg/version", "k8s.io/component-base/version"].flatMap((pkg) =>
    Object.entries(values).map(([k, v]) => `-X ${pkg}.${k}=${v}`),
  );
  return [...flags, "-s", "-w"].join(" ");
}

/** -ldflags for etcd: the Git SHA it prints with --version, plus -s -w. */
export function etcdLdflags(gitSha: string): string {
  return `-X go.etcd.io/etcd/api/v3/version.GitSHA=${gitSha} -s -w`;
}

/** Reads the etcd version Kubernetes pins from its build/dependencies.yaml text. */
export function etcdVersionFromDependencies(yamlText: string): string | undefined {
  const doc = parseYaml(yamlText) as { dependencies?: Array<{ name?: string; version?: unknown }> } | null;
  const v = doc?.dependencies?.find((d) => d.name === "etcd")?.version;
  return v === undefined ? undefined : String(v);
}

// ---------------------------------------------------------------------------------------------
// Running go

export interface GoContext {
  /** Environment for go (PATH, HOME, GOPROXY, …); CGO_ENABLED and GOWORK are set on top. */
  env: Env;
  /** Cache root; work modules go under `<root>/build/`. */
  workRoot: string;
  /** Where finished binaries are written (a temp dir inside the cache root). */
  outDir: string;
  progress?: Progress;
  logger: Logger;
  signal?: AbortSignal;
  /** Build with cgo (default off: static binaries). */
  cgo?: boolean;
}

export interface GoToolchain {
  /** e.g. "go1.26.8". */
  version: string;
}

/** Finds `go` on the PATH of `env`; returns why not when it cannot. */
export async function probeGo(env: Env, signal?: AbortSignal): Promise<GoToolchain | { problem: string }> {
  const r = await execa("go", ["env", "GOVERSION"], {
    env: goEnv(env),
    extendEnv: false,
    reject: false,
    all: true,
    stdin: "ignore",
    timeout: 30_000,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  if (r.failed) {
    if ((r as { code?: string }).code === "ENOENT") return { problem: "go not found on PATH" };
    return { problem: `\`go env GOVERSION\` failed: ${(r.all ?? r.shortMessage).trim().split("\n").slice(-3).join(" ")}` };
  }
  return { version: r.stdout.trim() };
}

function goEnv(env: Env, cgo = false): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  // Static binaries like the official release ones (unless a build asks for cgo); and never let a
  // go.work above the cache join in.
  return { ...out, CGO_ENABLED: cgo ? "1" : "0", GOWORK: "off" };
}

/** Runs go; streams output lines to `onLine`, throws CommandError with the output on failure. */
async function runGo(args: string[], cwd: string, ctx: GoContext, what: string, onLine?: (line: string) => void): Promise<string> {
  const sub = execa("go", args, {
    cwd,
    env: goEnv(ctx.env, ctx.cgo),
    extendEnv: false,
    reject: false,
    all: true,
    stdin: "ignore",
    forceKillAfterDelay: 5_000,
    ...(ctx.signal ? { cancelSignal: ctx.signal } : {}),
  });
  if (onLine) {
    let rest = "";
    sub.stderr?.on("data", (chunk: Buffer) => {
      const text = rest + chunk.toString("utf8");
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) if (l.trim()) onLine(l.trim());
    });
  }
  const r = await sub;
  if (r.failed) {
    ctx.signal?.throwIfAborted();
    throw new CommandError(
      ["go", ...args],
      r.exitCode ?? null,
      r.signal ?? null,
      r.all ?? "",
      `failed to ${what}: \`go ${args.join(" ")}\` ${r.exitCode !== undefined ? `exited with code ${r.exitCode}` : r.shortMessage}`,
    );
  }
  return r.stdout;
}

/** Keeps a progress line alive while a long go command runs: a status plus elapsed time each second. */
function heartbeat(t: ProgressTask, status: () => string): () => void {
  const started = performance.now();
  const tick = () => t.update(`${status()} · ${formatElapsed(performance.now() - started)}`);
  tick();
  const timer = setInterval(tick, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

interface DownloadedModule {
  dir: string;
  goMod: string;
  /** Commit time of the tag, for a reproducible build date. */
  time?: string;
  /** Commit hash, when the proxy reports the origin. */
  commit?: string;
}

export async function downloadModule(mod: string, version: string, cwd: string, ctx: GoContext): Promise<DownloadedModule> {
  return task(ctx.progress, `fetching Go module ${mod}@v${version}`, async (t) => {
    const stop = heartbeat(t, () => "go mod download");
    try {
      const out = await runGo(["mod", "download", "-json", `${mod}@v${version}`], cwd, ctx, `download ${mod}@v${version}`);
      const info = JSON.parse(out) as { Dir?: string; GoMod?: string; Info?: string; Error?: string };
      if (info.Error || !info.Dir || !info.GoMod) throw new LabError(`failed to download ${mod}@v${version}: ${info.Error ?? "go reported no module directory"}`);
      let time: string | undefined;
      let commit: string | undefined;
      if (info.Info) {
        const meta = JSON.parse(await readFile(info.Info, "utf8")) as { Time?: string; Origin?: { Hash?: string } };
        time = meta.Time?.replace(/\.\d+Z$/, "Z");
        commit = meta.Origin?.Hash;
      }
      return { dir: info.Dir, goMod: await readFile(info.GoMod, "utf8"), ...(time ? { time } : {}), ...(commit ? { commit } : {}) };
    } finally {
      stop();
    }
  });
}

async function tidy(workDir: string, label: string, ctx: GoContext): Promise<void> {
  await task(ctx.progress, `resolving dependencies for ${label}`, async (t) => {
    let downloaded = 0;
    const stop = heartbeat(t, () => `go mod tidy · ${downloaded} modules downloaded`);
    try {
      // -e: a dependency's test-only import that the proxy lacks must not stop a build that never needs it.
      await runGo(["mod", "tidy", "-e"], workDir, ctx, `resolve dependencies for ${label}`, (line) => {
        if (line.startsWith("go: downloading")) downloaded++;
      });
    } finally {
      stop();
    }
  });
}

async function compile(args: string[], workDir: string, label: string, mainPackages: string[], ctx: GoContext, verb: "build" | "install" = "build"): Promise<void> {
  await task(ctx.progress, `compiling ${label}`, async (t) => {
    let compiled = 0;
    let last = "";
    const stop = heartbeat(t, () =>
      mainPackages.includes(last) ? `${compiled} packages compiled, linking` : `${compiled} packages compiled${last ? ` (${last})` : ""}`,
    );
    try {
      // -v prints each package as it is compiled (cached ones are skipped): a cheap progress signal.
      await runGo([verb, "-v", ...args], workDir, ctx, `compile ${label}`, (line) => {
        if (/^[\w.~-]+(\/[\w.~+-]+)*$/.test(line)) {
          compiled++;
          last = line;
        }
      });
    } finally {
      stop();
    }
  });
}

export interface BuiltBinary {
  name: BinaryName;
  path: string;
  /** First line of `--version`. */
  versionOutput: string;
  origin: string;
}

/**
 * Builds Kubernetes commands for `info.version` into `ctx.outDir`. The control-plane binaries are
 * verified here (`--version`); the node commands are checked by their caller (node-image/parts.ts).
 */
export async function buildKubernetes(info: K8sVersionInfo, names: K8sCommand[], go: GoToolchain, ctx: GoContext): Promise<BuiltBinary[]> {
  const workDir = join(ctx.workRoot, "build", `kubernetes-v${info.version}`);
  await mkdir(workDir, { recursive: true });
  const mod = await downloadModule(K8S_MODULE, info.version, join(ctx.workRoot, "build"), ctx);
  // The table's etcd version should be the one Kubernetes pins; say so loudly if they drift.
  try {
    const pinned = etcdVersionFromDependencies(await readFile(join(mod.dir, "build", "dependencies.yaml"), "utf8"));
    if (pinned && pinned !== info.etcdVersion) {
      ctx.logger.warn(`Kubernetes ${info.version} pins etcd ${pinned} (build/dependencies.yaml), but the version table says ${info.etcdVersion}`);
    }
  } catch {
    ctx.logger.debug(`no build/dependencies.yaml in ${mod.dir}; etcd version not cross-checked`);
  }
  const packages = names.map((n) => K8S_COMMANDS[n]);
  await writeFile(join(workDir, "go.mod"), kubernetesBuildGoMod(mod.goMod, info.version));
  await writeFile(join(workDir, "tools.go"), toolsGo(Object.values(K8S_COMMANDS)));
  await tidy(workDir, `Kubernetes v${info.version}`, ctx);
  const ldflags = kubernetesLdflags(info.version, { ...(mod.commit ? { gitCommit: mod.commit } : {}), ...(mod.time ? { buildDate: mod.time } : {}) });
  await compile(
    ["-mod=mod", "-trimpath", "-tags", K8S_BUILD_TAGS, "-ldflags", ldflags, "-o", `${ctx.outDir}/`, ...packages],
    workDir,
    names.join(", "),
    packages,
    ctx,
  );
  const origin = `built from ${K8S_MODULE}@v${info.version} with ${go.version} (tags ${K8S_BUILD_TAGS})`;
  return verifyBuilt(names.filter(isControlPlaneBinary), info.version, origin, ctx);
}

export interface GoInstallSpec {
  /** Human label for progress lines, e.g. "containerd v2.3.1". */
  label: string;
  /** Main packages with their module version, e.g. "github.com/opencontainers/runc@v1.4.2". */
  packages: string[];
  tags?: string;
  ldflags?: string;
  /** cgo on (runc needs it for nsenter and libseccomp); default off, for static binaries. */
  cgo?: boolean;
}

/**
 * `go install pkg@version` into `ctx.outDir`: for modules that build as published (no local replaces),
 * e.g. containerd, runc, the CNI plugins, crictl, CoreDNS and kind.
 */
export async function goInstall(spec: GoInstallSpec, ctx: GoContext): Promise<void> {
  const args = ["-trimpath", ...(spec.tags ? ["-tags", spec.tags] : []), ...(spec.ldflags ? ["-ldflags", spec.ldflags] : []), ...spec.packages];
  const mainPackages = spec.packages.map((p) => p.split("@")[0]!);
  await compile(args, ctx.workRoot, spec.label, mainPackages, { ...ctx, env: { ...ctx.env, GOBIN: ctx.outDir }, cgo: spec.cgo ?? false }, "install");
}

/** Builds etcd `info.etcdVersion` into `ctx.outDir/etcd`. */
export async function buildEtcd(info: K8sVersionInfo, go: GoToolchain, ctx: GoContext): Promise<BuiltBinary[]> {
  const workDir = join(ctx.workRoot, "build", `etcd-v${info.etcdVersion}`);
  await mkdir(workDir, { recursive: true });
  const mod = await downloadModule(ETCD_MODULE, info.etcdVersion, join(ctx.workRoot, "build"), ctx);
  await writeFile(join(workDir, "go.mod"), etcdBuildGoMod(mod.goMod, info.etcdVersion));
  await writeFile(join(workDir, "tools.go"), toolsGo([ETCD_MODULE]));
  await tidy(workDir, `etcd v${info.etcdVersion}`, ctx);
  await compile(
    // -o names the file: the package path ends in /v3, which go would use as the binary's name.
    ["-mod=mod", "-trimpath", "-ldflags", etcdLdflags(mod.commit?.slice(0, 10) ?? `v${info.etcdVersion}`), "-o", join(ctx.outDir, "etcd"), ETCD_MODULE],
    workDir,
    `etcd v${info.etcdVersion}`,
    [ETCD_MODULE],
    ctx,
  );
  return verifyBuilt(["etcd"], info.etcdVersion, `built from ${ETCD_MODULE}@v${info.etcdVersion} with ${go.version}`, ctx);
}

/** A fresh build must report exactly the release it was built for; anything else is a failed build. */
async function verifyBuilt(names: BinaryName[], expected: string, origin: string, ctx: GoContext): Promise<BuiltBinary[]> {
  const out: BuiltBinary[] = [];
  for (const name of names) {
    const path = join(ctx.outDir, name);
    const probe = await probeVersion(name, path, ctx.signal ? { signal: ctx.signal } : {});
    if (probe.problem || probe.version !== expected) {
      throw new LabError(`failed to verify the built ${name}: ${probe.problem ?? `it reports ${probe.version}, expected ${expected}`}`);
    }
    out.push({ name, path, versionOutput: probe.firstLine, origin });
  }
  return out;
}
