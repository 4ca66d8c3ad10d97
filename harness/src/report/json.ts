// The machine-readable report: the RunReport exactly as the runner produced it, all evidence kept,
// tagged with a schema version so tools reading old files can tell what they hold.
import type { RunReport } from "../scenario/result.ts";

/**
 * Version of the JSON layout. Bump it when a field of RunReport (or what it contains) is renamed,
 * removed or changes meaning; adding an optional field does not need a bump.
 *
 * 2: `steps[].response.code` is the status received and is absent when none was observed; in 1 an
 *    allowed request's code was assumed (201 for creates, 200 for updates).
 */
export const REPORT_SCHEMA_VERSION = 2;

export type JsonReport = { schemaVersion: typeof REPORT_SCHEMA_VERSION } & RunReport;

/** Pretty JSON (2-space indent, trailing newline), `schemaVersion` first. */
export function renderJson(report: RunReport): string {
  const doc: JsonReport = { schemaVersion: REPORT_SCHEMA_VERSION, ...report };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
