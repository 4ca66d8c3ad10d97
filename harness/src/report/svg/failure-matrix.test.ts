import { describe, expect, it } from "vitest";
import { fixtureReport } from "../fixtures.ts";
import { kindCatalogReport } from "../testdata/kind-catalog.ts";
import { cellKey, failureMatrixModel, failureMatrixSvg, outcomeText } from "./failure-matrix.ts";

describe("failure matrix", () => {
  const report = kindCatalogReport();
  const m = failureMatrixModel(report.scenarios);

  it("has a row per failure kind seen, connection failures first, then HTTP statuses", () => {
    expect(m.kinds).toEqual([
      "connection refused",
      "untrusted certificate",
      "hang (never answers)",
      "HTTP 400",
      "HTTP 401",
      "HTTP 403",
      "HTTP 404",
      "HTTP 429",
      "HTTP 500",
      "HTTP 502",
      "HTTP 503",
      "HTTP 504",
      "malformed body",
    ]);
  });

  it("fills each cell with the observed outcome, calls and time of its scenario", () => {
    for (const [name, da] of [
      ["fail-closed-http-500", false],
      ["fail-open-http-500", true],
    ] as const) {
      const s = report.scenarios.find((x) => x.name === name)!;
      const [o, ...rest] = m.cells.get(cellKey("HTTP 500", da))!;
      expect(rest).toEqual([]);
      expect(o!.scenario.name).toBe(name);
      expect(o!.calls).toBe(5);
      expect(o!.admitted).toBe(s.steps[0]!.response!.allowed);
      expect(o!.code).toBe(s.steps[0]!.response!.code);
      expect(o!.durationMs).toBe(s.steps[0]!.durationMs);
      expect(o!.kind.source).toBe("journal");
    }
    expect(outcomeText(m.cells.get(cellKey("HTTP 500", false))![0]!)).toBe("refused 403");
    expect(outcomeText(m.cells.get(cellKey("HTTP 500", true))![0]!)).toBe("admitted 201");
    // fail-closed-status-codes contributes one row per status it set.
    expect(m.cells.get(cellKey("HTTP 502", false))![0]!.step.index).toBe(5);
  });

  it("names a failure from the apiserver's message, else from the scenario name, else leaves it out", () => {
    expect(m.cells.get(cellKey("connection refused", false))![0]!.kind.source).toBe("message");
    expect(m.cells.get(cellKey("connection refused", true))![0]!.kind.source).toBe("name");
    expect(m.unnamed.map((u) => `${u.scenario.name} step ${u.step.index + 1}`)).toEqual(["fail-open-not-cached step 1"]);
  });

  it("renders a linked cell per observation and an empty cell where the run had none", () => {
    const svg = failureMatrixSvg(report.scenarios, (i) => `#s-${i + 1}`);
    expect([...svg.matchAll(/<g class="cell (?:admitted|refused|noanswer)"/g)]).toHaveLength(m.cells.size);
    expect([...svg.matchAll(/<g class="cell empty"/g)]).toHaveLength(m.kinds.length * 2 - m.cells.size);
    const i = report.scenarios.findIndex((s) => s.name === "fail-closed-http-500");
    expect(svg).toContain(`<a href="#s-${i + 1}"><g class="cell refused" data-kind="HTTP 500" data-default-allow="false" data-admitted="false" data-code="403" data-calls="5"`);
  });

  it("writes a status that was not observed in words", () => {
    const copy = structuredClone(report.scenarios);
    const s = copy.find((x) => x.name === "fail-open-http-500")!;
    s.steps[0]!.response = { code: undefined, allowed: true };
    const svg = failureMatrixSvg(copy, (i) => `#s-${i + 1}`);
    expect(svg).toContain(`data-code="not observed"`);
    expect(svg).toContain(">admitted (status not observed)</text>");
  });

  it("is empty when no fail-open/-closed scenario ran", () => {
    expect(failureMatrixSvg(fixtureReport().scenarios, () => "#")).toBe("");
  });
});
