// The comparison of mechanisms: `run --mechanism all` plays the catalog once per admission mechanism
// and reports them side by side. This module is the entry point: the ComparisonReport that the run
// produces, and (re-exported) the model every comparison renderer reads (comparison-model.ts), the
// terminal table, JSON, JUnit and HTML renderers, and the writer of the report directory.
import type { RunReport } from "../scenario/result.ts";

/** What `run --mechanism all` produced: one RunReport per mechanism, each as a single run reports it. */
export interface ComparisonReport {
  tool: RunReport["tool"];
  /** When the comparison began and ended (ISO 8601), labs included. */
  startedAt: string;
  finishedAt: string;
  /** Wall time of the whole comparison, every lab's start and stop included. */
  durationMs: number;
  provider: string;
  k8sVersion: string;
  /**
   * One run per mechanism, in MECHANISM_NAMES order; a mechanism none of the selected scenarios
   * applies to may be missing. A mechanism whose lab failed is a run with `labError` and no scenarios.
   */
  runs: RunReport[];
  /** Set when some part of the comparison could not run; a mechanism's own lab failure is also in its run. */
  labError?: string;
}

export {
  codesText,
  comparisonExitCode,
  comparisonRows,
  comparisonTotals,
  latencyStats,
  mechanismSummaries,
  requestSteps,
  runMechanism,
  scenarioOrder,
  type ComparisonCell,
  type ComparisonRow,
  type LatencyStats,
  type MechanismSummary,
  type NotApplicableCell,
  type PlayedCell,
} from "./comparison-model.ts";
export { renderComparisonTable, type ComparisonTableOptions } from "./comparison-terminal.ts";
export { renderComparisonJson, parseComparisonJson, COMPARISON_SCHEMA_VERSION, type ComparisonJson, type ComparisonJsonRow } from "./comparison-json.ts";
export { renderComparisonJUnit } from "./comparison-junit.ts";
export { renderComparisonHtml } from "./comparison-html.ts";
export { writeComparisonReports, COMPARISON_FILES } from "./write-comparison-reports.ts";
