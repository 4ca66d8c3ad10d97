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

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function count(scenarios: ScenarioResult[]): Counts {
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

function testcase(s: ScenarioResult, provider: string): string {
  const inner = [outcome(s), `<system-out>${xmlText(scenarioLog(s))}</system-out>`].filter(Boolean);
  const open = `<testcase${attrs({ name: s.name, classname: `${provider}.${profileKey(s.profile)}`, time: seconds(s.durationMs), file: s.file })}>`;
  return `    ${open}\n${inner.map((l) => `      ${l}`).join("\n")}\n    </testcase>`;
}

function properties(props: Record<string, string | number | boolean>): string {
  const rows = Object.entries(props).map(([name, value]) => `      <property${attrs({ name, value: String(value) })}/>`);
  return `    <properties>\n${rows.join("\n")}\n    </properties>`;
}

/** Renders the run as a JUnit XML document (UTF-8). A lab error becomes one extra errored case. */
export function renderJUnit(report: RunReport): string {
  const suites: string[] = [];
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  const add = (c: Counts) => {
    total.tests += c.tests;
    total.failures += c.failures;
    total.errors += c.errors;
    total.skipped += c.skipped;
  };
  const common = { provider: report.provider, k8sVersion: report.k8sVersion, toolVersion: report.tool.version };
  for (const g of groupByProfile(report.scenarios)) {
    const c = count(g.scenarios);
    add(c);
    const time = g.scenarios.reduce((a, s) => a + s.durationMs, 0);
    suites.push(
      [
        `  <testsuite${attrs({ name: `${report.provider} ${g.key}`, ...c, time: seconds(time), timestamp: report.startedAt })}>`,
        properties({ ...common, ...g.profile }),
        ...g.scenarios.map((s) => testcase(s, report.provider)),
        "  </testsuite>",
      ].join("\n"),
    );
  }
  if (report.labError) {
    // Without this case a run whose lab never came up would look green: zero tests, zero failures.
    const c = { tests: 1, failures: 0, errors: 1, skipped: 0 };
    add(c);
    suites.push(
      [
        `  <testsuite${attrs({ name: `${report.provider} lab`, ...c, time: seconds(report.labStartMs), timestamp: report.startedAt })}>`,
        properties(common),
        `    <testcase${attrs({ name: "lab setup", classname: `${report.provider}.lab`, time: seconds(report.labStartMs) })}>`,
        `      <error${attrs({ message: report.labError, type: "lab" })}>${xmlText(report.labError)}</error>`,
        "    </testcase>",
        "  </testsuite>",
      ].join("\n"),
    );
  }
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites${attrs({ name: report.tool.name, ...total, time: seconds(report.durationMs), timestamp: report.startedAt })}>`,
    ...suites,
    `</testsuites>`,
    "",
  ].join("\n");
}
