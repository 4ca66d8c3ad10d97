// `exercise list|start|check|hint|solution|reset`: training exercises on a running local lab (issue 14).
import { isAbsolute, relative, resolve } from "node:path";
import pc from "picocolors";
import { EXERCISES_DIR, findExercise, loadExercises } from "../../exercise/load.ts";
import { applySolution, checkExercise, currentExercise, describeEdit, exerciseFiles, nextHint, resetExercise, startExercise } from "../../exercise/session.ts";
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

export async function start(name: string, flags: { stateDir?: string; provider?: "local" | "kind" | "auto" }, io: CliIO, g: Globals): Promise<number> {
  const exercise = await findExercise(name);
  const stateDir = dirOf(io, flags);
  // kind is refused before anything is created (startExercise says why).
  if (flags.provider !== "kind") await ensureWritableDir(stateDir, "--state-dir");
  const { files, apiserverUp } = await startExercise({
    exercise,
    stateDir,
    provider: flags.provider,
    logger: terminalLogger(io, g.verbose),
    progress: terminalProgress(io, g.quiet),
  });
  const d = shown(io, stateDir);
  const rel = (p: string) => shown(io, p);
  io.stdout.write(`\n${pc.bold(`Exercise ${exercise.doc.name}: ${exercise.doc.title}`)}\n\n${exercise.doc.task.trim()}\n\n`);
  io.stdout.write(
    [
      `Your files:`,
      `  apiserver manifest   ${rel(files.manifest)}   (saving it restarts the apiserver; \`touch\` it after editing an admission file)`,
      `  admission directory  ${rel(files.admissionDir)}/`,
      `  kubeconfig           export KUBECONFIG=${files.kubeconfig}`,
      `  apiserver log        ${rel(files.apiserverLog)}`,
      `  restarts             ${rel(files.kubeletLog)}`,
      `  the backend          imagepolicy-lab stub set|journal --state-dir ${d}`,
      ``,
      apiserverUp ? `The apiserver is running.` : pc.yellow(`The apiserver is not running (part of the exercise): read ${rel(files.apiserverLog)}.`),
      `Next: imagepolicy-lab exercise check|hint|solution|reset --state-dir ${d}; when done: imagepolicy-lab down --state-dir ${d}`,
      ``,
    ].join("\n"),
  );
  return 0;
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
  io.stdout.write(`${s.text.trim()}\n\nThe edits (${"{{stateDir}}"} is ${exerciseFiles(stateDir).manifest.replace(/\/manifests\/.*$/, "")}):\n`);
  for (const e of s.edits) io.stdout.write(`  - ${describeEdit(e)}\n`);
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
