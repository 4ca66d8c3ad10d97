// `exercise list|start|check|hint|solution|reset`: training exercises on a running lab, local or kind (issue 14).
import { isAbsolute, relative, resolve } from "node:path";
import pc from "picocolors";
import { EXERCISES_DIR, findExercise, loadExercises } from "../../exercise/load.ts";
import { applySolution, checkExercise, currentExercise, describeEdit, editsFor, exerciseNode, nextHint, resetExercise, startExercise, type ExerciseFiles } from "../../exercise/session.ts";
import { forTrainee } from "../../exercise/trainee-words.ts";
import { ensureWritableDir } from "../../util/dirs.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

/** Where the exercise lab lives when no --state-dir is given. */
export const DEFAULT_EXERCISE_DIR = ".lab-exercise";

interface Globals {
  verbose?: boolean;
  quiet?: boolean;
}

const dirOf = (io: CliIO, flags: { stateDir?: string }) => resolve(io.cwd, flags.stateDir ?? DEFAULT_EXERCISE_DIR);
/** A path as short as it is clear: relative below the working directory, else absolute. */
const shown = (io: CliIO, p: string) => {
  const r = relative(io.cwd, p);
  return r === "" ? "." : r.startsWith("..") || isAbsolute(r) ? p : r;
};

export async function list(io: CliIO): Promise<number> {
  const all = await loadExercises();
  const width = Math.max(...all.map((e) => e.doc.name.length));
  for (const e of all) io.stdout.write(`${e.doc.name.padEnd(width)}  ${e.doc.title}\n`);
  io.stdout.write(`${all.length} exercises in ${relative(io.cwd, EXERCISES_DIR) || "."}; start one with \`exercise start NAME\`\n`);
  return 0;
}

export async function start(name: string, flags: { stateDir?: string; provider?: "local" | "kind" }, io: CliIO, g: Globals): Promise<number> {
  const exercise = await findExercise(name);
  const stateDir = dirOf(io, flags);
  await ensureWritableDir(stateDir, "--state-dir");
  const { files, apiserverUp, reused } = await startExercise({
    exercise,
    stateDir,
    provider: flags.provider,
    logger: terminalLogger(io, g.verbose),
    progress: terminalProgress(io, g.quiet),
  });
  const d = shown(io, stateDir);
  io.stdout.write(`\n${pc.bold(`Exercise ${exercise.doc.name}: ${exercise.doc.title}`)}\n\n${forTrainee(exercise.doc.task.trim(), files)}\n\n`);
  io.stdout.write([...whereFiles(io, files, d), ``].join("\n"));
  if (reused) io.stdout.write(pc.dim(`(the kind cluster of this state dir was reused: its files and backend are back in this exercise's starting state)\n`));
  io.stdout.write(
    [
      apiserverUp ? `The apiserver is running.` : pc.yellow(`The apiserver is not running (part of the exercise): ${files.provider === "kind" ? `read its log in the node (above)` : `read ${shown(io, files.apiserverLog)}`}.`),
      `Next: imagepolicy-lab exercise check|hint|solution|reset --state-dir ${d}; when done: imagepolicy-lab down --state-dir ${d}`,
      ``,
    ].join("\n"),
  );
  return 0;
}

/** The trainee's files and logs, as they reach them on the lab's provider. */
function whereFiles(io: CliIO, f: ExerciseFiles, d: string): string[] {
  const rel = (p: string) => shown(io, p);
  if (f.provider === "local") {
    return [
      `Your files:`,
      `  apiserver manifest   ${rel(f.manifest)}   (saving it restarts the apiserver; \`touch\` it after editing an admission file)`,
      `  admission directory  ${rel(f.admissionDir)}/`,
      `  kubeconfig           export KUBECONFIG=${f.kubeconfig}`,
      `  apiserver log        ${rel(f.apiserverLog)}`,
      `  restarts             ${rel(f.kubeletLog)}`,
      `  the backend          imagepolicy-lab stub set|journal --state-dir ${d}`,
      ``,
    ];
  }
  const exec = `docker exec ${f.node}`;
  return [
    `Your files (a kind cluster; its control-plane node is the container ${f.node}):`,
    `  a shell on the node  docker exec -it ${f.node} bash`,
    `  apiserver manifest   ${f.manifest}   (in the node; kubelet restarts the apiserver when its content changes: 20-60 s)`,
    `  admission directory  ${rel(f.admissionDir)}/   (edit it here; the node sees it read-only at ${f.admissionDirInNode})`,
    `  restart after an admission file edit: change the manifest (e.g. an annotation); \`touch\` is not a change for kubelet`,
    `  kubeconfig           export KUBECONFIG=${f.kubeconfig}`,
    `  apiserver log        ${exec} crictl ps -a --name kube-apiserver; ${exec} crictl logs CONTAINER`,
    `                       (files in the node: ${f.apiserverLogDir})`,
    `  restarts             ${exec} journalctl -u kubelet`,
    `  the backend          imagepolicy-lab stub set|journal --state-dir ${d}`,
    ``,
  ];
}

export async function check(flags: { stateDir?: string }, io: CliIO): Promise<number> {
  const stateDir = dirOf(io, flags);
  const { exercise } = await currentExercise(stateDir);
  io.stdout.write(`checking ${exercise.doc.name} against the running apiserver…\n`);
  const r = await checkExercise(stateDir);
  const [down, ...evidence] = r.down ?? [];
  if (down) io.stdout.write(`${pc.red("✗")} ${down}\n${evidence.map((l) => pc.dim(`    ${l}\n`)).join("")}`);
  for (const c of r.checks) {
    io.stdout.write(`${c.passed ? pc.green("✓") : pc.red("✗")} ${c.name}\n`);
    if (c.explanation) io.stdout.write(`    ${c.explanation}\n`);
    for (const d of c.details) io.stdout.write(pc.dim(`    ${d}\n`));
  }
  const n = r.checks.filter((c) => c.passed).length;
  io.stdout.write(r.passed ? pc.green(`solved: all ${n} checks pass\n`) : `${n} of ${r.checks.length} checks pass (a hint: imagepolicy-lab exercise hint --state-dir ${shown(io, stateDir)})\n`);
  return r.passed ? 0 : 1;
}

export async function hint(flags: { stateDir?: string }, io: CliIO): Promise<number> {
  const h = await nextHint(dirOf(io, flags));
  io.stdout.write(`hint ${h.number} of ${h.of}: ${h.hint.trim()}\n`);
  if (h.number === h.of) io.stdout.write(pc.dim(`(that was the last hint; \`exercise solution\` shows the fix)\n`));
  return 0;
}

export async function solution(flags: { stateDir?: string; apply?: boolean }, io: CliIO): Promise<number> {
  const stateDir = dirOf(io, flags);
  const { exercise } = await currentExercise(stateDir);
  const s = exercise.doc.solution;
  const node = await exerciseNode(stateDir);
  const p = node.placeholders;
  io.stdout.write(`${s.text.trim()}\n\nThe edits (${"{{stateDir}}"} is ${p.stateDir}, ${"{{admissionDir}}"} is ${p.admissionDir}${node.provider === "kind" ? " in the node" : ""}):\n`);
  for (const e of editsFor(s.edits, node.provider)) io.stdout.write(`  - ${describeEdit(e, node.provider)}\n`);
  if (!flags.apply) {
    io.stdout.write(pc.dim(`(apply them with \`exercise solution --apply --state-dir ${shown(io, stateDir)}\`)\n`));
    return 0;
  }
  const r = await applySolution(stateDir);
  io.stdout.write(`applied; the apiserver is ${r.apiserverUp ? "running" : "not running"}. Now: imagepolicy-lab exercise check --state-dir ${shown(io, stateDir)}\n`);
  return 0;
}

export async function reset(flags: { stateDir?: string }, io: CliIO): Promise<number> {
  const stateDir = dirOf(io, flags);
  const r = await resetExercise(stateDir);
  io.stdout.write(`back to the starting state (files and backend; hints start over); the apiserver is ${r.apiserverUp ? "running" : "not running"}\n`);
  return 0;
}
