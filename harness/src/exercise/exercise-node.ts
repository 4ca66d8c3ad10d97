// The machine a trainee works on, as the exercise session sees it: where the apiserver manifest and
// the admission files are, how an edit reaches them, how the apiserver is restarted and how to tell
// whether it came back. Local labs keep everything in the state dir (static-pod.ts plays the
// kubelet); kind labs have the node's real manifest (kind-exercise-node.ts).
import { KubeConfig } from "@kubernetes/client-node";
import { readFile, rename, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { APISERVER_MANIFEST, KUBELET_LOG } from "../providers/local/static-pod.ts";
import { httpsGet, kubeconfigTarget } from "../util/https-get.ts";
import { tailFile } from "../util/managed-process.ts";
import { sleep } from "../util/wait.ts";

/** An editable file, relative to the state dir (schema.ts EDITABLE_FILE): the manifest or admission/NAME. */
export const MANIFEST_FILE = "manifests/kube-apiserver.yaml";

/** Where the trainee's files are on the local provider. */
export interface LocalExerciseFiles {
  provider: "local";
  manifest: string;
  admissionDir: string;
  kubeconfig: string;
  apiserverLog: string;
  kubeletLog: string;
}

/** Where the trainee's files are on kind: the manifest and logs in the node, the admission files on the host. */
export interface KindExerciseFiles {
  provider: "kind";
  /** The control-plane node container (`docker exec -it NODE bash`). */
  node: string;
  /** The manifest in the node. */
  manifest: string;
  /** The admission directory on the host (the kind config mounts it into the node read-only). */
  admissionDir: string;
  /** The same directory in the node and in the apiserver's pod. */
  admissionDirInNode: string;
  kubeconfig: string;
  /** The pod logs directory of the apiserver in the node (one file per container start). */
  apiserverLogDir: string;
}

export type ExerciseFiles = LocalExerciseFiles | KindExerciseFiles;

export interface ExerciseNode {
  readonly provider: "local" | "kind";
  /** Values of `{{stateDir}}` and `{{admissionDir}}` in an exercise's edits. */
  readonly placeholders: { stateDir: string; admissionDir: string };
  readonly files: ExerciseFiles;
  /** Reads an editable file (MANIFEST_FILE or admission/NAME). */
  read(file: string): Promise<string>;
  /** Replaces an editable file at once (written then renamed, as editors do). */
  write(file: string, text: string): Promise<void>;
  /** What a trainee does so the apiserver rereads its admission files. */
  restartApiserver(): Promise<void>;
  /** Call before edits that restart the apiserver; the function it returns waits for the outcome (true: it answers). */
  watchRestart(): Promise<() => Promise<boolean>>;
  /** Does the apiserver answer /readyz with 200? */
  apiserverUp(): Promise<boolean>;
  /** When the apiserver does not answer: the lines that say why, each naming where it was read. */
  downEvidence(): Promise<string[]>;
}

/** Is the apiserver of this kubeconfig answering /readyz? */
export async function kubeconfigApiserverUp(kubeconfig: string): Promise<boolean> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const t = await kubeconfigTarget(kc);
  return httpsGet(`${t.server}/readyz`, t.tls, 1_000).then((r) => r.status === 200, () => false);
}

export function localExerciseFiles(stateDir: string): LocalExerciseFiles {
  return {
    provider: "local",
    manifest: join(stateDir, APISERVER_MANIFEST),
    admissionDir: join(stateDir, "admission"),
    kubeconfig: join(stateDir, "kubeconfig"),
    apiserverLog: join(stateDir, "logs", "kube-apiserver.log"),
    kubeletLog: join(stateDir, KUBELET_LOG),
  };
}

/** A local lab: the files are in the state dir and the lab's watcher restarts the apiserver on a change or a `touch`. */
export function localExerciseNode(stateDir: string): ExerciseNode {
  const f = localExerciseFiles(stateDir);
  return {
    provider: "local",
    placeholders: { stateDir, admissionDir: f.admissionDir },
    files: f,
    read: (file) => readFile(join(stateDir, file), "utf8"),
    write: async (file, text) => {
      const path = join(stateDir, file);
      await writeFile(`${path}.tmp`, text, { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    },
    restartApiserver: async () => {
      const now = new Date();
      await utimes(f.manifest, now, now);
    },
    watchRestart: async () => {
      const since = new Date();
      return () => settleLocal(stateDir, since);
    },
    apiserverUp: () => kubeconfigApiserverUp(f.kubeconfig),
    downEvidence: async () => {
      const kubelet = (await tailFile(f.kubeletLog, 20)).trim().split("\n").filter((l) => l.includes(" kube-apiserver: ")).slice(-2);
      // The apiserver's last error line (klog E/F lines, or cobra's `Error:`), the one that explains the exit.
      const log = (await tailFile(f.apiserverLog, 200)).split("\n").filter(isErrorLine).slice(-1);
      return [...kubelet.map((l) => `${KUBELET_LOG}: ${l}`), ...log.map((l) => `logs/kube-apiserver.log: ${l}`)];
    },
  };
}

/** klog E/F lines that report a failure, or cobra's `Error:` line: what explains an apiserver's exit. */
export function isErrorLine(l: string): boolean {
  return /^([EF]\d{4} .*(failed|error)|Error: )/i.test(l);
}

/**
 * After edits that restart the local apiserver: waits until the watcher noticed them, then until the
 * apiserver answers or the watcher reports it down. Returns whether it is up.
 */
export async function settleLocal(stateDir: string, since: Date, budgetMs = 45_000): Promise<boolean> {
  const f = localExerciseFiles(stateDir);
  const deadline = performance.now() + budgetMs;
  const linesSince = async () =>
    (await readFile(f.kubeletLog, "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l.includes(" kube-apiserver: ") && new Date(l.slice(0, 24)).getTime() >= since.getTime() - 1);
  while (performance.now() < deadline && !(await linesSince()).length) await sleep(100);
  while (performance.now() < deadline) {
    const lines = await linesSince();
    const last = lines.at(-1) ?? "";
    if (/not started|restarting in/.test(last)) return false;
    if (/started \(pid/.test(last) && (await kubeconfigApiserverUp(f.kubeconfig))) return true;
    await sleep(200);
  }
  return kubeconfigApiserverUp(f.kubeconfig);
}
