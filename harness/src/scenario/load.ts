// Loads scenario files: parse (YAML with positions), validate (schema per step), default and check
// cross-field rules. Every problem names file, line and field; nothing runs when a file is invalid.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { lintProfile } from "../profile/profile.ts";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";
import { readYamlSource, zodIssues, type YamlLimits, type YamlSource } from "../util/yaml-source.ts";
import { DEFAULT_MECHANISM, isMechanismName, type MechanismName } from "../mechanism/names.ts";
import { opaFaultIssue } from "../mechanism/opa-faults.ts";
import { BACKEND_EXPECTATIONS } from "./for-mechanism.ts";
import { scenarioSchema, STEP_ACTIONS, stepSchemas, type ScenarioDoc, type StepDoc } from "./schema.ts";

export interface LoadedScenario {
  file: string;
  doc: ScenarioDoc;
  /** Line of `name:`, for messages about the scenario as a whole (duplicate names). */
  nameLine?: number;
}

/** The catalog shipped with the project. */
export const CATALOG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../scenarios");

/**
 * How big a scenario file may be. The catalog's largest is 1.5 KB with 10 steps; these leave room
 * for hundreds of steps and refuse, in milliseconds, the 20 MB files that once took minutes to load.
 */
export const SCENARIO_YAML_LIMITS: Readonly<YamlLimits> = Object.freeze({ maxBytes: 256 * 1024, maxNodes: 20_000 });

export async function loadScenarioFile(file: string): Promise<LoadedScenario> {
  const src = await readYamlSource(file, SCENARIO_YAML_LIMITS);
  const issues = validateScenario(src);
  if (issues.length) throw new ConfigError(issues, `invalid scenario ${file}`);
  return { file, doc: src.value as ScenarioDoc, nameLine: src.lineOf(["name"]) };
}

export function validateScenario(src: YamlSource): ConfigIssue[] {
  const top = scenarioSchema.safeParse(src.value);
  // Collect every problem: a bad header does not hide bad steps or a bad profile.
  const issues: ConfigIssue[] = top.success ? [] : zodIssues(src, top.error);
  const value = (src.value && typeof src.value === "object" ? src.value : {}) as { steps?: unknown; profile?: unknown; namespaces?: unknown; mechanisms?: unknown; backend?: unknown };
  const scenarioMechanisms = scenarioMechanismsOf(value.mechanisms);
  issues.push(...vapBackendIssues(value.backend, scenarioMechanisms, (p) => src.lineOf(["backend", ...p]), "backend", src.file));
  issues.push(...opaBackendIssues(value.backend, scenarioMechanisms, (p) => src.lineOf(["backend", ...p]), "backend", src.file));
  const steps = Array.isArray(value.steps) ? (value.steps as unknown[]) : [];
  const declared = Array.isArray(value.namespaces) ? value.namespaces.filter((n): n is string => typeof n === "string") : [];
  const marks = new Set<string>();
  steps.forEach((raw, i) => {
    const at = (path: PropertyKey[], message: string) =>
      issues.push({ file: src.file, line: src.lineOf(["steps", i, ...path]), path: ["steps", i, ...path].map(String).join("."), message });
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) return at([], "a step must be a mapping with one action");
    // A step that fails validation still sets its mark, so later steps get no follow-on errors.
    const rawMark = (raw as { mark?: unknown }).mark;
    const keepMark = () => typeof rawMark === "string" && marks.add(rawMark);
    const actions = STEP_ACTIONS.filter((a) => a in raw);
    if (actions.length !== 1) {
      keepMark();
      return at([], `a step needs exactly one action (${STEP_ACTIONS.join(", ")}), found ${actions.length ? actions.join(", ") : "none"}`);
    }
    const action = actions[0]!;
    const parsed = stepSchemas[action].safeParse(raw);
    if (!parsed.success) {
      keepMark();
      for (const issue of zodIssues({ file: src.file, lineOf: (p) => src.lineOf(["steps", i, ...p]) }, parsed.error)) {
        issues.push({ ...issue, path: `steps.${i}${issue.path ? `.${issue.path}` : ""}` });
      }
      return;
    }
    const step = parsed.data as StepDoc;
    const refs = [
      ["backendCallsSince", step.expect?.backendCallsSince?.mark],
      ["sinceMarkMs", step.expect?.sinceMarkMs?.mark],
    ] as const;
    for (const [key, ref] of refs) {
      if (ref !== undefined && !marks.has(ref) && ref !== step.mark) {
        at(["expect", key, "mark"], `mark "${ref}" is not set by this or an earlier step${marks.size ? ` (set so far: ${[...marks].join(", ")})` : ""}`);
      }
    }
    if (step.mark) marks.add(step.mark);
    // Only the scenario's own namespace and those listed in `namespaces:` are created for it.
    const target = (step as Record<string, unknown>)[action] as { namespace?: unknown } | undefined;
    const ns = target && typeof target === "object" ? target.namespace : undefined;
    if (typeof ns === "string" && !declared.includes(ns)) {
      at([action, "namespace"], `namespace "${ns}" is not listed in the scenario's namespaces (${declared.length ? `listed: ${declared.join(", ")}` : "none listed"}); add it there so it is created`);
    }
    // A step plays under the scenario's mechanisms, or the subset it names; its per-mechanism
    // expectations must name one of those, or they would never be checked.
    const stepMechanisms = step.mechanisms ?? scenarioMechanisms;
    for (const m of step.mechanisms ?? []) {
      if (!scenarioMechanisms.includes(m)) at(["mechanisms"], `mechanism ${m} is not one the scenario applies to (mechanisms: ${scenarioMechanisms.join(", ")})`);
    }
    for (const m of Object.keys(step.expect?.byMechanism ?? {})) {
      if (!stepMechanisms.includes(m as MechanismName)) {
        at(["expect", "byMechanism", m], `expectations for ${m}, but this step plays only under ${stepMechanisms.join(", ")}${value.mechanisms === undefined ? " (a scenario without `mechanisms:` applies to imagepolicywebhook only)" : ""}`);
      }
    }
    // Nothing calls the stub under vap or opa: a journal count there would be a number nobody observed.
    for (const m of ["vap", "opa"] as const) {
      for (const k of BACKEND_EXPECTATIONS) {
        const v = step.expect?.byMechanism?.[m]?.[k];
        const why = m === "vap" ? "vap has no backend" : "opa's calls go to OPA, which the lab does not journal";
        if (v !== undefined && v !== null) at(["expect", "byMechanism", m, k], `${why}, so ${k} is never observed under it`);
      }
    }
    if ("setBackend" in step) {
      const lineOf = (p: PropertyKey[]) => src.lineOf(["steps", i, "setBackend", ...p]);
      issues.push(...vapBackendIssues(step.setBackend, stepMechanisms, lineOf, `steps.${i}.setBackend`, src.file));
      issues.push(...opaBackendIssues(step.setBackend, stepMechanisms, lineOf, `steps.${i}.setBackend`, src.file));
    }
    if (step.repeat && !step.expect) at(["repeat"], "repeat needs expectations to wait for");
    if ("wait" in step && step.expect) at(["expect"], "a wait step has nothing to check");
  });
  // Range checks only once the profile has the right shape (its schema issues are reported above).
  if (value.profile !== undefined && !issues.some((i) => i.path === "profile" || i.path.startsWith("profile."))) {
    const lint = lintProfile(value.profile, { file: src.file, basePath: "profile", lineOf: (p) => src.lineOf(["profile", ...p]) });
    issues.push(...lint.errors);
  }
  return issues;
}

function scenarioMechanismsOf(raw: unknown): MechanismName[] {
  if (!Array.isArray(raw)) return [DEFAULT_MECHANISM];
  return raw.filter((m): m is MechanismName => typeof m === "string" && isMechanismName(m));
}

/**
 * A ValidatingAdmissionPolicy has no backend: nothing to fault, and its policy is a trust list. A
 * backend block that says otherwise for a scenario (or step) that plays under vap is an error.
 */
function vapBackendIssues(raw: unknown, mechanisms: MechanismName[], lineOf: (p: PropertyKey[]) => number | undefined, path: string, file: string): ConfigIssue[] {
  if (!mechanisms.includes("vap") || !raw || typeof raw !== "object") return [];
  const b = raw as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  if (b.fault !== undefined && b.fault !== "healthy") {
    const fix = path === "backend" ? "list only imagepolicywebhook and webhook in the scenario's `mechanisms:`" : "give this step `mechanisms: [imagepolicywebhook, webhook]`";
    issues.push({ file, line: lineOf(["fault"]), path: `${path}.fault`, message: `vap has no backend to fail: a fault applies to imagepolicywebhook and webhook only (${fix})` });
  }
  for (const k of ["policy", "policyFile"]) {
    if (b[k] !== undefined) issues.push({ file, line: lineOf([k]), path: `${path}.${k}`, message: `vap's policy is a trust list: use \`trust:\` (registries and repositories), not ${k}` });
  }
  return issues;
}

/**
 * Under opa the backend is a real OPA with the shipped policy: its policy is a trust list, and it
 * plays only the faults opa-faults.ts lists (stopped, an undefined decision). A backend block that
 * asks for more, in a scenario (or step) that plays under opa, is an error.
 */
function opaBackendIssues(raw: unknown, mechanisms: MechanismName[], lineOf: (p: PropertyKey[]) => number | undefined, path: string, file: string): ConfigIssue[] {
  if (!mechanisms.includes("opa") || !raw || typeof raw !== "object") return [];
  const b = raw as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  const others = mechanisms.filter((m) => m !== "opa");
  const fix = path === "backend" ? "leave opa out of the scenario's `mechanisms:`" : `give this step \`mechanisms: [${others.join(", ")}]\``;
  const problem = typeof b.fault === "string" ? opaFaultIssue(b.fault) : undefined;
  if (problem) issues.push({ file, line: lineOf(["fault"]), path: `${path}.fault`, message: `${problem} (${fix})` });
  for (const k of ["policy", "policyFile"]) {
    if (b[k] !== undefined) issues.push({ file, line: lineOf([k]), path: `${path}.${k}`, message: `opa's policy (policies/opa) takes a trust list: use \`trust:\` (registries and repositories), not ${k}` });
  }
  return issues;
}

/** Resolves CLI arguments: files, directories, or names from the catalog. Empty = whole catalog. */
export async function resolveScenarioArgs(args: string[], catalogDir = CATALOG_DIR): Promise<string[]> {
  if (!args.length) return listYaml(catalogDir);
  const files: string[] = [];
  for (const arg of args) {
    const st = await stat(arg).catch(() => undefined);
    if (st?.isDirectory()) files.push(...(await listYaml(arg)));
    else if (st?.isFile()) files.push(resolve(arg));
    else {
      const candidate = join(catalogDir, `${arg}.yaml`);
      if (await stat(candidate).catch(() => undefined)) files.push(candidate);
      else {
        const known = (await listYaml(catalogDir)).map((f) => basename(f, extname(f)));
        throw new ConfigError([{ file: arg, path: "", message: `no such file, and no catalog scenario of that name (known: ${known.join(", ")})` }], "unknown scenario");
      }
    }
  }
  return files;
}

async function listYaml(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => resolve(dir, f));
}

/** Loads every file; collects all problems of all files into one ConfigError. */
export async function loadScenarios(files: string[]): Promise<LoadedScenario[]> {
  const loaded: LoadedScenario[] = [];
  const issues: ConfigIssue[] = [];
  for (const f of files) {
    try {
      loaded.push(await loadScenarioFile(f));
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
  }
  const seen = new Map<string, string>();
  for (const s of loaded) {
    const prev = seen.get(s.doc.name);
    if (prev) issues.push({ file: s.file, line: s.nameLine, path: "name", message: `scenario name "${s.doc.name}" is also used by ${prev}` });
    else seen.set(s.doc.name, s.file);
  }
  if (issues.length) throw new ConfigError(issues, "invalid scenarios");
  return loaded;
}
