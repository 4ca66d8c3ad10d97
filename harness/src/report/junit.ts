// JUnit XML for CI dashboards (GitHub, GitLab, Jenkins). One <testsuite> per admission profile,
// because scenarios are played grouped by profile and the profile explains most surprises. The
// classname is `<provider>.<profileKey>`: tools that split on the last dot show the provider as the
// package and the profile as the class.
import { profileKey } from "../profile/profile.ts";
import type { RunReport, ScenarioResult } from "../scenario/result.ts";
import { scenarioLog, stepText } from "./evidence.ts";
import { decisiveStep, firstFailure, groupByProfile } from "./format.ts";
import { xmlAttr, xmlText } from "./xml.ts";

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

function attrs(a: Record<string, string | number | undefined>): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join("");
}

export interface JUnitCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function count(scenarios: ScenarioResult[]): JUnitCounts {
  return {
    tests: scenarios.length,
    failures: scenarios.filter((s) => s.verdict === "fail").length,
    errors: scenarios.filter((s) => s.verdict === "error").length,
    skipped: scenarios.filter((s) => s.verdict === "skipped").length,
  };
}

/** The element that says why the case did not pass (nothing for a pass). */
function outcome(s: ScenarioResult): string {
  if (s.verdict === "skipped") return `<skipped${attrs({ message: s.reason ?? "skipped" })}/>`;
  if (s.verdict === "fail") {
    const first = firstFailure(s);
    const failingSteps = s.steps.filter((st) => st.verdict === "fail" || st.checks.some((c) => !c.ok));
    const message = first
      ? `step ${first.step.index + 1} ${first.check.what}: expected ${first.check.expected}, observed ${first.check.observed}`
      : (decisiveStep(s)?.error ?? s.reason ?? "failed");
    const body = failingSteps.map((st) => stepText(st)).join("\n\n");
    return `<failure${attrs({ message, type: first?.check.what ?? "failure" })}>${xmlText(body)}</failure>`;
  }
  if (s.verdict === "error") {
    const step = decisiveStep(s);
    const message = s.reason ?? step?.error ?? "error";
    return `<error${attrs({ message, type: step ? `step ${step.action}` : "scenario" })}>${xmlText(step ? stepText(step) : message)}</error>`;
  }
  return "";
}

/**
 * One scenario as a <testcase>. The classname is `<classPrefix>.<profileKey>`; a single run uses the
 * provider as the prefix, a comparison `<provider>.<mechanism>`, so that dashboards keyed on
 * classname and name keep the mechanisms' cases of one scenario apart.
 */
function testcase(s: ScenarioResult, classPrefix: string): string {
  const inner = [outcome(s), `<system-out>${xmlText(scenarioLog(s))}</system-out>`].filter(Boolean);
  const open = `<testcase${attrs({ name: s.name, classname: `${classPrefix}.${profileKey(s.profile)}`, time: seconds(s.durationMs), file: s.file })}>`;
  return `    ${open}\n${inner.map((l) => `      ${l}`).join("\n")}\n    </testcase>`;
}

function properties(props: Record<string, string | number | boolean>): string {
  const rows = Object.entries(props).map(([name, value]) => `      <property${attrs({ name, value: String(value) })}/>`);
  return `    <properties>\n${rows.join("\n")}\n    </properties>`;
}

export interface JUnitSuiteOptions {
  name: string;
  scenarios: ScenarioResult[];
  /** Classname prefix of every case (see testcase). */
  classPrefix: string;
  timestamp: string;
  properties: Record<string, string | number | boolean>;
  /**
   * The lab could not run: adds an errored "lab setup" case (classname `<classPrefix>.lab`) lasting
   * `labStartMs`, because a suite of zero tests and zero failures would look green.
   */
  labError?: { message: string; labStartMs: number };
}

/** A rendered <testsuite> (indented for inside <testsuites>) and its counts, for the document's totals. */
export interface JUnitSuite {
  xml: string;
  counts: JUnitCounts;
}

/** One <testsuite>: its scenarios' cases, then the lab-setup case if the lab failed. Time: the cases' sum. */
export function junitSuite(o: JUnitSuiteOptions): JUnitSuite {
  const c = count(o.scenarios);
  if (o.labError) {
    c.tests++;
    c.errors++;
  }
  const timeMs = o.scenarios.reduce((a, s) => a + s.durationMs, 0) + (o.labError?.labStartMs ?? 0);
  const lab = o.labError
    ? [
        `    <testcase${attrs({ name: "lab setup", classname: `${o.classPrefix}.lab`, time: seconds(o.labError.labStartMs) })}>`,
        `      <error${attrs({ message: o.labError.message, type: "lab" })}>${xmlText(o.labError.message)}</error>`,
        "    </testcase>",
      ]
    : [];
  const xml = [
    `  <testsuite${attrs({ name: o.name, ...c, time: seconds(timeMs), timestamp: o.timestamp })}>`,
    properties(o.properties),
    ...o.scenarios.map((s) => testcase(s, o.classPrefix)),
    ...lab,
    "  </testsuite>",
  ].join("\n");
  return { xml, counts: c };
}

/** The <testsuites> document around rendered suites, with their counts summed. */
export function junitDocument(o: { name: string; durationMs: number; timestamp: string }, suites: JUnitSuite[]): string {
  const total: JUnitCounts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const { counts } of suites) {
    total.tests += counts.tests;
    total.failures += counts.failures;
    total.errors += counts.errors;
    total.skipped += counts.skipped;
  }
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites${attrs({ name: o.name, ...total, time: seconds(o.durationMs), timestamp: o.timestamp })}>`,
    ...suites.map((s) => s.xml),
    `</testsuites>`,
    "",
  ].join("\n");
}

/** Renders the run as a JUnit XML document (UTF-8). A lab error becomes one extra errored case. */
export function renderJUnit(report: RunReport): string {
  // A run against OPA as the backend says so in every suite, so its cases are not taken for the stub's.
  const common = { provider: report.provider, k8sVersion: report.k8sVersion, toolVersion: report.tool.version, ...(report.opaBackend ? { backend: "opa", backendUrl: report.opaBackend.url } : {}) };
  const backend = report.opaBackend ? " backend:opa" : "";
  const suites = groupByProfile(report.scenarios).map((g) =>
    junitSuite({ name: `${report.provider}${backend} ${g.key}`, scenarios: g.scenarios, classPrefix: report.provider, timestamp: report.startedAt, properties: { ...common, ...g.profile } }),
  );
  if (report.labError) {
    suites.push(
      junitSuite({
        name: `${report.provider} lab`,
        scenarios: [],
        classPrefix: report.provider,
        timestamp: report.startedAt,
        properties: common,
        labError: { message: report.labError, labStartMs: report.labStartMs },
      }),
    );
  }
  return junitDocument({ name: report.tool.name, durationMs: report.durationMs, timestamp: report.startedAt }, suites);
}
