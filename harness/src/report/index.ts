// Reports of a conformance run, all rendered from a RunReport (scenario/result.ts) and nothing else.
export { liveReporter, renderSummaryTable, type LiveReporterOptions, type SummaryTableOptions } from "./terminal.ts";
export { renderJUnit } from "./junit.ts";
export { renderJson, REPORT_SCHEMA_VERSION, type JsonReport } from "./json.ts";
export { renderHtml, escapeHtml } from "./html.ts";
export { writeReports, REPORT_FILES } from "./write-reports.ts";
export { summarize, formatMs, profileLabel, totalsText, type Summary } from "./format.ts";
export { junitSuite, junitDocument, type JUnitSuite, type JUnitSuiteOptions, type JUnitCounts } from "./junit.ts";
// The comparison of mechanisms (`run --mechanism all`): its report, model, renderers and writer.
export * from "./comparison.ts";
