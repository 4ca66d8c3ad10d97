import { describe, expect, it } from "vitest";
import { fixtureReport } from "../report/fixtures.ts";
import { exitCodeFor, totals, type ScenarioResult } from "./result.ts";

/** The fixture's scenarios by verdict. */
function byVerdict(): Record<"pass" | "fail" | "error" | "skipped", ScenarioResult> {
  const [pass, fail, error, skipped] = fixtureReport().scenarios as [ScenarioResult, ScenarioResult, ScenarioResult, ScenarioResult];
  return { pass, fail, error, skipped };
}

describe("totals", () => {
  it("counts a skipped scenario as skipped, never as passed", () => {
    const { pass, skipped } = byVerdict();
    expect(totals([pass, skipped, { ...skipped, name: "another" }])).toEqual({ pass: 1, fail: 0, error: 0, skipped: 2 });
    expect(totals([skipped])).toEqual({ pass: 0, fail: 0, error: 0, skipped: 1 });
  });

  it("counts each verdict once", () => {
    expect(totals(Object.values(byVerdict()))).toEqual({ pass: 1, fail: 1, error: 1, skipped: 1 });
    expect(totals([])).toEqual({ pass: 0, fail: 0, error: 0, skipped: 0 });
  });
});

describe("exitCodeFor", () => {
  it.each<[string, Parameters<typeof fixtureReport>[0], 0 | 1 | 2]>([
    ["all verdicts: an error wins", {}, 2],
    ["a failure", { totals: { pass: 3, fail: 1, error: 0, skipped: 1 } }, 1],
    ["passes and skips", { totals: { pass: 3, fail: 0, error: 0, skipped: 2 } }, 0],
    ["a lab error", { totals: { pass: 0, fail: 0, error: 0, skipped: 0 }, labError: "failed to start etcd" }, 2],
  ])("%s -> %i", (_label, over, want) => {
    expect(exitCodeFor(fixtureReport(over))).toBe(want);
  });
});
