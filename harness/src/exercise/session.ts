// A training exercise on a running lab (issue 14): start it in its broken state, check it by the
// apiserver's behavior, hand out hints, show or apply the reference solution, reset it. The trainee
// edits the apiserver's static pod manifest and its admission files: on a local lab they are in the
// state dir (static-pod.ts plays the kubelet), on kind the manifest is the node's real one
// (exercise-node.ts, kind-exercise-node.ts).
import { CoreV1Api } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { StubControl } from "../../../webhook-stub/src/types.ts";
import { ADMISSION_FILES } from "../kind/control-plane-patch.ts";
import { downLab } from "../lab/down.ts";
import { startLab } from "../lab/lab.ts";
import { DEFAULT_PROFILE, type AdmissionProfile } from "../profile/profile.ts";
import { readLabState } from "../providers/lab-state.ts";
import { KindProvider } from "../providers/kind/kind-provider.ts";
import { APISERVER_MANIFEST as NODE_MANIFEST } from "../providers/kind/kind-node.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import type { ClusterProvider } from "../providers/provider.ts";
import { APISERVER_MANIFEST } from "../providers/local/static-pod.ts";
import { forTrainee } from "./trainee-words.ts";
import { DEFAULT_POLICY, policyFromDoc } from "../scenario/backend-state.ts";
import { createPlayer, withSystemNamespaces } from "../scenario/runner.ts";
import type { StepResult } from "../scenario/result.ts";
import { ConfigError } from "../util/errors.ts";
import { task, type Logger, type Progress } from "../util/logger.ts";
import { attachExerciseLab, readExerciseLabState, stubClient } from "./attach.ts";
import { localExerciseFiles, localExerciseNode, MANIFEST_FILE, type ExerciseFiles, type ExerciseNode } from "./exercise-node.ts";
import { apiserverContainers, kindExerciseNode, withRestartAnnotation } from "./kind-exercise-node.ts";
import { checkScenario, loadExerciseFile, type LoadedExercise } from "./load.ts";
import type { ExerciseEdit } from "./schema.ts";

export type { ExerciseFiles } from "./exercise-node.ts";

/** The exercise's own files in the state dir: its progress and the starting files `reset` restores. */
export const EXERCISE_STATE_DIR = "exercise";

export interface ExerciseProgress {
  name: string;
  file: string;
  hintsShown: number;
  startedAt: string;
  /**
   * kind: the apiserver container the lab last (re)started, and a fingerprint of the files it wrote
   * for it, so switching to another exercise with the same files can skip a restart (about 20 s).
   */
  apiserverContainer?: string;
  apiserverFiles?: string;
}

/** The trainee's machine for the lab in `stateDir`: the kind node when the lab runs on kind, else the state dir. */
export async function exerciseNode(stateDir: string): Promise<ExerciseNode> {
  const state = await readLabState(stateDir);
  if (state?.provider === "kind") {
    const cluster = state.kind?.clusterName;
    if (!cluster) throw new ConfigError([{ file: join(stateDir, "lab-state.json"), path: "kind.clusterName", message: "the kind lab's record names no cluster (was it started by `exercise start --provider kind`?)" }], "no kind cluster");
    return kindExerciseNode(stateDir, cluster);
  }
  return localExerciseNode(stateDir);
}

/** The edits that apply on a provider (an edit without `provider` applies everywhere). */
export function editsFor(edits: readonly ExerciseEdit[], provider: "local" | "kind"): ExerciseEdit[] {
  return edits.filter((e) => !("provider" in e) || e.provider === undefined || e.provider === provider);
}

/** An edit as a human would read it. */
export function describeEdit(e: ExerciseEdit, provider: "local" | "kind" = "local"): string {
  if ("file" in e) {
    const where = provider === "kind" && e.file === MANIFEST_FILE ? `${NODE_MANIFEST} (in the node)` : e.file;
    const show = (s: string) => (s.includes("\n") ? `\n      ${s.replaceAll("\n", "\n      ")}` : JSON.stringify(s));
    return `in ${where}, replace ${show(e.replace)}${e.with.includes("\n") ? "\n    with" : " with"} ${show(e.with)}`;
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
  if (provider === "kind") return `restart the apiserver so it rereads the admission files: change ${NODE_MANIFEST} in the node (kubelet restarts a static pod when its manifest's content changes; the lab sets the annotation imagepolicy-lab.dev/restarted-at)`;
  return `restart the apiserver so it rereads the admission files: touch ${APISERVER_MANIFEST}`;
}

/** `{{stateDir}}` and `{{admissionDir}}` filled in. */
const filler = (n: ExerciseNode) => (s: string) => s.replaceAll("{{admissionDir}}", n.placeholders.admissionDir).replaceAll("{{stateDir}}", n.placeholders.stateDir);

/** One text edit on a file's content; the text must occur exactly once (`where` names the file in the error). */
export function editText(text: string, e: { replace: string; with: string }, fill: (s: string) => string, where: string): string {
  const from = fill(e.replace);
  const count = text.split(from).length - 1;
  if (count !== 1) throw new ConfigError([{ file: where, path: "", message: `the text to replace occurs ${count} times, expected once (was the file already edited?): ${JSON.stringify(from)}` }], "failed to apply an edit");
  return text.replace(from, () => fill(e.with));
}

/**
 * Applies the edits for the lab's provider in order; a file edit whose text is not found exactly once
 * changes nothing and says so. `target` is a local state dir or the trainee's machine.
 */
export async function applyEdits(target: string | ExerciseNode, edits: readonly ExerciseEdit[], stub: StubControl, baseDir?: string): Promise<void> {
  const n = typeof target === "string" ? localExerciseNode(target) : target;
  const fill = filler(n);
  // File edits are made in memory and saved together, the manifest last, as a trainee saves a file
  // once: a kubelet that saw each step would start (and crash) a pod per intermediate manifest.
  const pending = new Map<string, string>();
  const flush = async () => {
    for (const file of [...pending.keys()].sort((a, b) => Number(a === MANIFEST_FILE) - Number(b === MANIFEST_FILE))) await n.write(file, pending.get(file)!);
    pending.clear();
  };
  for (const e of editsFor(edits, n.provider)) {
    if ("file" in e) {
      const where = n.files.provider === "kind" && e.file === MANIFEST_FILE ? `${n.files.node}:${NODE_MANIFEST}` : join(n.placeholders.stateDir, e.file);
      pending.set(e.file, editText(pending.get(e.file) ?? (await n.read(e.file)), e, fill, where));
    } else if ("stub" in e) {
      const policy = await policyFromDoc(e.stub, baseDir ?? n.placeholders.stateDir, "default");
      if (policy) await stub.setPolicy(withSystemNamespaces(policy));
      if (e.stub.fault) await stub.setFault(e.stub.fault);
    } else {
      await flush();
      await n.restartApiserver();
    }
  }
  await flush();
}

/** Whether edits restart the apiserver on a provider (a manifest change or a restart). */
const restarts = (edits: readonly ExerciseEdit[], provider: "local" | "kind") => editsFor(edits, provider).some((e) => "restartApiserver" in e || ("file" in e && e.file === MANIFEST_FILE));

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
  /** Default: kind when a kind exercise lab runs in the state dir, else local. */
  provider?: "local" | "kind";
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

/**
 * Starts a detached lab in the exercise's starting state; `down --state-dir` stops it. On kind, a
 * state dir that already holds a kind exercise lab is switched to this exercise in place (a new kind
 * cluster costs half a minute to two minutes); the local provider starts a new lab each time.
 */
export async function startExercise(o: StartExerciseOptions): Promise<{ files: ExerciseFiles; apiserverUp: boolean; reused?: boolean }> {
  const stateDir = resolve(o.stateDir);
  // Without --provider, a kind exercise lab already here is switched (it is what the trainee has open).
  const provider = o.provider ?? ((await readLabState(stateDir))?.provider === "kind" ? "kind" : "local");
  if (provider === "kind") return startKindExercise({ ...o, stateDir });
  await startExerciseLab(new LocalProvider({ apiserverManifest: true }), { ...o, stateDir });
  try {
    await mkdir(join(stateDir, EXERCISE_STATE_DIR), { recursive: true, mode: 0o700 });
    const up = await breakLab(stateDir, o.exercise);
    // What `reset` restores: the files as the trainee first saw them.
    const saved = join(stateDir, EXERCISE_STATE_DIR, "start");
    await rm(saved, { recursive: true, force: true });
    await cp(join(stateDir, "manifests"), join(saved, "manifests"), { recursive: true });
    await cp(join(stateDir, "admission"), join(saved, "admission"), { recursive: true });
    await writeProgress(stateDir, { name: o.exercise.doc.name, file: o.exercise.file, hintsShown: 0, startedAt: new Date().toISOString() });
    return { files: localExerciseFiles(stateDir), apiserverUp: up };
  } catch (err) {
    // A lab the trainee cannot use is not left running.
    await downLab(stateDir).catch(() => undefined);
    throw err;
  }
}

/** A detached lab (like `up`) with the exercise's starting profile (unchecked: some exercises start from a bad one) and backend. */
async function startExerciseLab(provider: ClusterProvider, o: StartExerciseOptions & { stateDir: string }): Promise<void> {
  const start = o.exercise.doc.start ?? {};
  const policy = start.backend ? await policyFromDoc(start.backend, resolve(o.exercise.file, ".."), "default") : undefined;
  await startLab({
    provider,
    stateDir: o.stateDir,
    profile: start.profile,
    skipLint: true,
    policy: policy ? withSystemNamespaces(policy) : undefined,
    fault: start.backend?.fault,
    detached: true,
    logger: o.logger,
    progress: o.progress,
    signal: o.signal,
  });
}

/** The starting edits and backend, on a local lab that is up; returns whether the apiserver is up after them. */
async function breakLab(stateDir: string, exercise: LoadedExercise): Promise<boolean> {
  const start = exercise.doc.start ?? {};
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const n = localExerciseNode(stateDir);
  const settle = await n.watchRestart();
  await applyEdits(n, start.edits ?? [], stub, resolve(exercise.file, ".."));
  return restarts(start.edits ?? [], "local") ? settle() : n.apiserverUp();
}

/** kind: the files as the cluster first came up (kubeadm's manifest, the admission files), from which every exercise starts. */
const PRISTINE_DIR = join(EXERCISE_STATE_DIR, "pristine");

async function startKindExercise(o: StartExerciseOptions & { stateDir: string }): Promise<{ files: ExerciseFiles; apiserverUp: boolean; reused: boolean }> {
  const { stateDir } = o;
  const state = await readLabState(stateDir);
  const reusable = state?.provider === "kind" && (await exists(join(stateDir, PRISTINE_DIR, "kube-apiserver.yaml")));
  if (state && !reusable) {
    throw new ConfigError([{ file: stateDir, path: "--state-dir", message: `a ${state.provider} lab that is not a kind exercise lab runs here; stop it (imagepolicy-lab down --state-dir ${stateDir}) or choose another directory` }], "state dir in use");
  }
  if (reusable) {
    const previous = await readProgress(stateDir).catch(() => undefined);
    const r = await task(o.progress, `switch the kind lab to ${o.exercise.doc.name}'s starting state`, () => prepareKindStart(stateDir, o.exercise, previous));
    return { ...r, reused: true };
  }
  await startExerciseLab(new KindProvider({ logger: o.logger }), o);
  try {
    const node = await exerciseNode(stateDir);
    const pristine = join(stateDir, PRISTINE_DIR);
    await mkdir(pristine, { recursive: true, mode: 0o700 });
    await writeFile(join(pristine, "kube-apiserver.yaml"), await node.read(MANIFEST_FILE), { mode: 0o600 });
    await cp(join(stateDir, "admission"), join(pristine, "admission"), { recursive: true });
    // The apiserver just started from exactly these files: a restart is needed only if the exercise changes them.
    const running = (await apiserverContainers(node.files.provider === "kind" ? node.files.node : "")).find((c) => c.running)?.id;
    const fresh = running ? { name: "", file: "", hintsShown: 0, startedAt: "", apiserverContainer: running, apiserverFiles: fingerprint(await pristineFiles(stateDir)) } : undefined;
    const r = await task(o.progress, `${o.exercise.doc.name}'s starting state`, () => prepareKindStart(stateDir, o.exercise, fresh));
    return { ...r, reused: false };
  } catch (err) {
    await downLab(stateDir).catch(() => undefined);
    throw err;
  }
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * kind: puts the lab into the exercise's starting state, from the pristine files: the admission
 * configuration with the exercise's profile, its starting edits, its backend. The apiserver is
 * restarted unless the files are already those and it still runs the container the lab last started
 * with exactly those files (`previous`): a trainee's own restart, or an edit made since, forces one.
 */
async function prepareKindStart(stateDir: string, exercise: LoadedExercise, previous: ExerciseProgress | undefined): Promise<{ files: ExerciseFiles; apiserverUp: boolean }> {
  const node = await exerciseNode(stateDir);
  const start = exercise.doc.start ?? {};
  const baseDir = resolve(exercise.file, "..");
  const pristine = join(stateDir, PRISTINE_DIR);
  const wanted = await pristineFiles(stateDir);
  const config = `admission/${ADMISSION_FILES.admissionConfig}`;
  wanted.set(config, withProfile(wanted.get(config) ?? "", { ...DEFAULT_PROFILE, ...start.profile }, join(pristine, config)));
  const fill = filler(node);
  for (const e of editsFor(start.edits ?? [], "kind")) {
    if ("file" in e) wanted.set(e.file, editText(wanted.get(e.file) ?? "", e, fill, `${exercise.file}: start.edits (${e.file})`));
  }

  // The backend first: the apiserver's own pods are reviewed as soon as it is back.
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const policy = await policyFromDoc(start.backend ?? {}, baseDir, "default");
  await stub.setPolicy(withSystemNamespaces(policy ?? DEFAULT_POLICY));
  await stub.setFault(start.backend?.fault ?? "healthy");
  await applyEdits(node, (start.edits ?? []).filter((x) => "stub" in x), stub, baseDir);

  const same = async () => {
    for (const [file, text] of wanted) {
      const now = await node.read(file).catch(() => undefined);
      if (file === MANIFEST_FILE ? now === undefined || withRestartAnnotation(now, undefined) !== withRestartAnnotation(text, undefined) : now !== text) return false;
    }
    return true;
  };
  const kindNode = node.files.provider === "kind" ? node.files.node : "";
  const running = (await apiserverContainers(kindNode)).find((c) => c.running)?.id;
  let up: boolean;
  const files = fingerprint(wanted);
  if (running && previous?.apiserverContainer === running && previous.apiserverFiles === files && (await same()) && (await node.apiserverUp())) {
    up = true;
  } else {
    const settle = await node.watchRestart();
    for (const [file, text] of wanted) if (file !== MANIFEST_FILE) await node.write(file, text);
    // Always a new manifest content (the annotation), so kubelet makes a new pod that reads the files.
    await node.write(MANIFEST_FILE, withRestartAnnotation(wanted.get(MANIFEST_FILE)!, new Date().toISOString()));
    up = await settle();
  }
  const apiserverContainer = up ? (await apiserverContainers(kindNode)).find((c) => c.running)?.id : undefined;
  await mkdir(join(stateDir, EXERCISE_STATE_DIR), { recursive: true, mode: 0o700 });
  await writeProgress(stateDir, { name: exercise.doc.name, file: exercise.file, hintsShown: 0, startedAt: new Date().toISOString(), ...(apiserverContainer ? { apiserverContainer, apiserverFiles: files } : {}) });
  return { files: node.files, apiserverUp: up };
}

/** kind: the manifest and admission files as the cluster first came up, by editable file name. */
async function pristineFiles(stateDir: string): Promise<Map<string, string>> {
  const pristine = join(stateDir, PRISTINE_DIR);
  const files = new Map<string, string>([[MANIFEST_FILE, await readFile(join(pristine, "kube-apiserver.yaml"), "utf8")]]);
  for (const name of (await readdir(join(pristine, "admission"))).sort()) files.set(`admission/${name}`, await readFile(join(pristine, "admission", name), "utf8"));
  return files;
}

/** A digest of a set of files (the manifest without the restart annotation, which changes on every restart). */
function fingerprint(files: Map<string, string>): string {
  const h = createHash("sha256");
  for (const [name, text] of [...files].sort(([a], [b]) => a.localeCompare(b))) h.update(`${name}\0${name === MANIFEST_FILE ? withRestartAnnotation(text, undefined) : text}\0`);
  return h.digest("hex");
}

/** An AdmissionConfiguration with the plugin's imagePolicy settings replaced (edited as YAML, comments and layout kept). */
export function withProfile(text: string, p: AdmissionProfile, file: string): string {
  const doc = parseDocument(text);
  const plugins = doc.get("plugins");
  const items = plugins && typeof plugins === "object" && "items" in plugins ? (plugins.items as unknown[]) : [];
  const i = items.findIndex((it) => (it as { get?: (k: string) => unknown }).get?.("name") === "ImagePolicyWebhook");
  if (doc.errors.length || i < 0) throw new ConfigError([{ file, path: "plugins", message: "no ImagePolicyWebhook entry to set the exercise's profile in" }], "failed to set the exercise's profile");
  for (const [k, v] of Object.entries(p)) doc.setIn(["plugins", i, "configuration", "imagePolicy", k], v);
  return doc.toString();
}

/** Back to the starting state: the starting files and backend; returns whether the apiserver is up. */
export async function resetExercise(stateDir: string): Promise<{ apiserverUp: boolean }> {
  const { exercise, progress } = await currentExercise(stateDir);
  if ((await readLabState(stateDir))?.provider === "kind") return { apiserverUp: (await prepareKindStart(stateDir, exercise, progress)).apiserverUp };
  const saved = join(stateDir, EXERCISE_STATE_DIR, "start");
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const start = exercise.doc.start ?? {};
  const policy = await policyFromDoc(start.backend ?? {}, resolve(exercise.file, ".."), "default");
  await stub.setPolicy(withSystemNamespaces(policy ?? DEFAULT_POLICY));
  await stub.setFault(start.backend?.fault ?? "healthy");
  const n = localExerciseNode(stateDir);
  await applyEdits(n, (start.edits ?? []).filter((x) => "stub" in x), stub, resolve(exercise.file, ".."));
  const settle = await n.watchRestart();
  await rm(join(stateDir, "admission"), { recursive: true, force: true });
  await cp(join(saved, "admission"), join(stateDir, "admission"), { recursive: true });
  // Always a restart: the admission files may have changed under a running apiserver.
  await n.write(MANIFEST_FILE, await readFile(join(saved, APISERVER_MANIFEST), "utf8"));
  await n.restartApiserver();
  await writeProgress(stateDir, { ...progress, hintsShown: 0 });
  return { apiserverUp: await settle() };
}

/** Applies the reference solution; returns whether the apiserver is up after it. */
export async function applySolution(stateDir: string): Promise<{ apiserverUp: boolean }> {
  const { exercise } = await currentExercise(stateDir);
  const stub = await stubClient(await readExerciseLabState(stateDir));
  const n = await exerciseNode(stateDir);
  const settle = await n.watchRestart();
  await applyEdits(n, exercise.doc.solution.edits, stub, resolve(exercise.file, ".."));
  return { apiserverUp: restarts(exercise.doc.solution.edits, n.provider) ? await settle() : await n.apiserverUp() };
}

/** The next hint (and how many there are), remembered in the state dir. */
export async function nextHint(stateDir: string): Promise<{ hint: string; number: number; of: number }> {
  const { exercise, progress } = await currentExercise(stateDir);
  const hints = exercise.doc.hints;
  const n = Math.min(progress.hintsShown + 1, hints.length);
  await writeProgress(stateDir, { ...progress, hintsShown: n });
  const { files } = await exerciseNode(stateDir);
  return { hint: forTrainee(hints[n - 1]!, files), number: n, of: hints.length };
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
  const n = await exerciseNode(stateDir);
  if (!(await n.apiserverUp())) {
    return {
      passed: false,
      apiserverUp: false,
      checks: exercise.doc.checks.map((c) => ({ name: c.name, passed: false, details: [] })),
      down: [`the apiserver does not answer: nothing can be checked until it runs`, ...(await n.downEvidence())],
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
    checks.push({ name: c.name, passed, explanation: passed ? undefined : forTrainee(c.whenFailing, n.files), details: passed ? [] : [...(r.reason ? [r.reason] : []), ...r.steps.filter((s) => s.verdict !== "pass").flatMap(stepDetails)] });
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
