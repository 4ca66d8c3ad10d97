// Loads exercise files: YAML with positions, the exercise schema, and each check's steps through the
// scenario loader's own validation, so a check step has exactly the scenario format's rules.
import { readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { validateScenario, type LoadedScenario } from "../scenario/load.ts";
import type { ScenarioDoc } from "../scenario/schema.ts";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";
import { readYamlSource, zodIssues, type YamlSource } from "../util/yaml-source.ts";
import { exerciseSchema, type ExerciseDoc } from "./schema.ts";

export interface LoadedExercise {
  file: string;
  doc: ExerciseDoc;
}

/** The exercises shipped with the project. */
export const EXERCISES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../exercises");

export async function loadExerciseFile(file: string): Promise<LoadedExercise> {
  const src = await readYamlSource(file, { maxBytes: 256 * 1024, maxNodes: 20_000 });
  const issues = validateExercise(src);
  if (issues.length) throw new ConfigError(issues, `invalid exercise ${file}`);
  return { file, doc: src.value as ExerciseDoc };
}

export function validateExercise(src: YamlSource): ConfigIssue[] {
  const top = exerciseSchema.safeParse(src.value);
  const issues: ConfigIssue[] = top.success ? [] : zodIssues(src, top.error);
  const value = (src.value && typeof src.value === "object" ? src.value : {}) as { checks?: unknown };
  const checks = Array.isArray(value.checks) ? (value.checks as unknown[]) : [];
  checks.forEach((c, i) => {
    const steps = c && typeof c === "object" ? (c as { steps?: unknown }).steps : undefined;
    if (!Array.isArray(steps)) return;
    // The scenario loader validates the steps; its paths are re-rooted under checks.<i>.
    const view: YamlSource = {
      ...src,
      value: { apiVersion: "imagepolicy-lab.dev/v1alpha1", kind: "Scenario", name: "check", description: "check", steps },
      lineOf: (p) => src.lineOf(["checks", i, ...p]),
    };
    for (const issue of validateScenario(view)) issues.push({ ...issue, path: `checks.${i}.${issue.path}` });
    steps.forEach((st, j) => {
      // A check observes; changing the backend would undo what the trainee set.
      if (st && typeof st === "object" && "setBackend" in st) {
        issues.push({ file: src.file, line: src.lineOf(["checks", i, "steps", j, "setBackend"]), path: `checks.${i}.steps.${j}.setBackend`, message: "a check may not change the backend (it would undo the trainee's settings); use start.backend or solution.edits" });
      }
    });
  });
  return issues;
}

/** Every exercise in `dir`, sorted by file name; every invalid file is reported at once. */
export async function loadExercises(dir = EXERCISES_DIR): Promise<LoadedExercise[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".yaml")).sort();
  const loaded: LoadedExercise[] = [];
  const issues: ConfigIssue[] = [];
  for (const f of files) {
    try {
      loaded.push(await loadExerciseFile(join(dir, f)));
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  if (issues.length) throw new ConfigError(issues, "invalid exercises");
  return loaded;
}

/** Finds an exercise by name; the error lists the names there are. */
export async function findExercise(name: string, dir = EXERCISES_DIR): Promise<LoadedExercise> {
  const all = await loadExercises(dir);
  const found = all.find((e) => e.doc.name === name);
  if (!found) throw new ConfigError([{ file: dir, path: "", message: `no exercise named "${name}"; there are: ${all.map((e) => e.doc.name).join(", ")}` }], "unknown exercise");
  return found;
}

/** A check as a scenario the runner plays (its namespace is named after the exercise). */
export function checkScenario(e: LoadedExercise, i: number): LoadedScenario {
  const c = e.doc.checks[i]!;
  const doc = { apiVersion: "imagepolicy-lab.dev/v1alpha1", kind: "Scenario", name: `${e.doc.name}-c${i + 1}`, description: c.name, steps: c.steps } as ScenarioDoc;
  return { file: e.file, doc };
}
