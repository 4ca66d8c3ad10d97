// What a run produced: a verdict per scenario and the evidence behind it, per step. Reports
// (terminal, JUnit, JSON, HTML) are rendered from this and nothing else.
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import type { MechanismName } from "../mechanism/names.ts";
import type { AdmissionProfile } from "../profile/profile.ts";

export type Verdict = "pass" | "fail" | "error" | "skipped";

/** Printed where a value was not observed (no status code received), instead of a number nobody saw. */
export const NOT_OBSERVED = "not observed";

/** One expectation and what was observed. */
export interface CheckResult {
  what: string;
  expected: string;
  observed: string;
  ok: boolean;
}

export interface StepResult {
  index: number;
  /** The step's name, or a generated description such as "createPod p2 [nginx:1.25]". */
  name: string;
  action: string;
  request?: { kind: string; name?: string; namespace: string; images?: string[]; dryRun?: boolean };
  /**
   * The apiserver's answer as received. `code` is the HTTP status of the response, undefined when no
   * status was observed (reports print "not observed"); absent from JSON then. `durationMs`: from
   * sending the request to its answer, as measured here (the latency admission added is in it).
   */
  response?: { code: number | undefined; allowed: boolean; message?: string; durationMs?: number };
  /** Reviews the backend received during the step (all attempts of a repeat). */
  journal: JournalEntry[];
  checks: CheckResult[];
  /** Times the step was played (1 unless `repeat`). */
  attempts: number;
  startedAtMs: number;
  durationMs: number;
  /** Time spent waiting on purpose (wait steps, repeat loops, retry backoffs, timeouts). */
  unavoidableWaitMs: number;
  verdict: Verdict;
  error?: string;
  /**
   * What the step's evidence leaves out, and why. Set when the backend is the user's: its reviews are
   * not observed (so `journal` is empty without meaning "no reviews"), and checks that needed them or
   * the stub's wording were dropped.
   */
  notes?: string[];
}

export interface ScenarioResult {
  name: string;
  file: string;
  description: string;
  specRef?: string;
  profile: AdmissionProfile;
  namespace: string;
  verdict: Verdict;
  /** Why it was skipped or errored. */
  reason?: string;
  durationMs: number;
  unavoidableWaitMs: number;
  steps: StepResult[];
}

export interface RunReport {
  tool: { name: "imagepolicy-lab"; version: string };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  provider: string;
  /** The admission mechanism the lab ran (absent in reports written before mechanisms existed: ImagePolicyWebhook). */
  mechanism?: MechanismName;
  k8sVersion: string;
  /** Time to bring the lab up (0 when it was already running). */
  labStartMs: number;
  profileSwitches: { profile: AdmissionProfile; elapsedMs: number }[];
  scenarios: ScenarioResult[];
  totals: Record<Verdict, number>;
  /** Sum of waits that cannot be avoided (TTL expiries, retry backoffs, timeouts, apiserver restarts). */
  unavoidableWaitMs: number;
  /** Set when the lab itself could not run. */
  labError?: string;
  /** Set when the scenarios ran against the user's backend: where it was and the declared trust list the expectations follow. */
  externalBackend?: { url: string; trust: string[] };
  /** Set when ImagePolicyWebhook's backend was the lab's OPA with the shipped Rego (`run --backend opa`): its ImageReview decision URL. */
  opaBackend?: { url: string };
}

export function totals(scenarios: ScenarioResult[]): Record<Verdict, number> {
  const t: Record<Verdict, number> = { pass: 0, fail: 0, error: 0, skipped: 0 };
  for (const s of scenarios) t[s.verdict]++;
  return t;
}

/** Exit code for a run: 0 all pass, 1 some behavior differs, 2 the lab could not run. */
export function exitCodeFor(report: RunReport): 0 | 1 | 2 {
  if (report.labError || report.totals.error > 0) return 2;
  if (report.totals.fail > 0) return 1;
  return 0;
}
