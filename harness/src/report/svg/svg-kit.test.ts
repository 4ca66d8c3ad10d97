import { describe, expect, it } from "vitest";
import { axisTicks, esc, fmtDuration, fmtTick } from "./svg-kit.ts";

describe("svg kit", () => {
  it("formats durations the way the pictures label them", () => {
    expect([0, 0.64, 1.25, 9.96, 118.4, 999.4, 1007, 29_992, 34_054].map(fmtDuration)).toEqual([
      "0 ms", "0.6 ms", "1.3 ms", "10 ms", "118 ms", "999 ms", "1.01 s", "30.0 s", "34.1 s",
    ]);
    expect(fmtDuration(-1)).toBe("?");
  });

  it("puts 1-2-5 ticks over the span", () => {
    expect(axisTicks(943)).toEqual([0, 200, 400, 600, 800]);
    expect(axisTicks(33_640)).toEqual([0, 10_000, 20_000, 30_000]);
    expect(axisTicks(3.4)).toEqual([0, 1, 2, 3]);
    expect(axisTicks(0)).toEqual([0]);
    expect([0, 250, 1000, 2500].map(fmtTick)).toEqual(["0", "250 ms", "1 s", "2.5 s"]);
  });

  it("escapes markup and shows control characters", () => {
    expect(esc(`<a href="x">&'\u001b`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u241b");
  });
});
