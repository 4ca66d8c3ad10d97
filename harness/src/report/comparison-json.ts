// The comparison for machines: comparison.json. It holds the ComparisonReport whole (each run's
// RunReport exactly as its own report.json has it, without that file's schemaVersion) and, derived
// from it and written for readers who want the answer without recomputing it, the rows and the
// per-mechanism summaries. Versioned like json.ts.
import type { MechanismName } from "../mechanism/names.ts";
import type { RunReport, Verdict } from "../scenario/result.ts";
import { LabError } from "../util/errors.ts";
import type { ComparisonReport } from "./comparison.ts";
import { comparisonRows, comparisonTotals, mechanismSummaries, runMechanism, type ComparisonRow, type MechanismSummary, type NotApplicableCell, type PlayedCell } from "./comparison-model.ts";
import { REPORT_SCHEMA_VERSION } from "./json.ts";

/**
 * Version of comparison.json's layout. Bump it when a field is renamed, removed or changes meaning;
 * adding an optional field does not need a bump. The runs inside follow `runSchemaVersion`.
 */
export const COMPARISON_SCHEMA_VERSION = 1;

/** A row as written: a status that was not observed is `null` (JSON has no undefined). */
export type ComparisonJsonRow = Omit<ComparisonRow, "cells"> & {
  cells: (NotApplicableCell | (Omit<PlayedCell, "codes"> & { codes: (number | null)[] }))[];
};

/**
 * comparison.json. Fields whose value was not observed are absent (a cell's `latencyMs`, `denial`);
 * `backendCalls` is absent for a mechanism without a backend (VAP). Statistics are defined in
 * comparison-model.ts (LatencyStats: median, nearest-rank p99, sample count).
 */
export interface ComparisonJson {
  schemaVersion: typeof COMPARISON_SCHEMA_VERSION;
  /** The REPORT_SCHEMA_VERSION (json.ts) that each of `runs` follows. */
  runSchemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: ComparisonReport["tool"];
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  provider: string;
  k8sVersion: string;
  labError?: string;
  /** The runs' mechanisms, in the order of `runs` (and of every row's cells). */
  mechanisms: MechanismName[];
  /** Verdicts summed over the runs. */
  totals: Record<Verdict, number>;
  summaries: MechanismSummary[];
  rows: ComparisonJsonRow[];
  runs: RunReport[];
}

/** Pretty JSON (2-space indent, trailing newline), `schemaVersion` first, the runs last. */
export function renderComparisonJson(c: ComparisonReport): string {
  const doc: ComparisonJson = {
    schemaVersion: COMPARISON_SCHEMA_VERSION,
    runSchemaVersion: REPORT_SCHEMA_VERSION,
    tool: c.tool,
    startedAt: c.startedAt,
    finishedAt: c.finishedAt,
    durationMs: c.durationMs,
    provider: c.provider,
    k8sVersion: c.k8sVersion,
    ...(c.labError !== undefined ? { labError: c.labError } : {}),
    mechanisms: c.runs.map(runMechanism),
    totals: comparisonTotals(c),
    summaries: mechanismSummaries(c),
    rows: comparisonRows(c).map((r) => ({ ...r, cells: r.cells.map((cell) => (cell.applicable ? { ...cell, codes: cell.codes.map((x) => x ?? null) } : cell)) })),
    runs: c.runs,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/**
 * Reads comparison.json back into the ComparisonReport it was rendered from (rows and summaries are
 * derived data: recompute them with comparisonRows and mechanismSummaries). Throws a LabError naming
 * the field when the file is of another layout version or not a comparison at all.
 */
export function parseComparisonJson(text: string): ComparisonReport {
  const doc = JSON.parse(text) as Partial<ComparisonJson> | null;
  const fail = (what: string) => new LabError(`failed to read comparison JSON: ${what}`);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw fail(`expected an object, found ${Array.isArray(doc) ? "an array" : typeof doc}`);
  if (doc.schemaVersion !== COMPARISON_SCHEMA_VERSION) throw fail(`schemaVersion: expected ${COMPARISON_SCHEMA_VERSION}, found ${JSON.stringify(doc.schemaVersion)}`);
  if (doc.runSchemaVersion !== REPORT_SCHEMA_VERSION) throw fail(`runSchemaVersion: expected ${REPORT_SCHEMA_VERSION}, found ${JSON.stringify(doc.runSchemaVersion)}`);
  if (!Array.isArray(doc.runs)) throw fail(`runs: expected an array, found ${typeof doc.runs}`);
  const { tool, startedAt, finishedAt, durationMs, provider, k8sVersion, runs, labError } = doc as ComparisonJson;
  return { tool, startedAt, finishedAt, durationMs, provider, k8sVersion, runs, ...(labError !== undefined ? { labError } : {}) };
}
