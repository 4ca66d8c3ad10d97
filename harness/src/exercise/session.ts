// A training exercise on a running lab (issue 14): start it in its broken state, check it by the
// apiserver's behavior, hand out hints, show or apply the reference solution, reset it. The lab is a
// local one whose apiserver runs from a static pod manifest the trainee edits (static-pod.ts).
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { cp, mkdir, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { StubControl } from "../../../webhook-stub/src/types.ts";
import { downLab } from "../lab/down.ts";
import { startLab } from "../lab/lab.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { APISERVER_MANIFEST, KUBELET_LOG } from "../providers/local/static-pod.ts";
import { DEFAULT_POLICY, policyFromDoc } from "../scenario/backend-state.ts";
import { createPlayer, withSystemNamespaces } from "../scenario/runner.ts";
import type { StepResult } from "../scenario/result.ts";
import { ConfigError } from "../util/errors.ts";
import { httpsGet, kubeconfigTarget } from "../util/https-get.ts";
import type { Logger, Progress } from "../util/logger.ts";
import { tailFile } from "../util/managed-process.ts";
import { sleep } from "../util/wait.ts";
import { attachExerciseLab, readExerciseLabState, stubClient } from "./attach.ts";
import { checkScenario, loadExerciseFile, type LoadedExercise } from "./load.ts";
import type { ExerciseEdit } from "./schema.ts";

/** The exercise's own files in the state dir: its progress and the starting files `reset` restores. */
export const EXERCISE_STATE_DIR = "exercise";

export interface ExerciseProgress {
  name: string;
  file: string;
  hintsShown: number;
  startedAt: string;
}

/** Where the trainee's files are. */
export interface ExerciseFiles {
  manifest: string;
  admissionDir: string;
  kubeconfig: string;
  apiserverLog: string;
  kubeletLog: string;
}

export function exerciseFiles(stateDir: string): ExerciseFiles {
  return {
    manifest: join(stateDir, APISERVER_MANIFEST),
    admissionDir: join(stateDir, "admission"),
    kubeconfig: join(stateDir, "kubeconfig"),
    apiserverLog: join(stateDir, "logs", "kube-apiserver.log"),
    kubeletLog: join(stateDir, KUBELET_LOG),
  };
}

/** Said before anything starts when an exercise is asked for on kind. */
export const KIND_NOT_YET = "exercises run on the local provider only for now (kind exercises are not available yet; issue 14): use --provider local";

/** An edit as a human would read it. */
export function describeEdit(e: ExerciseEdit): string {
  if ("file" in e) {
    const show = (s: string) => (s.includes("\n") ? `\n      ${s.replaceAll("\n", "\n      ")}` : JSON.stringify(s));
    return `in ${e.file}, replace ${show(e.replace)}${e.with.includes("\n") ? "\n    with" : " with"} ${show(e.with)}`;
  }
  if ("stub" in e) {
    const b = e.stub;
    const parts = [
      ...(b.trust ? [`imagepolicy-lab stub set --trust ${b.trust.join(" --trust ")}`] : []),
      ...(b.policy ? [`imagepolicy-lab stub set --policy FILE, the policy (in scenario notation) being ${JSON.stringify(b.policy)}`] : []),
      ...(b.policyFile ? [`imagepolicy-lab stub set --policy ${b.policyFile}`] : []),
      ...(b.fault ? [`imagepolicy-lab stub set --fault ${b.fault}`] : []),
    ];
    return `set the backend: ${parts.join("; ") || "(unchanged)"}`;
  }
  return `restart the apiserver so it rereads the admission files: touch ${APISERVER_MANIFEST}`;
}

/** Applies edits in order; a file edit whose text is not found exactly once changes nothing and says so. */
export async function applyEdits(stateDir: string, edits: readonly ExerciseEdit[], stub: StubControl, baseDir = stateDir): Promise<void> {
  const fill = (s: string) => s.replaceAll("{{stateDir}}", stateDir);
  for (const e of edits) {
    if ("file" in e) {
      const path = join(stateDir, e.file);
      const text = await readFile(path, "utf8");
      const from = fill(e.replace);
      const count = text.split(from).length - 1;
      if (count !== 1) throw new ConfigError([{ file: path, path: "", message: `the text to replace occurs ${count} times, expected once (was the file already edited?): ${JSON.stringify(from)}` }], "failed to apply an edit");
      // Written then renamed, as editors do: the apiserver never reads half a file.
      await writeFile(`${path}.tmp`, text.replace(from, () => fill(e.with)), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    } else if ("stub" in e) {
      const policy = await policyFromDoc(e.stub, baseDir, "default");
      if (policy) await stub.setPolicy(withSystemNamespaces(policy));
      if (e.stub.fault) await stub.setFault(e.stub.fault);
    } else {
      const now = new Date();
      await utimes(join(stateDir, APISERVER_MANIFEST), now, now);
    }
  }
}

/** Whether edits restart the apiserver (a manifest change or a touch). */
const restarts = (edits: readonly ExerciseEdit[]) => edits.some((e) => "restartApiserver" in e || ("file" in e && e.file === APISERVER_MANIFEST.replaceAll("\\", "/")));

/** Is the apiserver answering /readyz? */
export async function apiserverUp(kubeconfig: string): Promise<boolean> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const t = await kubeconfigTarget(kc);
  return httpsGet(`${t.server}/readyz`, t.tls, 1_000).then((r) => r.status === 200, () => false);
}

/**
 * After edits that restart the apiserver: waits until the watcher noticed them, then until the
 * apiserver answers or the watcher reports it down. Returns whether it is up.
 */
export async function settle(stateDir: string, since: Date, budgetMs = 45_000): Promise<boolean> {
  const f = exerciseFiles(stateDir);
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
    if (/started \(pid/.test(last) && (await apiserverUp(f.kubeconfig))) return true;
    await sleep(200);
  }
  return apiserverUp(f.kubeconfig);
}

async function readProgress(stateDir: string): Promise<ExerciseProgress> {
  const text = await readFile(join(stateDir, EXERCISE_STATE_DIR, "progress.json"), "utf8").catch(() => undefined);
  if (!text) throw new ConfigError([{ file: stateDir, path: "", message: "no exercise was started here (`imagepolicy-lab exercise start NAME --state-dir DIR`)" }], "no exercise");
  return JSON.parse(text) as ExerciseProgress;
}

const writeProgress = (stateDir: string, p: ExerciseProgress) => writeFile(join(stateDir, EXERCISE_STATE_DIR, "progress.json"), JSON.stringify(p, null, 2));

export async function currentExercise(stateDir: string): Promise<{ exercise: LoadedExercise; progress: ExerciseProgress }> {
  const progress = await readProgress(stateDir);
  return { exercise: await loadExerciseFile(progress.file), progress };
}

export interface StartExerciseOptions {
  exercise: LoadedExercise;
  stateDir: string;
  provider?: "local" | "kind" | "auto";
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

/** Starts a detached local lab in the exercise's starting state; `down --state-dir` stops it. */
export async function startExercise(o: StartExerciseOptions): Promise<{ files: ExerciseFiles; apiserverUp: boolean }> {
  if (o.provider === "kind") throw new ConfigError([{ file: "command line", path: "--provider", message: KIND_NOT_YET }], "exercise not available on kind");
  const stateDir = resolve(o.stateDir);
  const start = o.exercise.doc.start ?? {};
  const policy = start.backend ? await policyFromDoc(start.backend, resolve(o.exercise.file, ".."), "default") : undefined;
  await startLab({
    provider: new LocalProvider({ apiserverManifest: true }),
    stateDir,
    profile: start.profile,
    skipLint: true,
    policy: policy ? withSystemNamespaces(policy) : undefined,
    fault: start.backend?.fault,
    detached: true,
    logger: o.logger,
    progress: o.progress,
    signal: o.signal,
  });
  try {
    await mkdir(join(stateDir, EXERCISE_STATE_DIR), { recursive: true, mode: 0o700 });
    const up = await breakLab(stateDir, o.exercise);
    // What `reset` restores: the files as the trainee first saw them.
    const saved = join(stateDir, EXERCISE_STATE_DIR, "start");
    await rm(saved, { recursive: true, force: true });
    await cp(join(stateDir, "manifests"), join(saved, "manifests"), { recursive: true });
    await cp(join(stateDir, "admission"), join(saved, "admission"), { recursive: true });
    await writeProgress(stateDir, { name: o.exercise.doc.name, file: o.exercise.file, hintsShown: 0, startedAt: new Date().toISOString() });
    return { files: exerciseFiles(stateDir), apiserverUp: up };
  } catch (err) {
    // A lab the trainee cannot use is not left running.
    await downLab(stateDir).catch(() => undefined);
    throw err;
  }
}

/** The starting edits and backend, on a lab that is up; returns whether the apiserver is up after them. */
async function breakLab(stateDir: string, exercise: LoadedExercise): Promise<boolean> {
  const start = exercise.doc.start ?? {};
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const since = new Date();
  await applyEdits(stateDir, start.edits ?? [], stub, resolve(exercise.file, ".."));
  return restarts(start.edits ?? []) ? settle(stateDir, since) : apiserverUp(join(stateDir, "kubeconfig"));
}

/** Back to the starting state: the saved files, the starting backend; returns whether the apiserver is up. */
export async function resetExercise(stateDir: string): Promise<{ apiserverUp: boolean }> {
  const { exercise, progress } = await currentExercise(stateDir);
  const saved = join(stateDir, EXERCISE_STATE_DIR, "start");
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const start = exercise.doc.start ?? {};
  const policy = await policyFromDoc(start.backend ?? {}, resolve(exercise.file, ".."), "default");
  await stub.setPolicy(withSystemNamespaces(policy ?? DEFAULT_POLICY));
  await stub.setFault(start.backend?.fault ?? "healthy");
  for (const e of (start.edits ?? []).filter((x) => "stub" in x)) await applyEdits(stateDir, [e], stub, resolve(exercise.file, ".."));
  const since = new Date();
  await rm(join(stateDir, "admission"), { recursive: true, force: true });
  await cp(join(saved, "admission"), join(stateDir, "admission"), { recursive: true });
  // Always a restart: the admission files may have changed under a running apiserver.
  const manifest = join(stateDir, APISERVER_MANIFEST);
  await writeFile(`${manifest}.tmp`, await readFile(join(saved, APISERVER_MANIFEST)), { mode: 0o600 });
  await rename(`${manifest}.tmp`, manifest);
  const now = new Date();
  await utimes(manifest, now, now);
  await writeProgress(stateDir, { ...progress, hintsShown: 0 });
  return { apiserverUp: await settle(stateDir, since) };
}

/** Applies the reference solution; returns whether the apiserver is up after it. */
export async function applySolution(stateDir: string): Promise<{ apiserverUp: boolean }> {
  const { exercise } = await currentExercise(stateDir);
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const since = new Date();
  await applyEdits(stateDir, exercise.doc.solution.edits, stub, resolve(exercise.file, ".."));
  return { apiserverUp: restarts(exercise.doc.solution.edits) ? await settle(stateDir, since) : await apiserverUp(join(stateDir, "kubeconfig")) };
}

/** The next hint (and how many there are), remembered in the state dir. */
export async function nextHint(stateDir: string): Promise<{ hint: string; number: number; of: number }> {
  const { exercise, progress } = await currentExercise(stateDir);
  const hints = exercise.doc.hints;
  const n = Math.min(progress.hintsShown + 1, hints.length);
  await writeProgress(stateDir, { ...progress, hintsShown: n });
  return { hint: hints[n - 1]!, number: n, of: hints.length };
}

export interface CheckOutcome {
  name: string;
  passed: boolean;
  /** When failed: what the cluster did (the exercise's words), then the observations. */
  explanation?: string;
  details: string[];
}

/** Plays every check against the running apiserver. */
export async function checkExercise(stateDir: string, o: { signal?: AbortSignal } = {}): Promise<{ passed: boolean; apiserverUp: boolean; checks: CheckOutcome[]; down?: string[] }> {
  const { exercise } = await currentExercise(stateDir);
  const f = exerciseFiles(stateDir);
  if (!(await apiserverUp(f.kubeconfig))) {
    const kubelet = (await tailFile(f.kubeletLog, 20)).trim().split("\n").filter((l) => l.includes(" kube-apiserver: ")).slice(-2);
    // The apiserver's last error line (klog E/F lines, or cobra's `Error:`), the one that explains the exit.
    const log = (await tailFile(f.apiserverLog, 200)).split("\n").filter((l) => /^([EF]\d{4} .*(failed|error)|Error: )/i.test(l)).slice(-1);
    return {
      passed: false,
      apiserverUp: false,
      checks: exercise.doc.checks.map((c) => ({ name: c.name, passed: false, details: [] })),
      down: [`the apiserver does not answer: nothing can be checked until it runs`, ...kubelet.map((l) => `${KUBELET_LOG}: ${l}`), ...log.map((l) => `logs/kube-apiserver.log: ${l}`)],
    };
  }
  const lab = await attachExerciseLab(stateDir);
  const player = createPlayer(lab, { signal: o.signal });
  const core = lab.kubeConfig().makeApiClient(CoreV1Api);
  const checks: CheckOutcome[] = [];
  for (const [i, c] of exercise.doc.checks.entries()) {
    const r = await player.play(checkScenario(exercise, i));
    // The runner deletes its namespace without waiting; this process exits right after, so ask here.
    if (r.namespace !== "-") await core.deleteNamespace({ name: r.namespace }).catch(() => undefined);
    const passed = r.verdict === "pass";
    checks.push({ name: c.name, passed, explanation: passed ? undefined : c.whenFailing, details: passed ? [] : [...(r.reason ? [r.reason] : []), ...r.steps.filter((s) => s.verdict !== "pass").flatMap(stepDetails)] });
  }
  return { passed: checks.every((c) => c.passed), apiserverUp: true, checks };
}

function stepDetails(s: StepResult): string[] {
  const got = s.response ? `the apiserver answered ${s.response.code ?? "?"}${s.response.message ? `: ${s.response.message}` : " (admitted)"}` : undefined;
  return [
    `${s.name}: ${got ?? s.error ?? "no answer"}`,
    ...s.checks.filter((c) => !c.ok).map((c) => `  ${c.what}: expected ${c.expected}, observed ${c.observed}`),
    ...(s.error && got ? [`  ${s.error}`] : []),
  ];
}
