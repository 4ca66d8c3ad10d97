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

  it("is pretty-printed, ends in a newline and escapes lone surrogates so the file is valid UTF-8", () => {
    const text = renderJson(fixtureReport());
    expect(text).toMatch(/^\{\n  "schemaVersion": 1,\n/);
    expect(text.endsWith("}\n")).toBe(true);
    expect(text).toContain("\\ud800");
    expect(Buffer.from(text, "utf8").toString("utf8")).toBe(text);
  });
});
