// A kind lab as the trainee's machine: the apiserver manifest is the node's real
// /etc/kubernetes/manifests/kube-apiserver.yaml (kubeadm's layout), the admission files are the host
// directory the kind config mounts into the node at /etc/kubernetes/imagepolicy (read-only there), and
// the real kubelet restarts the apiserver when the manifest's content changes. Logs are the node's:
// `crictl logs`, /var/log/pods, `journalctl -u kubelet`.
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { ADMISSION_DIR_IN_NODE } from "../kind/control-plane-patch.ts";
import { APISERVER_MANIFEST as NODE_MANIFEST, controlPlaneNode, nodeExec, RESTART_ANNOTATION, stopNodeContainer } from "../providers/kind/kind-node.ts";
import { tryRun } from "../providers/kind/tools.ts";
import { LabError } from "../util/errors.ts";
import { sleep } from "../util/wait.ts";
import { isErrorLine, kubeconfigApiserverUp, MANIFEST_FILE, type ExerciseNode, type KindExerciseFiles } from "./exercise-node.ts";

/** Where kubelet keeps the apiserver's container logs in the node (one file per container start). */
export const POD_LOG_DIR = "/var/log/pods";

export function kindExerciseFiles(stateDir: string, clusterName: string): KindExerciseFiles {
  const node = controlPlaneNode(clusterName);
  return {
    provider: "kind",
    node,
    manifest: NODE_MANIFEST,
    admissionDir: join(stateDir, "admission"),
    admissionDirInNode: ADMISSION_DIR_IN_NODE,
    kubeconfig: join(stateDir, "kubeconfig"),
    apiserverLogDir: `${POD_LOG_DIR}/kube-system_kube-apiserver-${node}_*/kube-apiserver/`,
  };
}

/**
 * A manifest with our restart annotation set to `value`, everything else byte for byte: kubeadm writes
 * sequences unindented, and a trainee's text edits (and the exercises' own) expect that layout.
 */
export function withRestartAnnotation(manifest: string, value: string | undefined): string {
  const doc = parseDocument(manifest);
  if (doc.errors.length) throw new LabError(`${NODE_MANIFEST} is not valid YAML: ${doc.errors[0]!.message}`);
  if (value === undefined) doc.deleteIn(["metadata", "annotations", RESTART_ANNOTATION]);
  else doc.setIn(["metadata", "annotations", RESTART_ANNOTATION], value);
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

export interface ApiserverContainer {
  id: string;
  podId: string;
  running: boolean;
  exited: boolean;
  /** Nanoseconds since the epoch (crictl's createdAt). */
  createdAt: bigint;
}

/** Every kube-apiserver container crictl knows in the node, newest first. */
export async function apiserverContainers(node: string): Promise<ApiserverContainer[]> {
  const r = await tryRun("docker", ["exec", node, "crictl", "ps", "-a", "--name", "^kube-apiserver$", "-o", "json"], { timeoutMs: 15_000 });
  if (!r.ok) return [];
  const list = (JSON.parse(r.stdout) as { containers?: Array<{ id: string; podSandboxId: string; state: string; createdAt: string }> }).containers ?? [];
  return list
    .map((c) => ({ id: c.id, podId: c.podSandboxId, running: c.state === "CONTAINER_RUNNING", exited: c.state === "CONTAINER_EXITED", createdAt: BigInt(c.createdAt) }))
    .sort((a, b) => (a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : 0));
}

export interface KindNodeOptions {
  /** Budget for an apiserver restart driven by the lab (reset, solution --apply). Default 150 s. */
  restartTimeoutMs?: number;
}

export function kindExerciseNode(stateDir: string, clusterName: string, o: KindNodeOptions = {}): ExerciseNode {
  const f = kindExerciseFiles(stateDir, clusterName);
  const node = f.node;
  const hostPath = (file: string) => {
    if (file === MANIFEST_FILE) throw new LabError("internal: the manifest is in the node");
    return join(stateDir, file);
  };
  const readManifest = () => nodeExec(node, ["cat", NODE_MANIFEST]);
  // Written outside the manifests directory (kubelet would run any extra file there as a second
  // pod), then moved over the manifest: kubelet never reads half a file.
  const writeManifest = (text: string) =>
    nodeExec(node, ["sh", "-c", `cat > /etc/kubernetes/.kube-apiserver.yaml.exercise && mv /etc/kubernetes/.kube-apiserver.yaml.exercise ${NODE_MANIFEST}`], { input: text });
  return {
    provider: "kind",
    placeholders: { stateDir, admissionDir: ADMISSION_DIR_IN_NODE },
    files: f,
    read: (file) => (file === MANIFEST_FILE ? readManifest() : readFile(hostPath(file), "utf8")),
    write: async (file, text) => {
      if (file === MANIFEST_FILE) return void (await writeManifest(text));
      const path = hostPath(file);
      // Readable by the apiserver in the node (it runs as root, but keys stay private on the host).
      await writeFile(`${path}.tmp`, text, { mode: file.endsWith(".key") || file.endsWith(".kubeconfig") ? 0o600 : 0o644 });
      await rename(`${path}.tmp`, path);
    },
    // kubelet restarts a static pod when its manifest's content changes (a `touch` is not a change).
    restartApiserver: async () => {
      await writeManifest(withRestartAnnotation(await readManifest(), new Date().toISOString()));
    },
    watchRestart: async () => {
      // The new manifest makes a new pod (its UID hashes the manifest): containers are told apart by
      // pod. A crash-looping apiserver's old pod keeps starting containers until kubelet replaces it,
      // and one of those crashing (measured: webhook-kubeconfig-context) says nothing about the fix.
      const oldPods = new Set((await apiserverContainers(node)).map((c) => c.podId));
      return () => settleKind(node, f.kubeconfig, oldPods, o.restartTimeoutMs ?? 150_000);
    },
    apiserverUp: () => kubeconfigApiserverUp(f.kubeconfig),
    downEvidence: () => kindDownEvidence(node),
  };
}

/**
 * After a manifest change: waits for the apiserver of the new pod. kubelet stops the old pod at once,
 * but the old apiserver, having stopped serving, only exits when the 30 s grace period ends, and the
 * new pod waits for it (a restart took 20 to 60 s here on 1.36.1). The lab stops it with a 1 s grace
 * instead, as the provider's profile switch does. Returns false as soon as a container of the new pod
 * has exited without the apiserver answering (a start that crashes: kubelet keeps retrying with backoff).
 */
async function settleKind(node: string, kubeconfig: string, oldPods: ReadonlySet<string>, budgetMs: number): Promise<boolean> {
  const deadline = performance.now() + budgetMs;
  const stopped = new Set<string>();
  while (performance.now() < deadline) {
    const cs = await apiserverContainers(node);
    for (const c of cs.filter((x) => x.running && oldPods.has(x.podId) && !stopped.has(x.id))) {
      stopped.add(c.id);
      await stopNodeContainer(node, c.id, 1);
    }
    const fresh = cs.filter((c) => !oldPods.has(c.podId));
    if (fresh.some((c) => c.running) && (await kubeconfigApiserverUp(kubeconfig))) return true;
    if (fresh.some((c) => c.exited) && !fresh.some((c) => c.running)) return kubeconfigApiserverUp(kubeconfig);
    await sleep(500);
  }
  return kubeconfigApiserverUp(kubeconfig);
}

/**
 * Why the apiserver does not answer, from the node: its newest container, the last error line of the
 * newest one that exited in the same pod (a crash-looping apiserver is often caught starting again),
 * and kubelet's word on the manifest.
 */
async function kindDownEvidence(node: string): Promise<string[]> {
  const out: string[] = [];
  const cs = await apiserverContainers(node);
  const newest = cs[0];
  const exec = `docker exec ${node}`;
  if (!newest) {
    out.push(`no kube-apiserver container in ${node} (${exec} crictl ps -a --name kube-apiserver): kubelet did not start the pod`);
  } else {
    const short = (id: string) => id.slice(0, 13);
    const inspect = async (id: string) => {
      const r = await tryRun("docker", ["exec", node, "crictl", "inspect", id], { timeoutMs: 15_000 });
      return r.ok ? (JSON.parse(r.stdout) as { status?: { logPath?: string; exitCode?: number } }).status : undefined;
    };
    const exited = newest.exited ? newest : cs.find((c) => c.exited && c.podId === newest.podId);
    const status = exited ? await inspect(exited.id) : undefined;
    out.push(
      newest.running
        ? `container ${short(newest.id)} of kube-apiserver runs but does not answer${exited ? `; the one before it in this pod exited${status?.exitCode !== undefined ? ` (code ${status.exitCode})` : ""}: it is crash-looping` : " yet (starting, or the old one still stopping: kubelet gives it 30 s); check again in a moment"}`
        : `container ${short(newest.id)} of kube-apiserver ${newest.exited ? `exited${status?.exitCode !== undefined ? ` (code ${status.exitCode})` : ""}` : "is not running"}`,
    );
    if (exited) out.push(`kubelet restarts a crashed apiserver with a growing back-off (up to 5 minutes): after a fix, change the manifest to restart it at once`);
    const logged = exited ?? newest;
    const logs = await tryRun("docker", ["exec", node, "crictl", "logs", "--tail", "200", logged.id], { timeoutMs: 15_000 });
    // crictl writes the container's stderr (where the apiserver logs) to its own stderr.
    const last = [logs.stdout, logs.stderr].join("\n").split("\n").filter(isErrorLine).slice(-1);
    const where = (exited ? status : await inspect(logged.id))?.logPath ?? `${exec} crictl logs ${short(logged.id)}`;
    for (const l of last) out.push(`${where}: ${l}`);
    if (!last.length) out.push(`its log: ${where} (${exec} crictl logs ${short(logged.id)})`);
  }
  // An invalid manifest never reaches a container: kubelet says so in its journal.
  const journal = await tryRun("docker", ["exec", node, "journalctl", "-u", "kubelet", "--no-pager", "-n", "300", "-o", "cat"], { timeoutMs: 15_000 });
  const manifestLines = journal.stdout.split("\n").filter((l) => l.includes("kube-apiserver.yaml") && /error|could not|failed/i.test(l)).slice(-1);
  for (const l of manifestLines) out.push(`journalctl -u kubelet: ${l.trim()}`);
  return out;
}
