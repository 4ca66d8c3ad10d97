// The comparison as JUnit XML: one <testsuite name="<mechanism>"> per mechanism, holding that run's
// scenarios as junit.ts renders them (skipped, failure and error as there). A scenario that does not
// apply to a mechanism is not in its suite at all: it was never played there. Classnames are
// `<provider>.<mechanism>.<profileKey>`, so a dashboard keyed on classname and name keeps the three
// mechanisms' cases of one scenario apart.
import type { ComparisonReport } from "./comparison.ts";
import { runMechanism } from "./comparison-model.ts";
import { junitDocument, junitSuite, type JUnitSuite } from "./junit.ts";

/** Renders the comparison as a JUnit XML document (UTF-8). A mechanism whose lab failed gets an errored "lab setup" case. */
export function renderComparisonJUnit(c: ComparisonReport): string {
  const suites: JUnitSuite[] = c.runs.map((r) => {
    const mechanism = runMechanism(r);
    return junitSuite({
      name: mechanism,
      scenarios: r.scenarios,
      classPrefix: `${r.provider}.${mechanism}`,
      timestamp: r.startedAt,
      properties: { provider: r.provider, mechanism, k8sVersion: r.k8sVersion, toolVersion: r.tool.version },
      labError: r.labError !== undefined ? { message: r.labError, labStartMs: r.labStartMs } : undefined,
    });
  });
  // A comparison-wide failure that no run already reports as its own lab error (the run command
  // reports a mechanism's lab failure in both places): without a case of its own it would not show.
  if (c.labError !== undefined && !c.runs.some((r) => r.labError === c.labError)) {
    suites.push(
      junitSuite({
        name: "lab",
        scenarios: [],
        classPrefix: c.provider,
        timestamp: c.startedAt,
        properties: { provider: c.provider, k8sVersion: c.k8sVersion, toolVersion: c.tool.version },
        labError: { message: c.labError, labStartMs: 0 },
      }),
    );
  }
  return junitDocument({ name: c.tool.name, durationMs: c.durationMs, timestamp: c.startedAt }, suites);
}
