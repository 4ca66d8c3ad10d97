// probe.json: the ProbeReport exactly as the runner produced it (every request, answer and finding),
// tagged with its schema version.
import { PROBE_SCHEMA_VERSION, type ProbeReport } from "./model.ts";

export type ProbeJson = { schemaVersion: typeof PROBE_SCHEMA_VERSION } & ProbeReport;

/** Pretty JSON (2-space indent, trailing newline), `schemaVersion` first. */
export function renderProbeJson(report: ProbeReport): string {
  const doc: ProbeJson = { schemaVersion: PROBE_SCHEMA_VERSION, ...report };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
