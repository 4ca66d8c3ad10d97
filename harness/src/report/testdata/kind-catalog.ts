// Loads kind-catalog-report.json (observed data, see README.md here) for the report tests.
import { readFileSync } from "node:fs";
import type { RunReport, ScenarioResult } from "../../scenario/result.ts";

const FILE = new URL("./kind-catalog-report.json", import.meta.url);

/** A fresh copy of the report each call, so a test that edits it cannot change another test's input. */
export function kindCatalogReport(): RunReport {
  return JSON.parse(readFileSync(FILE, "utf8")) as RunReport;
}

/** One scenario of that report and its position in it. */
export function kindScenario(name: string, report = kindCatalogReport()): { s: ScenarioResult; i: number } {
  const i = report.scenarios.findIndex((s) => s.name === name);
  if (i < 0) throw new Error(`kind-catalog-report.json has no scenario ${name}`);
  return { s: report.scenarios[i]!, i };
}
