// Privileged containers on hosts that cannot grant every capability (kind-offline.md §1).
//
// kind runs every node with `docker run --privileged` and `docker exec --privileged`. Docker 20.10
// asks runc for every capability it knows, so on a host whose bounding set lacks one (here
// CAP_SYS_RESOURCE) every privileged container fails with "unable to apply caps". The fix is an OCI
// runtime wrapper (harness/go/cmd/runtime-wrapper) that trims the spec and execs runc, registered in
// /etc/docker/daemon.json as dockerd's default runtime. That changes the host's daemon for every
// container, so it happens only on request (`imagepolicy-lab docker-runtime install`, or
// `ensurePrivilegedContainers({ allowHostChange: true })`), always says what it changed, and
// `uninstallWrapper()` undoes it.
//
// dockerd reloads `runtimes` and `default-runtime` on SIGHUP (moby daemon/reload_unix.go,
// reloadPlatform), so no restart is needed and running containers keep running. One catch, measured
// on 20.10.24: a reload only applies keys that are present, so deleting the two keys leaves the
// wrapper active until dockerd restarts. Uninstall therefore first loads an explicit
// `"default-runtime": "runc"` and `"runtimes": {}` and only then writes the restored file.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { commandError, tryRun, type Env } from "../providers/kind/tools.ts";
import { OWN_GO_MODULE_DIR } from "../../go/module-dir.ts";
import { LabError } from "../util/errors.ts";
import { silentLogger, task, type Logger, type Progress } from "../util/logger.ts";
import { waitFor } from "../util/wait.ts";

/** The name the wrapper is registered under in daemon.json `runtimes`. */
export const RUNTIME_NAME = "imagepolicy-lab-runc";
/** Where the wrapper binary is installed; dockerd's containerd shims exec it by this path. */
export const WRAPPER_PATH = "/usr/local/libexec/imagepolicy-lab/runtime-wrapper";
/** dockerd's default configuration file (dockerd here runs without --config-file; see dockerdProcess). */
export const DAEMON_JSON = "/etc/docker/daemon.json";
/** The copy of daemon.json as it was before the first install. */
export const DAEMON_JSON_BACKUP = "/etc/docker/daemon.json.imagepolicy-lab.bak";
/** What install did, so uninstall can undo exactly that (see InstallRecord). */
export const INSTALL_RECORD = "/var/lib/imagepolicy-lab/docker-runtime.json";
/** The repository of the image each probe imports from an empty tar and removes again (its tag is per probe). */
export const PROBE_IMAGE = "imagepolicy-lab/privileged-probe";
/** A path that does not exist in the probe image: runc fails on it only after applying capabilities. */
export const PROBE_COMMAND = "/imagepolicy-lab-probe";
/** The command that undoes the host change; every message about the change names it. */
export const UNINSTALL_COMMAND = "imagepolicy-lab docker-runtime uninstall";

/** Environment variables this module reads. */
export const PRIVILEGED_ENV = Object.freeze({
  IMAGEPOLICY_LAB_FIX_PRIVILEGED:
    "1/true: ensurePrivilegedContainers may install the runtime wrapper (changes /etc/docker/daemon.json) when privileged containers fail with `unable to apply caps`. Same as allowHostChange: true.",
} as const);

/** Budget for dockerd to apply a reloaded daemon.json after SIGHUP. */
const RELOAD_TIMEOUT_MS = 30_000;
/** Budget for one docker command of the probe (import, run). */
const PROBE_STEP_TIMEOUT_MS = 60_000;
/** The first line `runtime-wrapper --imagepolicy-lab-version` prints starts with this. */
const WRAPPER_VERSION_PREFIX = "imagepolicy-lab runtime-wrapper ";
const LABEL = "imagepolicy-lab.dev/created-by=imagepolicy-lab";

// ---------------------------------------------------------------------------------------------
// Probe

/** What a privileged test container showed. */
export interface ProbeResult {
  /** A privileged container got past capability setup. */
  ok: boolean;
  /** It failed with exactly the missing-capability error that the runtime wrapper fixes. */
  needsWrapper: boolean;
  /** One line for humans: what happened, in docker's words when it failed. */
  detail: string;
}

/** docker's error lines without the usage hint. */
function dockerMessage(stderr: string, stdout = ""): string {
  const lines = `${stderr}\n${stdout}`
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^Run '.*--help' for more information$/.test(l));
  return lines.join(" ") || "(no output)";
}

/**
 * Classifies `docker run --privileged … PROBE_COMMAND`. runc 1.1 applies capabilities before it looks
 * up the command, so "no such file" for the probe's missing command proves capabilities were granted,
 * while "unable to apply caps" is the failure the wrapper fixes.
 */
export function classifyProbe(r: { ok: boolean; exitCode?: number | undefined; stderr: string; stdout?: string }): ProbeResult {
  const message = dockerMessage(r.stderr, r.stdout);
  if (r.ok) return { ok: true, needsWrapper: false, detail: "a privileged container ran" };
  if (/unable to apply caps/i.test(message)) {
    return { ok: false, needsWrapper: true, detail: `privileged containers fail on this host: ${message}` };
  }
  if (message.includes(PROBE_COMMAND) && /no such file or directory|executable file not found/i.test(message)) {
    return { ok: true, needsWrapper: false, detail: "privileged containers work (the probe got past capability setup)" };
  }
  return { ok: false, needsWrapper: false, detail: `docker run --privileged failed (exit ${r.exitCode ?? "?"}): ${message}` };
}

/**
 * Starts a privileged container and classifies the result. The image is imported from an empty tar
 * (no registry needed) and removed afterwards, also when the run fails.
 */
export async function probePrivileged(): Promise<ProbeResult> {
  // One tag per probe: two probes at once (two commands, two test workers) must not remove each other's image.
  const suffix = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const image = `${PROBE_IMAGE}:${suffix}`;
  const imported = await tryRun("docker", ["import", "--change", `LABEL ${LABEL}`, "-", image], {
    // An empty tar is just its 1024-byte end-of-archive block of zeros.
    input: "\0".repeat(1024),
    timeoutMs: PROBE_STEP_TIMEOUT_MS,
  });
  if (!imported.ok) {
    return { ok: false, needsWrapper: false, detail: `failed to create the probe image ${image}: ${imported.spawnError ?? dockerMessage(imported.stderr, imported.stdout)}` };
  }
  const name = `imagepolicy-lab-privileged-probe-${suffix}`;
  try {
    // --pull never: should the image vanish, fail here instead of asking Docker Hub.
    const r = await tryRun(
      "docker",
      ["run", "--rm", "--privileged", "--network", "none", "--pull", "never", "--name", name, "--label", LABEL, image, PROBE_COMMAND],
      { timeoutMs: PROBE_STEP_TIMEOUT_MS },
    );
    return r.spawnError ? { ok: false, needsWrapper: false, detail: r.spawnError } : classifyProbe(r);
  } finally {
    // --rm removes the container; a failed start can leave it behind, so remove it by name as well.
    await tryRun("docker", ["rm", "-f", name], { timeoutMs: PROBE_STEP_TIMEOUT_MS });
    await tryRun("docker", ["rmi", image], { timeoutMs: PROBE_STEP_TIMEOUT_MS });
  }
}

// ---------------------------------------------------------------------------------------------
// daemon.json (pure)

/** The parsed top-level object of daemon.json. */
export type DaemonConfig = Record<string, unknown>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses daemon.json text; an error names the file. */
export function parseDaemonConfig(text: string, file = DAEMON_JSON): DaemonConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LabError(`${file} is not valid JSON (${err instanceof Error ? err.message : String(err)}); fix or remove it first, dockerd cannot reload it either`, { cause: err });
  }
  if (!isPlainObject(value)) throw new LabError(`${file} must hold a JSON object, found ${Array.isArray(value) ? "an array" : typeof value}`);
  return value;
}

/** daemon.json as we write it: two-space indent, final newline. */
export function formatDaemonConfig(config: DaemonConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

/**
 * Adds the wrapper to `runtimes` and makes it `default-runtime`, keeping every other key. Refuses a
 * `default-runtime` that names another runtime (nvidia, runsc, …): the wrapper execs plain runc, so it
 * would silently replace that runtime.
 */
export function mergeDaemonConfig(config: DaemonConfig, wrapperPath = WRAPPER_PATH, file = DAEMON_JSON): { config: DaemonConfig; changed: boolean } {
  const runtimes = config.runtimes ?? {};
  if (!isPlainObject(runtimes)) throw new LabError(`${file}: runtimes: expected an object of runtime definitions, found ${JSON.stringify(config.runtimes)}`);
  const current = config["default-runtime"];
  if (current !== undefined && current !== "runc" && current !== RUNTIME_NAME) {
    throw new LabError(
      `${file}: default-runtime is ${JSON.stringify(current)}; the imagepolicy-lab wrapper runs plain runc and would replace it, so nothing was changed. Remove that setting first if runc is what you want`,
    );
  }
  const merged: DaemonConfig = { ...config, runtimes: { ...runtimes, [RUNTIME_NAME]: { path: wrapperPath } }, "default-runtime": RUNTIME_NAME };
  return { config: merged, changed: !isDeepStrictEqual(merged, config) };
}

/** Removes what mergeDaemonConfig added: our `runtimes` entry (and `runtimes` if that leaves it empty) and our `default-runtime`. */
export function unmergeDaemonConfig(config: DaemonConfig): { config: DaemonConfig; changed: boolean } {
  const out: DaemonConfig = { ...config };
  if (isPlainObject(out.runtimes) && RUNTIME_NAME in out.runtimes) {
    const { [RUNTIME_NAME]: _ours, ...rest } = out.runtimes;
    if (Object.keys(rest).length) out.runtimes = rest;
    else delete out.runtimes;
  }
  if (out["default-runtime"] === RUNTIME_NAME) delete out["default-runtime"];
  return { config: out, changed: !isDeepStrictEqual(out, config) };
}

/**
 * The config to load before writing `target` on uninstall: `target` with `default-runtime` and
 * `runtimes` spelled out, because dockerd keeps the live value of a key that is absent on reload.
 */
export function explicitRuntimeConfig(target: DaemonConfig | undefined): DaemonConfig {
  const t = target ?? {};
  return { ...t, "default-runtime": t["default-runtime"] ?? "runc", runtimes: t.runtimes ?? {} };
}

/** What install did to daemon.json, kept in INSTALL_RECORD. */
export interface InstallRecord {
  schemaVersion: 1;
  daemonJson: string;
  /**
   * What daemon.json was before the first install: a `backup` file, `absent` (there was none), or
   * `superseded` (the file was edited after an install, so restoring the backup would lose edits).
   */
  original: { kind: "backup"; path: string } | { kind: "absent" } | { kind: "superseded"; backupPath?: string };
  /** The exact text install last wrote: if daemon.json still holds it, nobody edited it since. */
  written: string;
  installedAt: string;
}

/** What uninstall will do with daemon.json. */
export type UninstallPlan =
  | { action: "restore-backup"; text: string; backupPath: string }
  | { action: "remove-file" }
  | { action: "write"; config: DaemonConfig; reason: string }
  | { action: "keep"; reason: string };

/**
 * Decides how to undo install: restore the backup, or remove a file we created, only when daemon.json
 * is still exactly what install wrote; otherwise remove just our two keys and keep everything else.
 */
export function planUninstall(input: { current: string | undefined; record: InstallRecord | undefined; backupText: string | undefined; file?: string }): UninstallPlan {
  const { current, record, backupText } = input;
  const file = input.file ?? DAEMON_JSON;
  if (record && current !== undefined && current === record.written) {
    if (record.original.kind === "backup" && backupText !== undefined) return { action: "restore-backup", text: backupText, backupPath: record.original.path };
    if (record.original.kind === "absent") return { action: "remove-file" };
  }
  if (current === undefined) return { action: "keep", reason: `${file} does not exist` };
  const { config, changed } = unmergeDaemonConfig(parseDaemonConfig(current, file));
  if (!changed) return { action: "keep", reason: `${file} does not mention ${RUNTIME_NAME}` };
  const why = !record
    ? "no install record"
    : current !== record.written
      ? "it was edited after install"
      : record.original.kind === "backup"
        ? `the backup ${record.original.path} is missing`
        : "it was edited between two installs";
  return { action: "write", config, reason: `removed only ${RUNTIME_NAME}'s two keys (${why})` };
}

// ---------------------------------------------------------------------------------------------
// Host facts

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readRecord(): Promise<InstallRecord | undefined> {
  const text = await readText(INSTALL_RECORD);
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as InstallRecord;
    if (r.schemaVersion === 1 && typeof r.written === "string" && r.original) return r;
  } catch {
    // fall through: an unreadable record means uninstall falls back to removing our keys only
  }
  return undefined;
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new LabError(`${what} needs root (it writes ${DAEMON_JSON} and ${WRAPPER_PATH} and signals dockerd): run it as root, e.g. with sudo`);
}

/**
 * The running dockerd's pid. Refuses when there is none, more than one, or it was started with flags
 * that make daemon.json edits wrong (another --config-file) or fatal (a flag set in both places
 * makes dockerd refuse the file).
 */
async function dockerdProcess(): Promise<number> {
  const r = await tryRun("pgrep", ["-x", "dockerd"], { timeoutMs: 10_000 });
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  if (r.spawnError) throw new LabError(`cannot look for dockerd: ${r.spawnError} (pgrep is in Debian's procps)`);
  if (!pids.length) throw new LabError("dockerd is not running: start it first (bash harness/src/providers/kind/ensure-docker.sh, or systemctl start docker)");
  if (pids.length > 1) throw new LabError(`more than one dockerd is running (pids ${pids.join(", ")}); cannot tell which one reads ${DAEMON_JSON}`);
  const pid = pids[0]!;
  const args = ((await readText(`/proc/${pid}/cmdline`)) ?? "").split("\0").filter(Boolean);
  const configFile = flagValue(args, "config-file");
  if (configFile !== undefined && configFile !== DAEMON_JSON) {
    throw new LabError(`dockerd (pid ${pid}) reads ${configFile}, not ${DAEMON_JSON}; add {"runtimes": {"${RUNTIME_NAME}": {"path": "${WRAPPER_PATH}"}}, "default-runtime": "${RUNTIME_NAME}"} there by hand, or restart dockerd without --config-file`);
  }
  const conflicting = ["default-runtime", "add-runtime"].filter((f) => args.some((a) => a.replace(/^--?/, "").split("=")[0] === f));
  if (conflicting.length) {
    throw new LabError(`dockerd (pid ${pid}) was started with ${conflicting.map((f) => `--${f}`).join(" and ")}; dockerd refuses a daemon.json that sets the same option, so nothing was changed`);
  }
  return pid;
}

function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.replace(/^--?/, "");
    if (a === name) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

interface LiveRuntime {
  defaultRuntime: string;
  runtimes: Record<string, { path?: string }>;
}

/** What the running dockerd uses now (not what daemon.json says). */
async function liveRuntime(): Promise<LiveRuntime> {
  const r = await tryRun("docker", ["info", "--format", "{{.DefaultRuntime}}\t{{json .Runtimes}}"], { timeoutMs: 20_000 });
  if (!r.ok) throw commandError(r, "failed to ask dockerd for its runtimes");
  const [defaultRuntime = "", runtimesJson = "{}"] = r.stdout.trim().split("\t");
  return { defaultRuntime, runtimes: JSON.parse(runtimesJson) as LiveRuntime["runtimes"] };
}

/** SIGHUPs dockerd and waits until `accept` holds for what it reports. */
async function reloadDockerd(pid: number, target: string, accept: (live: LiveRuntime) => boolean): Promise<LiveRuntime> {
  process.kill(pid, "SIGHUP");
  return waitFor(
    `dockerd (pid ${pid}) to reload ${DAEMON_JSON} (${target})`,
    async () => {
      const live = await liveRuntime();
      if (accept(live)) return live;
      throw new Error(`docker info still reports DefaultRuntime ${live.defaultRuntime}, runtimes ${Object.keys(live.runtimes).join(", ")} (a rejected reload is logged by dockerd)`);
    },
    { timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: 250 },
  );
}

/** Writes a file by rename, so dockerd (or a shim exec'ing the wrapper) never sees half a file. */
async function writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(3).toString("hex")}`;
  try {
    await writeFile(tmp, data, { mode });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function fileMode(path: string, fallback: number): Promise<number> {
  try {
    return (await stat(path)).mode & 0o7777;
  } catch {
    return fallback;
  }
}

/** The first line the wrapper at `path` prints for --imagepolicy-lab-version, or why it did not answer. */
async function wrapperVersion(path: string): Promise<{ version?: string; problem?: string }> {
  const r = await tryRun(path, ["--imagepolicy-lab-version"], { timeoutMs: 10_000 });
  const line = r.stdout.split("\n")[0]?.trim() ?? "";
  if (r.ok && line.startsWith(WRAPPER_VERSION_PREFIX)) return { version: line };
  return { problem: r.spawnError ?? `${path} --imagepolicy-lab-version answered ${JSON.stringify(line || r.stderr.trim())} (exit ${r.exitCode})` };
}

/** Containers whose runtime is the wrapper: they need it for stop/exec/delete until they are removed. */
async function containersUsingWrapper(): Promise<string[]> {
  const ids = await tryRun("docker", ["ps", "-aq", "--no-trunc"], { timeoutMs: 20_000 });
  const list = ids.stdout.split(/\s+/).filter(Boolean);
  if (!ids.ok || !list.length) return [];
  const r = await tryRun("docker", ["inspect", "--format", "{{.Name}}\t{{.HostConfig.Runtime}}", ...list], { timeoutMs: 20_000 });
  return r.stdout
    .split("\n")
    .map((l) => l.split("\t"))
    .filter(([, runtime]) => runtime === RUNTIME_NAME)
    .map(([name]) => (name ?? "").replace(/^\//, ""));
}

// ---------------------------------------------------------------------------------------------
// Status, install, uninstall

export interface WrapperStatus {
  daemonJson: string;
  /** daemon.json registers the wrapper at WRAPPER_PATH and makes it the default runtime. */
  configured: boolean;
  /** Why daemon.json could not be read, when it could not. */
  configProblem?: string;
  binary: string;
  /** The installed wrapper's answer to --imagepolicy-lab-version; undefined when it is missing or did not answer. */
  binaryVersion?: string;
  binaryProblem?: string;
  /** The running dockerd's default runtime (`docker info`); undefined when docker did not answer. */
  liveDefaultRuntime?: string;
  /** configured, the binary answers, and dockerd uses it now. */
  active: boolean;
}

/** Whether the wrapper is configured, installed and in use by the running dockerd. Reads only. */
export async function wrapperStatus(): Promise<WrapperStatus> {
  const status: WrapperStatus = { daemonJson: DAEMON_JSON, configured: false, binary: WRAPPER_PATH, active: false };
  try {
    const text = await readText(DAEMON_JSON);
    if (text === undefined) status.configProblem = "does not exist";
    else {
      const c = parseDaemonConfig(text);
      const ours = isPlainObject(c.runtimes) ? c.runtimes[RUNTIME_NAME] : undefined;
      status.configured = c["default-runtime"] === RUNTIME_NAME && isPlainObject(ours) && ours.path === WRAPPER_PATH;
    }
  } catch (err) {
    status.configProblem = err instanceof Error ? err.message : String(err);
  }
  const v = await wrapperVersion(WRAPPER_PATH);
  if (v.version) status.binaryVersion = v.version;
  else status.binaryProblem = v.problem;
  try {
    status.liveDefaultRuntime = (await liveRuntime()).defaultRuntime;
  } catch {
    // docker did not answer: leave it unobserved
  }
  status.active = status.configured && Boolean(status.binaryVersion) && status.liveDefaultRuntime === RUNTIME_NAME;
  return status;
}

export interface HostChangeOptions {
  logger?: Logger;
  progress?: Progress;
  /** Environment of the calling command (kept for callers; the wrapper is built with a controlled environment of its own). */
  env?: Env;
}

/**
 * Builds the wrapper into a fresh root-owned temp dir (0700) with its own Go build cache and returns
 * its path and a cleanup. Not in the user's cache: dockerd runs this binary as root for every
 * container, and a cache (or GOCACHE) another user can write could swap or poison it between the build
 * and the copy. The wrapper needs only the standard library, so a cold build is cheap.
 */
async function buildWrapper(o: HostChangeOptions): Promise<{ path: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "imagepolicy-lab-wrapper-"));
  await chmod(dir, 0o700);
  const out = join(dir, "runtime-wrapper");
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    return await task(o.progress, "build the OCI runtime wrapper", async () => {
      // `go -C` instead of a cwd option: the wrapper's module is harness/go, and -o must be absolute.
      const env = { CGO_ENABLED: "0", GOCACHE: join(dir, "gocache"), GOFLAGS: "", GOWORK: "off" };
      const r = await tryRun("go", ["-C", OWN_GO_MODULE_DIR, "build", "-trimpath", "-o", out, "./cmd/runtime-wrapper"], { env, timeoutMs: 300_000 });
      if (r.spawnError) throw new LabError(`cannot build the runtime wrapper: ${r.spawnError} (it is built from ${OWN_GO_MODULE_DIR} with Go 1.26 or later)`);
      if (!r.ok) throw commandError(r, "failed to build the runtime wrapper");
      const v = await wrapperVersion(out);
      if (!v.version) throw new LabError(`the freshly built wrapper does not answer: ${v.problem}`);
      return { path: out, remove };
    });
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Copies the built wrapper to WRAPPER_PATH unless the same bytes are there; returns a change line or undefined. */
async function placeWrapper(built: string): Promise<string | undefined> {
  const fresh = await readFile(built);
  const existing = await readFile(WRAPPER_PATH).catch(() => undefined);
  if (existing?.equals(fresh) && (await fileMode(WRAPPER_PATH, 0)) === 0o755) return undefined;
  await mkdir(dirname(WRAPPER_PATH), { recursive: true, mode: 0o755 });
  await writeAtomic(WRAPPER_PATH, fresh, 0o755);
  return `${existing ? "replaced" : "installed"} the runtime wrapper ${WRAPPER_PATH} (0755, built from harness/go/cmd/runtime-wrapper)`;
}

const reloadedToWrapper = (live: LiveRuntime) => live.defaultRuntime === RUNTIME_NAME && live.runtimes[RUNTIME_NAME]?.path === WRAPPER_PATH;

/**
 * Installs the runtime wrapper and makes the running dockerd use it for new containers: builds it,
 * copies it to WRAPPER_PATH, adds it to daemon.json as `default-runtime` (backing the original up once
 * to DAEMON_JSON_BACKUP), and reloads dockerd with SIGHUP. Idempotent. Returns one line per change,
 * ending with how to undo it. Needs root and a running dockerd.
 */
export async function installWrapper(o: HostChangeOptions = {}): Promise<string[]> {
  requireRoot("installing the docker runtime wrapper");
  const pid = await dockerdProcess();
  const currentText = await readText(DAEMON_JSON);
  const current = currentText === undefined ? {} : parseDaemonConfig(currentText);
  const { config: merged, changed } = mergeDaemonConfig(current);
  const lines: string[] = [];

  const built = await buildWrapper(o);
  const placed = await placeWrapper(built.path).finally(() => built.remove());
  if (placed) lines.push(placed);

  if (changed || currentText === undefined) {
    const text = formatDaemonConfig(merged);
    const previous = await readRecord();
    let original: InstallRecord["original"];
    if (!previous) {
      if (currentText === undefined) {
        original = { kind: "absent" };
        lines.push(`${DAEMON_JSON} did not exist; recorded that in ${INSTALL_RECORD}, so uninstall removes the file again`);
      } else {
        await writeAtomic(DAEMON_JSON_BACKUP, currentText, await fileMode(DAEMON_JSON, 0o644));
        original = { kind: "backup", path: DAEMON_JSON_BACKUP };
        lines.push(`backed up ${DAEMON_JSON} to ${DAEMON_JSON_BACKUP}`);
      }
    } else if (previous.written === currentText) {
      original = previous.original;
    } else {
      // Edited since our last install: the old backup predates those edits, so never restore it.
      const backupPath = previous.original.kind === "backup" ? previous.original.path : previous.original.kind === "superseded" ? previous.original.backupPath : undefined;
      original = backupPath ? { kind: "superseded", backupPath } : { kind: "superseded" };
      lines.push(`${DAEMON_JSON} was edited after the last install; uninstall will remove only ${RUNTIME_NAME}'s keys${backupPath ? ` (the older backup stays at ${backupPath})` : ""}`);
    }
    const record: InstallRecord = { schemaVersion: 1, daemonJson: DAEMON_JSON, original, written: text, installedAt: new Date().toISOString() };
    // The record goes first: if we stop between the two writes, uninstall still knows the original.
    await mkdir(dirname(INSTALL_RECORD), { recursive: true });
    await writeAtomic(INSTALL_RECORD, `${JSON.stringify(record, null, 2)}\n`, 0o644);
    await writeAtomic(DAEMON_JSON, text, await fileMode(DAEMON_JSON, 0o644));
    lines.push(`${currentText === undefined ? "created" : "updated"} ${DAEMON_JSON}: runtimes.${RUNTIME_NAME}.path = ${WRAPPER_PATH}, default-runtime = ${RUNTIME_NAME}${currentText === undefined ? "" : " (all other keys kept)"}`);
  }

  const live = await liveRuntime();
  if (changed || !reloadedToWrapper(live)) {
    try {
      await task(o.progress, "reload dockerd (SIGHUP)", () => reloadDockerd(pid, `default runtime ${RUNTIME_NAME}`, reloadedToWrapper));
    } catch (err) {
      if (changed) await rollbackDaemonJson(currentText);
      throw new LabError(
        `dockerd did not switch to the wrapper after SIGHUP${changed ? `; ${DAEMON_JSON} was put back as it was` : ""} (the wrapper binary stays at ${WRAPPER_PATH}; ${UNINSTALL_COMMAND} removes it)`,
        { cause: err },
      );
    }
    lines.push(`reloaded dockerd (pid ${pid}) with SIGHUP: new containers, privileged ones included, now run through the wrapper (running containers are unaffected)`);
  }
  if (!lines.length) return [`nothing changed: the runtime wrapper is installed and dockerd already uses it (undo with \`${UNINSTALL_COMMAND}\`)`];
  lines.push(`undo with \`${UNINSTALL_COMMAND}\` (restores ${DAEMON_JSON}, reloads dockerd, removes ${WRAPPER_PATH})`);
  return lines;
}

async function rollbackDaemonJson(previousText: string | undefined): Promise<void> {
  if (previousText === undefined) await rm(DAEMON_JSON, { force: true });
  else await writeAtomic(DAEMON_JSON, previousText, await fileMode(DAEMON_JSON, 0o644));
  await rm(INSTALL_RECORD, { force: true });
}

/**
 * Undoes installWrapper: dockerd goes back to runc for new containers, daemon.json is restored from
 * the backup (or loses just our two keys when it was edited since), and the wrapper binary is removed.
 * Refuses while containers created through the wrapper exist, because dockerd needs it to stop them,
 * unless `force`. Returns one line per change.
 */
export async function uninstallWrapper(o: HostChangeOptions & { force?: boolean } = {}): Promise<string[]> {
  requireRoot("uninstalling the docker runtime wrapper");
  const pid = await dockerdProcess();
  const currentText = await readText(DAEMON_JSON);
  const current = currentText === undefined ? undefined : parseDaemonConfig(currentText);
  const record = await readRecord();
  const backupPath = record?.original.kind === "backup" ? record.original.path : DAEMON_JSON_BACKUP;
  const backupText = record?.original.kind === "backup" ? await readText(backupPath) : undefined;
  const plan = planUninstall({ current: currentText, record, backupText });
  const lines: string[] = [];

  const users = await containersUsingWrapper();
  if (users.length && !o.force) {
    throw new LabError(
      `containers created through the wrapper still exist (${users.join(", ")}); dockerd needs the wrapper to stop and remove them. Remove them first (docker rm -f …), or pass --force to uninstall anyway`,
    );
  }

  const target: DaemonConfig | undefined =
    plan.action === "restore-backup" ? parseDaemonConfig(plan.text, backupPath) : plan.action === "remove-file" ? undefined : plan.action === "write" ? plan.config : current;
  const live = await liveRuntime();
  const wantDefault = typeof target?.["default-runtime"] === "string" ? (target["default-runtime"] as string) : "runc";
  if (live.defaultRuntime === RUNTIME_NAME || RUNTIME_NAME in live.runtimes) {
    // A reload keeps the live value of an absent key, so load the explicit values first.
    await writeAtomic(DAEMON_JSON, formatDaemonConfig(explicitRuntimeConfig(target)), await fileMode(DAEMON_JSON, 0o644));
    try {
      await task(o.progress, "reload dockerd (SIGHUP)", () =>
        reloadDockerd(pid, `default runtime ${wantDefault}`, (l) => l.defaultRuntime === wantDefault && !(RUNTIME_NAME in l.runtimes)),
      );
    } catch (err) {
      if (currentText !== undefined) await writeAtomic(DAEMON_JSON, currentText, await fileMode(DAEMON_JSON, 0o644));
      throw new LabError(`dockerd did not switch back to ${wantDefault} after SIGHUP; ${DAEMON_JSON} was put back as it was and the wrapper stays installed`, { cause: err });
    }
    lines.push(`reloaded dockerd (pid ${pid}) with SIGHUP: new containers run with ${wantDefault} again, and ${RUNTIME_NAME} is no longer registered`);
  }

  switch (plan.action) {
    case "restore-backup":
      await writeAtomic(DAEMON_JSON, plan.text, await fileMode(plan.backupPath, 0o644));
      await rm(plan.backupPath, { force: true });
      lines.push(`restored ${DAEMON_JSON} from ${plan.backupPath} (and removed the backup)`);
      break;
    case "remove-file":
      await rm(DAEMON_JSON, { force: true });
      lines.push(`removed ${DAEMON_JSON} (it did not exist before install)`);
      break;
    case "write":
      await writeAtomic(DAEMON_JSON, formatDaemonConfig(plan.config), await fileMode(DAEMON_JSON, 0o644));
      lines.push(`updated ${DAEMON_JSON}: ${plan.reason}`);
      if (await exists(backupPath)) lines.push(`left ${backupPath} in place, not restored; compare it with ${DAEMON_JSON} and delete it when done`);
      break;
    case "keep":
      // The explicit-runtime file written for the reload must not stay behind.
      if (lines.length) {
        if (currentText === undefined) await rm(DAEMON_JSON, { force: true });
        else await writeAtomic(DAEMON_JSON, currentText, await fileMode(DAEMON_JSON, 0o644));
      }
      break;
  }

  if (await exists(WRAPPER_PATH)) {
    await rm(WRAPPER_PATH, { force: true });
    await rmdir(dirname(WRAPPER_PATH)).catch(() => undefined);
    lines.push(`removed ${WRAPPER_PATH}`);
  }
  await rm(INSTALL_RECORD, { force: true });
  await rmdir(dirname(INSTALL_RECORD)).catch(() => undefined); // only when empty
  if (users.length) lines.push(`warning: ${users.join(", ")} were created through the wrapper; stopping or removing them may fail until dockerd restarts or they are force-removed`);
  if (!lines.length) lines.push(`nothing to undo: ${plan.action === "keep" ? plan.reason : "no wrapper installed"}, and dockerd does not use ${RUNTIME_NAME}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The one call bring-up code needs

function truthy(v: string | undefined): boolean {
  return /^(1|true|yes|on)$/i.test(v?.trim() ?? "");
}

/**
 * Makes sure docker can run privileged containers (kind's nodes need them). Probes; when privileged
 * containers fail with the missing-capability error and a host change is allowed (`allowHostChange`
 * or IMAGEPOLICY_LAB_FIX_PRIVILEGED=1; either one enables it), installs the runtime wrapper, prints
 * every change through `logger.warn`, and probes again. Otherwise throws a LabError that says what
 * to run.
 */
export async function ensurePrivilegedContainers(o: { allowHostChange: boolean; logger?: Logger; progress?: Progress; env?: Env }): Promise<ProbeResult> {
  const logger = o.logger ?? silentLogger;
  const env = o.env ?? process.env;
  const probe = await task(o.progress, "check that docker can run privileged containers", probePrivileged);
  if (probe.ok) return probe;
  if (!probe.needsWrapper) throw new LabError(`docker cannot run privileged containers here, which kind needs for its nodes: ${probe.detail}`);
  const allowed = o.allowHostChange || truthy(env.IMAGEPOLICY_LAB_FIX_PRIVILEGED);
  if (!allowed) {
    throw new LabError(
      `${probe.detail}\n` +
        "This host's capability bounding set lacks a capability that Docker asks for on --privileged, so kind's node containers cannot start. " +
        "An OCI runtime wrapper that drops the missing capability fixes it: run `imagepolicy-lab docker-runtime install` (or set IMAGEPOLICY_LAB_FIX_PRIVILEGED=1). " +
        `It changes ${DAEMON_JSON} (default-runtime ${RUNTIME_NAME}) and reloads dockerd; undo with \`${UNINSTALL_COMMAND}\`.`,
    );
  }
  logger.warn(`privileged containers fail here (${probe.detail}); installing the docker runtime wrapper:`);
  for (const line of await installWrapper({ logger, progress: o.progress, env })) logger.warn(`  ${line}`);
  const again = await task(o.progress, "check privileged containers again", probePrivileged);
  if (!again.ok) throw new LabError(`privileged containers still fail after installing the runtime wrapper: ${again.detail} (undo with \`${UNINSTALL_COMMAND}\`)`);
  return again;
}
