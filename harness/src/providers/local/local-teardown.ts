// How `down` removes a detached local lab from another process: the recorded processes by pid, each
// checked to still run something under the state dir, then any straggler whose command line names
// the state dir (a component spawned in the instant before a killed `up` could record it).
import { access, readdir, readFile, readlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { partsFailed, wrap } from "../../util/errors.ts";
import { stopPid } from "../../util/managed-process.ts";
import { LAB_CLAIM_FILE, readLabState, type LabState } from "../lab-state.ts";

/** The local provider's record in the state file (`state.local`). */
export interface LocalLabRecord {
  /** Control-plane processes in start order; rewritten as each one starts, so a killed `up` leaves them findable. */
  processes?: { name: string; pid: number }[];
  /** The detached stub process. */
  stubPid?: number;
  /** The opa mechanism's OPA server (rewritten when a fault restarts it). */
  opaPid?: number;
}

/**
 * The local record of a state file. Files written before records were per provider kept the same
 * facts in `processes` and `stub.pid`; reading them costs two lines, so `down` still finds such labs.
 */
export function localRecord(state: LabState): LocalLabRecord {
  if (state.local) return state.local;
  const legacy = state as LabState & { processes?: { name: string; pid: number }[]; stub?: { pid?: number } };
  return { processes: legacy.processes, stubPid: legacy.stub?.pid };
}

/**
 * Stops the lab's processes: recorded ones in reverse start order (controller-manager, apiserver,
 * etcd), then OPA, the stub last, then unrecorded ones found by `strayComponents`. Without a state file only the
 * latter. Returns what it stopped; throws an AggregateError naming each process it failed to stop.
 */
export async function removeLocalLab(stateDir: string, state: LabState | undefined): Promise<string[]> {
  const stopped: string[] = [];
  const errors: unknown[] = [];
  const stop = async (name: string, pid: number, note = "") => {
    try {
      if ((await stopPid(pid, stateDir)) === "stopped") stopped.push(`${name} (pid ${pid}${note})`);
    } catch (err) {
      errors.push(wrap(`failed to stop ${name} (pid ${pid})`, err));
    }
  };
  if (state) {
    const record = localRecord(state);
    for (const p of [...(record.processes ?? [])].reverse()) await stop(p.name, p.pid);
    if (record.opaPid) await stop("opa", record.opaPid);
    if (record.stubPid) await stop("stub", record.stubPid);
  }
  // Also without a state file: a `up` killed before it wrote one may have started the stub already.
  for (const p of await strayComponents(stateDir)) await stop(p.name, p.pid, ", not recorded");
  if (errors.length) throw partsFailed(`failed to stop the local lab in ${stateDir}`, errors);
  return stopped;
}

const COMPONENTS = new Set(["etcd", "kube-apiserver", "kube-controller-manager"]);

interface RunningComponent {
  pid: number;
  /** etcd, kube-apiserver, kube-controller-manager, opa, or stub. */
  name: string;
  args: string[];
}

/**
 * The lab component processes on this machine (Linux: /proc; elsewhere none): the control-plane
 * binaries by name, OPA servers (`opa run --server …`), and the detached stub
 * (`node …/imagepolicy-lab.mjs stub serve --config …`).
 */
async function runningComponents(): Promise<RunningComponent[]> {
  const pids = (await readdir("/proc").catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
  const found: RunningComponent[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    const base = basename(args[0] ?? "");
    const name = COMPONENTS.has(base) ? base : base === "opa" && args[1] === "run" && args.includes("--server") ? "opa" : args.includes("stub") && args.includes("serve") ? "stub" : undefined;
    if (name) found.push({ pid, name, args });
  }
  return found;
}

/**
 * Lab processes whose arguments name a file under `stateDir` (every component's do: etcd's data dir,
 * the apiserver's admission config, the controller-manager's kubeconfig, OPA's certificate and
 * authz policy, the stub's config). Linux
 * only (/proc); elsewhere the recorded pids are all there is.
 */
export async function strayComponents(stateDir: string): Promise<{ pid: number; name: string }[]> {
  const prefix = `${stateDir.replace(/\/+$/, "")}/`;
  const found = (await runningComponents()).filter((c) => c.args.some((a) => a.includes(prefix))).map(({ pid, name }) => ({ pid, name }));
  // Stop order: controller-manager, apiserver, etcd, then OPA and the stub.
  const rank = (n: string) => ["kube-controller-manager", "kube-apiserver", "etcd", "opa", "stub"].indexOf(n);
  return found.sort((a, b) => rank(a.name) - rank(b.name));
}

/** The lab files whose paths appear in a component's arguments; the directory above them is the state dir. */
const LAB_PATH_RE = /^(\/.+?)\/(?:pki|etcd-data|admission|backend|opa)(?:\/|$)/;

/**
 * Every local lab component on this machine (Linux: /proc), grouped by the state directory its
 * arguments name. For `down --all`: found by what runs, whatever state files say. Only processes in
 * this PID namespace count (a kind node's or a kubeadm host's control plane shows up in the host's
 * /proc too, with paths under /etc/kubernetes/pki), and only directories that carry a lab's own
 * marker (its claim or state file): `down --all` must never stop or clean up anything not ours.
 */
export async function localLeftovers(): Promise<Array<{ stateDir: string; parts: string[] }>> {
  const myPidNs = await readlink("/proc/self/ns/pid").catch(() => undefined);
  const byDir = new Map<string, string[]>();
  for (const { pid, name, args } of await runningComponents()) {
    if (myPidNs && (await readlink(`/proc/${pid}/ns/pid`).catch(() => undefined)) !== myPidNs) continue;
    const dir = args.flatMap((a) => a.split("=")).map((a) => LAB_PATH_RE.exec(a)?.[1]).find(Boolean);
    if (!dir) continue;
    byDir.set(dir, [...(byDir.get(dir) ?? []), `${name} (pid ${pid})`]);
  }
  const labs: Array<{ stateDir: string; parts: string[] }> = [];
  for (const [stateDir, parts] of byDir) {
    if (await isLabDir(stateDir)) labs.push({ stateDir, parts });
  }
  return labs;
}

/** Whether `dir` carries a lab's own marker: its claim file, or a state file of this provider. */
async function isLabDir(dir: string): Promise<boolean> {
  if (await access(join(dir, LAB_CLAIM_FILE)).then(() => true, () => false)) return true;
  return (await readLabState(dir))?.provider === "local";
}
