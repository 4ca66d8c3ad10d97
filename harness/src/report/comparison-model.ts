// What the comparison says, as data: one row per scenario with a cell per mechanism, and one summary
// per mechanism. Every number is read from the runs' RunReports; a value nobody observed stays
// undefined (renderers print "not observed"), and a value that cannot exist (backend calls under VAP,
// which has no backend) stays undefined too (renderers print "n/a").
import { mechanismUsesStub, type MechanismName } from "../mechanism/names.ts";
import { exitCodeFor, NOT_OBSERVED, type RunReport, type ScenarioResult, type StepResult, type Verdict } from "../scenario/result.ts";
import type { ComparisonReport } from "./comparison.ts";

/** Median and 99th percentile of some request latencies, in milliseconds. */
export interface LatencyStats {
  /** The middle sample; with an even count, the mean of the two middle ones. */
  median: number;
  /**
   * Nearest-rank 99th percentile: the sample at rank ⌈0.99·n⌉. With fewer than 100 samples that is
   * the slowest one. Absent for a single sample, where it would only repeat the median.
   */
  p99?: number;
  /** How many latencies it is computed from. */
  samples: number;
}

/** A scenario the mechanism's run did not play. */
export interface NotApplicableCell {
  mechanism: MechanismName;
  applicable: false;
  /**
   * The mechanism's lab could not run (its RunReport has a labError), so the scenario's absence does
   * not mean it does not apply: renderers say "not run" rather than "not applicable".
   */
  notRun?: true;
}

/** A scenario as the mechanism's run played (or skipped) it. */
export interface PlayedCell {
  mechanism: MechanismName;
  applicable: true;
  verdict: Verdict;
  /** Why the scenario was skipped or errored, as the run reported it. */
  reason?: string;
  /** HTTP status of each request step, in step order; undefined where no status was observed. */
  codes: (number | undefined)[];
  /** The first refusal's message, as received (the first refused request step that carried one). */
  denial?: string;
  /** Reviews the stub journaled over all steps; undefined for a mechanism without a backend (VAP). */
  backendCalls?: number;
  /** Over the request steps' `response.durationMs`; undefined when none was measured (older reports). */
  latencyMs?: LatencyStats;
}

export type ComparisonCell = NotApplicableCell | PlayedCell;

export interface ComparisonRow {
  name: string;
  /** The scenario applies to two or more of the compared mechanisms (played or skipped there). */
  shared: boolean;
  /** One cell per run, in the order of `ComparisonReport.runs`. */
  cells: ComparisonCell[];
}

export interface MechanismSummary {
  mechanism: MechanismName;
  /** The run's own totals (scenarios it played or skipped). */
  totals: Record<Verdict, number>;
  /** Scenarios of the comparison that this run did not have (not applicable, or not run after a lab error). */
  notApplicable: number;
  /** Request steps over all scenarios (steps that sent a request to the apiserver). */
  requests: number;
  /** Request steps without an observed status. */
  statusNotObserved: number;
  /** Reviews the stub journaled over the run; undefined for a mechanism without a backend (VAP). */
  backendCalls?: number;
  /** Scenario time, as the run measured it (lab start not included). */
  durationMs: number;
  labStartMs: number;
  labError?: string;
  /**
   * Request latency (`response.durationMs`) over every request step of the run (`all`), and split by
   * the apiserver's answer: admitted (`allowed`) or refused (`denied`). Each is undefined when no step
   * of that kind had a measured latency.
   */
  latencyMs: { all?: LatencyStats; allowed?: LatencyStats; denied?: LatencyStats };
}

/** The mechanism a run used; reports written before mechanisms existed ran ImagePolicyWebhook (see RunReport.mechanism). */
export function runMechanism(r: RunReport): MechanismName {
  return r.mechanism ?? "imagepolicywebhook";
}

/**
 * The steps that sent a request to the apiserver: those that recorded a request or a response
 * (setBackend and wait steps record neither). A step that failed before sending anything has no
 * status to compare and is left out.
 */
export function requestSteps(s: ScenarioResult): StepResult[] {
  return s.steps.filter((st) => st.request !== undefined || st.response !== undefined);
}

/** Median and nearest-rank p99 of the finite samples; undefined when there are none. */
export function latencyStats(samples: readonly number[]): LatencyStats | undefined {
  const v = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return undefined;
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return n === 1 ? { median, samples: n } : { median, p99: v[Math.ceil(0.99 * n) - 1]!, samples: n };
}

function durations(steps: StepResult[]): number[] {
  return steps.flatMap((st) => (st.response?.durationMs === undefined ? [] : [st.response.durationMs]));
}

/**
 * Scenario names over all runs, each in the place it has in the runs that play it: a name missing
 * from an earlier run goes right after the scenario that precedes it in the run that has it.
 */
export function scenarioOrder(runs: readonly RunReport[]): string[] {
  const order: string[] = [];
  for (const r of runs) {
    let at = -1;
    for (const s of r.scenarios) {
      const i = order.indexOf(s.name);
      if (i >= 0) at = i;
      else order.splice(++at, 0, s.name);
    }
  }
  return order;
}

/** A run's scenarios by name (the first, should a name repeat). */
function byName(r: RunReport): Map<string, ScenarioResult> {
  const m = new Map<string, ScenarioResult>();
  for (const s of r.scenarios) if (!m.has(s.name)) m.set(s.name, s);
  return m;
}

function playedCell(mechanism: MechanismName, s: ScenarioResult): PlayedCell {
  const steps = requestSteps(s);
  const cell: PlayedCell = { mechanism, applicable: true, verdict: s.verdict, codes: steps.map((st) => st.response?.code) };
  if (s.reason !== undefined) cell.reason = s.reason;
  const denial = steps.find((st) => st.response && !st.response.allowed && st.response.message !== undefined)?.response?.message;
  if (denial !== undefined) cell.denial = denial;
  if (mechanismUsesStub(mechanism)) cell.backendCalls = s.steps.reduce((a, st) => a + st.journal.length, 0);
  const latency = latencyStats(durations(steps));
  if (latency) cell.latencyMs = latency;
  return cell;
}

/** One row per scenario of any run (in scenarioOrder), with a cell per run. */
export function comparisonRows(c: ComparisonReport): ComparisonRow[] {
  const maps = c.runs.map(byName);
  return scenarioOrder(c.runs).map((name) => {
    const cells = c.runs.map((r, i): ComparisonCell => {
      const mechanism = runMechanism(r);
      const s = maps[i]!.get(name);
      if (s) return playedCell(mechanism, s);
      return r.labError ? { mechanism, applicable: false, notRun: true } : { mechanism, applicable: false };
    });
    return { name, shared: cells.filter((x) => x.applicable).length >= 2, cells };
  });
}

/** One summary per run, in the order of `ComparisonReport.runs`. */
export function mechanismSummaries(c: ComparisonReport): MechanismSummary[] {
  const all = scenarioOrder(c.runs).length;
  return c.runs.map((r) => {
    const mechanism = runMechanism(r);
    const steps = r.scenarios.flatMap(requestSteps);
    const summary: MechanismSummary = {
      mechanism,
      totals: r.totals,
      notApplicable: all - byName(r).size,
      requests: steps.length,
      statusNotObserved: steps.filter((st) => st.response?.code === undefined).length,
      durationMs: r.durationMs,
      labStartMs: r.labStartMs,
      latencyMs: {},
    };
    if (mechanismUsesStub(mechanism)) summary.backendCalls = r.scenarios.reduce((a, s) => a + s.steps.reduce((b, st) => b + st.journal.length, 0), 0);
    if (r.labError !== undefined) summary.labError = r.labError;
    const stats = {
      all: latencyStats(durations(steps)),
      allowed: latencyStats(durations(steps.filter((st) => st.response?.allowed === true))),
      denied: latencyStats(durations(steps.filter((st) => st.response?.allowed === false))),
    };
    for (const k of ["all", "allowed", "denied"] as const) if (stats[k]) summary.latencyMs[k] = stats[k];
    return summary;
  });
}

/** Verdict counts summed over the runs (a scenario played under three mechanisms counts three times). */
export function comparisonTotals(c: ComparisonReport): Record<Verdict, number> {
  const t: Record<Verdict, number> = { pass: 0, fail: 0, error: 0, skipped: 0 };
  for (const r of c.runs) for (const v of ["pass", "fail", "error", "skipped"] as const) t[v] += r.totals[v];
  return t;
}

/** Exit code for the comparison: the worst of its runs' (exitCodeFor); 2 when it has a labError or no run at all. */
export function comparisonExitCode(c: ComparisonReport): 0 | 1 | 2 {
  if (c.labError || c.runs.length === 0) return 2;
  return Math.max(...c.runs.map(exitCodeFor)) as 0 | 1 | 2;
}

/** The statuses as every renderer writes them, `201×3 403`: a status repeated by consecutive steps is written once with its count. */
export function codesText(codes: readonly (number | undefined)[]): string {
  const parts: string[] = [];
  for (let i = 0; i < codes.length; ) {
    let j = i;
    while (j + 1 < codes.length && codes[j + 1] === codes[i]) j++;
    const n = j - i + 1;
    parts.push(`${codes[i] ?? NOT_OBSERVED}${n > 1 ? `×${n}` : ""}`);
    i = j + 1;
  }
  return parts.join(" ");
}
