// The probe's report files, written whole (temporary name, then rename) like the run's.
import { writeReportFiles } from "../report/write-reports.ts";
import { renderProbeHtml } from "./html.ts";
import { renderProbeJson } from "./json.ts";
import { renderProbeJUnit } from "./junit.ts";
import type { ProbeReport } from "./model.ts";

/** File names in `--report-dir`; distinct from `run`'s, so both can share a directory. CI configs refer to them. */
export const PROBE_REPORT_FILES = { junit: "probe-junit.xml", json: "probe.json", html: "probe.html" } as const;

export async function writeProbeReports(dir: string, report: ProbeReport): Promise<{ files: string[] }> {
  return writeReportFiles(dir, [
    [PROBE_REPORT_FILES.junit, renderProbeJUnit(report)],
    [PROBE_REPORT_FILES.json, renderProbeJson(report)],
    [PROBE_REPORT_FILES.html, renderProbeHtml(report)],
  ]);
}
