// Writes the report directory of a comparison: the comparison's own files at the top, and each
// mechanism's full reports (writeReports) in a subdirectory named after the mechanism, which the
// comparison page links to.
import { join } from "node:path";
import { LabError } from "../util/errors.ts";
import type { ComparisonReport } from "./comparison.ts";
import { renderComparisonHtml } from "./comparison-html.ts";
import { renderComparisonJson } from "./comparison-json.ts";
import { renderComparisonJUnit } from "./comparison-junit.ts";
import { runMechanism } from "./comparison-model.ts";
import { writeReportFiles, writeReports } from "./write-reports.ts";

/** File names at the top of a comparison's report directory; CI configs refer to them. */
export const COMPARISON_FILES = { json: "comparison.json", html: "comparison.html", junit: "junit.xml" } as const;

/**
 * Writes comparison.json, comparison.html and junit.xml (a suite per mechanism) into `dir` (created
 * if missing), then each run's junit.xml, report.json and report.html into `dir/<mechanism>/`. Files
 * are 0644 and appear whole (written under a temporary name, then renamed), as writeReports does.
 * Returns the paths written, in that order. Two runs of one mechanism would share a directory, so
 * that is refused before anything is written.
 */
export async function writeComparisonReports(dir: string, c: ComparisonReport): Promise<{ files: string[] }> {
  const mechanisms = c.runs.map(runMechanism);
  const twice = mechanisms.find((m, i) => mechanisms.indexOf(m) !== i);
  if (twice) throw new LabError(`failed to write comparison reports: two runs of the ${twice} mechanism would share ${join(dir, twice)}`);
  const { files } = await writeReportFiles(dir, [
    [COMPARISON_FILES.json, renderComparisonJson(c)],
    [COMPARISON_FILES.html, renderComparisonHtml(c)],
    [COMPARISON_FILES.junit, renderComparisonJUnit(c)],
  ]);
  for (const [i, r] of c.runs.entries()) files.push(...(await writeReports(join(dir, mechanisms[i]!), r)).files);
  return { files };
}
