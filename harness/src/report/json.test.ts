import { describe, expect, it } from "vitest";
import { fixtureReport } from "./fixtures.ts";
import { renderJson, REPORT_SCHEMA_VERSION } from "./json.ts";

describe("renderJson", () => {
  it("round-trips the whole report, evidence and hostile text included, with schemaVersion first", () => {
    const report = fixtureReport();
    const text = renderJson(report);
    const parsed = JSON.parse(text);
    expect(parsed).toEqual({ schemaVersion: REPORT_SCHEMA_VERSION, ...report });
    expect(Object.keys(parsed)[0]).toBe("schemaVersion");
    expect(parsed.scenarios[1].steps[1].journal[0].annotations).toEqual(report.scenarios[1]!.steps[1]!.journal[0]!.annotations);
  });

  it("leaves out a status code that was not observed (schema 2) and keeps skips out of the passes", () => {
    const report = fixtureReport();
    report.scenarios[1]!.steps[0]!.response = { code: undefined, allowed: true };
    const parsed = JSON.parse(renderJson(report));
    expect(parsed.scenarios[1].steps[0].response).toEqual({ allowed: true });
    expect(parsed.scenarios[0].steps[0].response.code).toBe(403);
    expect(parsed.totals).toEqual({ pass: 1, fail: 1, error: 1, skipped: 1 });
  });

  it("is pretty-printed, ends in a newline and escapes lone surrogates so the file is valid UTF-8", () => {
    const text = renderJson(fixtureReport());
    expect(text).toMatch(/^\{\n  "schemaVersion": 2,\n/);
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain("\\ud800");
    expect(Buffer.from(text, "utf8").toString("utf8")).toBe(text);
  });
});
