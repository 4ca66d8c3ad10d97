// `probe`: checks a running cluster against a declared trust list with server-side dry runs only.
export { runProbe, type ProbeOptions } from "./runner.ts";
export { loadProbeTarget, type LoadedTarget, type ProbeTargetInput } from "./target.ts";
export { planProbe, checkProbeInput, UNTRUSTED_IMAGE, type ProbePlanInput } from "./plan.ts";
export { classifyAnswer, mechanismText, type ReceivedAnswer } from "./classify.ts";
export { renderProbeTerminal } from "./terminal.ts";
export { renderProbeJson, type ProbeJson } from "./json.ts";
export { renderProbeJUnit } from "./junit.ts";
export { renderProbeHtml } from "./html.ts";
export { writeProbeReports, PROBE_REPORT_FILES } from "./write-reports.ts";
export * from "./model.ts";
