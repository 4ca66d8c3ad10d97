// The outside programs the kind provider drives (docker, kind) and where it finds them. Every call
// goes through execa with `reject: false`, so a failure becomes a CommandError that keeps the argv
// and output for the CLI, and preflight can turn it into a reason instead of a stack trace.
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { execa, type Options } from "execa";
import { cacheRoot as projectCacheRoot } from "../../binaries/cache.ts";
import { goInstall, probeGo } from "../../binaries/go-build.ts";
import { CommandError, LabError } from "../../util/errors.ts";
import { silentLogger, type Logger, type Progress } from "../../util/logger.ts";

/**
 * Environment variables the kind provider reads. Precedence everywhere: explicit option, then
 * variable, then default. docs/kind.md shows this table.
 */
export const KIND_ENV = Object.freeze({
  IMAGEPOLICY_LAB_KIND: "Path of the kind binary. Default: `kind` on PATH, then <cache>/tools/kind-<release>/kind.",
  IMAGEPOLICY_LAB_KIND_NODE_IMAGE: "Node image to boot instead of the pinned kindest/node@sha256 for the Kubernetes version.",
  IMAGEPOLICY_LAB_CACHE: "Cache root (shared with the binaries); kind goes to <root>/tools/kind-<release>/. Default ${XDG_CACHE_HOME:-~/.cache}/imagepolicy-lab.",
  KIND_EXPERIMENTAL_DOCKER_NETWORK: "kind's own variable: the docker network the nodes join (default `kind`); the stub joins the same one.",
  IMAGEPOLICY_LAB_STUB_IMAGE_VARIANT: "Stub image: auto (default: `default` when node:24-bookworm-slim is present locally, else `offline`), default (FROM the Node base image, pulled if needed) or offline (FROM scratch with the project's Node binary).",
  TESTCONTAINERS_RYUK_DISABLED: "testcontainers' variable. Set to true by the provider only when the Ryuk image is not present locally; our own teardown then removes the stub container.",
  IMAGEPOLICY_LAB_DOCKER_TESTS: "Tests only: 1 runs the docker-backed e2e tests, 0 skips them. Default: on when CI=true or a Docker engine answers.",
  IMAGEPOLICY_LAB_KIND_TESTS: "Tests only: `required` makes a kind test that cannot run here (no Docker, no node image, …) fail instead of skip. .ci/run sets it.",
  IMAGEPOLICY_LAB_FIX_PRIVILEGED: "1/true: when privileged containers fail with `unable to apply caps`, install the docker runtime wrapper (changes /etc/docker/daemon.json; undo: `imagepolicy-lab docker-runtime uninstall`). Default: only say so.",
  IMAGEPOLICY_LAB_DEBIAN_MIRROR: "Debian mirror debootstrap uses for the node image's rootfs. Default http://deb.debian.org/debian.",
} as const);

/** kind release the provider expects when the version table names none. Keep in sync with binaries/versions.ts. */
export const DEFAULT_KIND_RELEASE = "v0.32.0";

export type Env = Readonly<Record<string, string | undefined>>;

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Called with each output line (stdout and stderr) as it arrives, e.g. kind's progress lines. */
  onLine?: (line: string) => void;
}

export interface RunResult {
  ok: boolean;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  argv: string[];
}

/** Runs a program and never throws; `ok` says whether it exited 0. */
export async function tryRun(command: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const argv = [command, ...args];
  const lines = o.onLine
    ? function* (line: unknown) {
        o.onLine!(String(line));
        yield line;
      }
    : undefined;
  const options: Options = {
    reject: false,
    input: o.input,
    env: o.env,
    cancelSignal: o.signal,
    timeout: o.timeoutMs,
    stripFinalNewline: true,
    ...(lines ? { stdout: [lines, "pipe"], stderr: [lines, "pipe"] } : {}),
  };
  const sub = execa(command, args, options);
  const r = await sub;
  const stdout = typeof r.stdout === "string" ? r.stdout : Array.isArray(r.stdout) ? r.stdout.join("\n") : String(r.stdout ?? "");
  const stderr = typeof r.stderr === "string" ? r.stderr : Array.isArray(r.stderr) ? r.stderr.join("\n") : String(r.stderr ?? "");
  const code = (r as { code?: string }).code;
  const spawnError = code === "ENOENT" || code === "EACCES" ? `${command}: ${code === "ENOENT" ? "not found" : "permission denied"}` : undefined;
  return { ok: !r.failed, exitCode: r.exitCode, stdout, stderr, spawnError, argv };
}

/** Runs a program; throws CommandError (argv, exit code, output) unless it exits 0. */
export async function run(command: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  const r = await tryRun(command, args, o);
  if (!r.ok) throw commandError(r, `command failed: ${r.argv.join(" ")}`);
  return r;
}

export function commandError(r: RunResult, shortMessage: string): CommandError {
  return new CommandError(r.argv, r.exitCode ?? null, null, r.spawnError ?? [r.stdout, r.stderr].filter(Boolean).join("\n"), shortMessage);
}

/** The project's one cache root (binaries/cache.ts): kind and the Kubernetes binaries live side by side. */
export function cacheRoot(env: Env = process.env): string {
  return projectCacheRoot(env);
}

/** Where kindInstallCommand() puts the kind binary of `release` (and where findKind looks last). */
export function kindCacheDir(release: string, env: Env = process.env): string {
  return join(cacheRoot(env), "tools", `kind-${release}`);
}

/** The command that installs kind into the cache (kind is a Go module, so the Go module proxy serves it). */
export function kindInstallCommand(release: string, env: Env = process.env): string {
  return `GOBIN=${kindCacheDir(release, env)} go install sigs.k8s.io/kind@${release}`;
}

export interface KindBinary {
  path: string;
  /** e.g. "v0.32.0" */
  version: string;
}

export type KindLookup = { found: KindBinary; searched: string[] } | { found?: undefined; searched: string[]; problem: string };

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a kind binary: `IMAGEPOLICY_LAB_KIND`, else `kind` on PATH, else the cache dir for `release`.
 * A binary of another release is reported, not used: a node image works only with the kind release it
 * was built for (kind-integration.md §2, §6).
 */
export async function findKind(release: string, env: Env = process.env, explicit?: string): Promise<KindLookup> {
  const candidates: string[] = [];
  const fromVar = explicit ?? env.IMAGEPOLICY_LAB_KIND?.trim();
  if (fromVar) candidates.push(fromVar);
  else {
    for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) candidates.push(join(dir, "kind"));
    candidates.push(join(kindCacheDir(release, env), "kind"));
  }
  const searched: string[] = [];
  const wrong: string[] = [];
  for (const path of [...new Set(candidates)]) {
    searched.push(path);
    if (!(await executable(path))) continue;
    const r = await tryRun(path, ["version"], { timeoutMs: 10_000 });
    const version = /kind (v\d+\.\d+\.\d+\S*)/.exec(r.stdout)?.[1];
    if (!r.ok || !version) {
      wrong.push(`${path} did not answer 'kind version' (${(r.spawnError ?? r.stderr) || `exit ${r.exitCode}`})`);
      continue;
    }
    if (version !== release) {
      wrong.push(`${path} is kind ${version}, not ${release}`);
      continue;
    }
    return { found: { path, version }, searched };
  }
  const problem = wrong.length ? wrong.join("; ") : `no kind binary found (looked in ${fromVar ? "IMAGEPOLICY_LAB_KIND" : "PATH and the cache"})`;
  return { searched, problem };
}

/**
 * Finds kind `release` (findKind), and builds it into the cache from its Go module when it is missing
 * (`go install sigs.k8s.io/kind@<release>`, about a minute on 2 cores), with progress.
 */
export async function ensureKind(release: string, o: { env?: Env; explicit?: string; logger?: Logger; progress?: Progress; signal?: AbortSignal } = {}): Promise<KindBinary> {
  const env = o.env ?? process.env;
  const found = await findKind(release, env, o.explicit);
  if (found.found) return found.found;
  // An explicit path that is wrong is the user's to fix; building another copy would hide the mistake.
  if (o.explicit ?? env.IMAGEPOLICY_LAB_KIND?.trim()) throw new LabError(`kind ${release}: ${found.problem}`);
  const go = await probeGo(env, o.signal);
  if ("problem" in go) throw new LabError(`kind ${release} is not installed (${found.problem}) and cannot be built: ${go.problem}; install it with '${kindInstallCommand(release, env)}'`);
  const dir = kindCacheDir(release, env);
  await goInstall(
    { label: `kind ${release}`, ldflags: "-s -w", packages: [`sigs.k8s.io/kind@${release}`] },
    { env, workRoot: cacheRoot(env), outDir: dir, logger: o.logger ?? silentLogger, ...(o.progress ? { progress: o.progress } : {}), ...(o.signal ? { signal: o.signal } : {}) },
  );
  const again = await findKind(release, { ...env, PATH: "" });
  if (!again.found) throw new LabError(`built kind ${release} into ${dir}, but it does not answer as expected: ${again.problem}`);
  return again.found;
}

export interface DockerStatus {
  cli: boolean;
  daemon: boolean;
  serverVersion?: string;
  /** "1" or "2" as docker reports it (kind nodes share the host's cgroup hierarchy). */
  cgroupVersion?: string;
  /** What failed, in docker's words. */
  error?: string;
}

/** Whether the docker CLI exists and its daemon answers `docker info`. */
export async function dockerStatus(): Promise<DockerStatus> {
  const r = await tryRun("docker", ["info", "--format", "{{.ServerVersion}} {{.CgroupVersion}}"], { timeoutMs: 20_000 });
  if (r.spawnError) return { cli: false, daemon: false, error: r.spawnError };
  const [serverVersion, cgroupVersion] = r.stdout.trim().split(/\s+/);
  if (!r.ok || !serverVersion) return { cli: true, daemon: false, error: (r.stderr || r.stdout).trim().split("\n").slice(-2).join(" ") };
  return { cli: true, daemon: true, serverVersion, ...(cgroupVersion ? { cgroupVersion } : {}) };
}

/** kind's own check (`docker inspect --type=image`): a ref that passes will not be pulled. */
export async function imagePresent(ref: string): Promise<boolean> {
  return (await tryRun("docker", ["inspect", "--type=image", ref], { timeoutMs: 20_000 })).ok;
}

/** `kindest/node:v1.36.1@sha256:…` → `kindest/node:v1.36.1`; undefined without a tag. */
export function tagOf(ref: string): string | undefined {
  const noDigest = ref.split("@")[0]!;
  return /:[^/]+$/.test(noDigest) ? noDigest : undefined;
}

/** The docker network kind nodes join: KIND_EXPERIMENTAL_DOCKER_NETWORK or `kind`. */
export function kindNetworkName(env: Env = process.env): string {
  return env.KIND_EXPERIMENTAL_DOCKER_NETWORK?.trim() || "kind";
}

/**
 * Creates the network the way kind does when it is missing (bridge, IP masquerade on; kind-integration.md §7).
 * Returns whether we created it, so teardown removes only a network of ours. A concurrent creator is
 * tolerated: "already exists" counts as not created by us.
 */
export async function ensureNetwork(name: string): Promise<{ created: boolean }> {
  if ((await tryRun("docker", ["network", "inspect", name])).ok) return { created: false };
  const r = await tryRun("docker", ["network", "create", "-d=bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=true", "--label", `${NETWORK_CREATED_BY_LABEL}=imagepolicy-lab`, name]);
  if (r.ok) return { created: true };
  if (/already exists/.test(r.stderr)) return { created: false };
  throw commandError(r, `failed to create docker network ${name}`);
}

/** The label ensureNetwork puts on a network it creates. */
export const NETWORK_CREATED_BY_LABEL = "imagepolicy-lab.dev/created-by";

/** Whether a network carries the label of one the lab created (any lab, not only the caller's). */
export async function networkCreatedByLab(name: string): Promise<boolean> {
  const r = await tryRun("docker", ["network", "inspect", "--format", `{{index .Labels "${NETWORK_CREATED_BY_LABEL}"}}`, name]);
  return r.ok && r.stdout.trim() === "imagepolicy-lab";
}

/** Removes a network; a missing one is fine. Fails while containers are still attached. */
export async function removeNetwork(name: string): Promise<void> {
  const r = await tryRun("docker", ["network", "rm", name]);
  if (!r.ok && !/not found|No such network/i.test(r.stderr)) throw commandError(r, `failed to remove docker network ${name}`);
}

/** Force-removes a container with its anonymous volumes; a missing one is fine. */
export async function removeContainer(idOrName: string): Promise<void> {
  const r = await tryRun("docker", ["rm", "-f", "-v", idOrName]);
  if (!r.ok && !/No such container/i.test(r.stderr)) throw commandError(r, `failed to remove container ${idOrName}`);
}

/** Names of containers attached to a network (kind nodes, our stub, anyone else's). */
export async function networkContainers(name: string): Promise<string[]> {
  const r = await tryRun("docker", ["network", "inspect", name, "--format", "{{range .Containers}}{{.Name}} {{end}}"]);
  return r.ok ? r.stdout.trim().split(/\s+/).filter(Boolean) : [];
}
