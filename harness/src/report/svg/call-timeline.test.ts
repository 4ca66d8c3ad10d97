import { describe, expect, it } from "vitest";
import type { ScenarioResult } from "../../scenario/result.ts";
import { entry, fixtureReport } from "../fixtures.ts";
import { kindScenario } from "../testdata/kind-catalog.ts";
import { answerText, callTimelineModel, callTimelineSvg, retryAfterSeconds } from "./call-timeline.ts";
import { fmtDuration } from "./svg-kit.ts";

const count = (svg: string, re: RegExp) => [...svg.matchAll(re)].length;
const gapsOf = (s: ScenarioResult) => {
  const j = s.steps.flatMap((st) => st.journal);
  return j.slice(1).map((e, k) => e.atMs - j[k]!.atMs);
};

describe("call timeline", () => {
  it("draws one mark per call of a 500 scenario, and labels each gap with the observed gap", () => {
    const { s } = kindScenario("fail-closed-http-500");
    const svg = callTimelineSvg(s);
    expect(count(svg, /<g class="call fault"/g)).toBe(5);
    const gaps = gapsOf(s);
    expect(gaps).toHaveLength(4);
    const labels = [...svg.matchAll(/<text class="gap-label"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(labels).toEqual(gaps.map((g) => `+${fmtDuration(g)}`));
    expect(labels).toEqual(["+104 ms", "+160 ms", "+249 ms", "+369 ms"]);
    const data = [...svg.matchAll(/<g class="gap backoff" data-gap-ms="([\d.]+)"/g)].map((m) => Number(m[1]));
    data.forEach((d, k) => expect(d).toBeCloseTo(gaps[k]!, 1));
    expect(svg).toContain(`data-calls="5"`);
  });

  it("places marks to scale on the stub's clock", () => {
    const { s } = kindScenario("retry-backoff-grows");
    const t = callTimelineModel(s)!;
    const j = s.steps[0]!.journal;
    expect(t.lanes[0]!.calls.map((m) => m.tMs)).toEqual(j.map((e) => e.atMs - j[0]!.atMs));
    expect(t.spanMs).toBeCloseTo(j.at(-1)!.atMs + j.at(-1)!.latencyMs - j[0]!.atMs, 6);
  });

  it("tells client-go's Retry-After retries from the webhook's backoff retries", () => {
    const { s } = kindScenario("retry-after-stall");
    const t = callTimelineModel(s)!;
    const lane = t.lanes[0]!;
    expect(lane.calls).toHaveLength(37);
    expect(lane.gaps.filter((g) => g.kind === "inner")).toHaveLength(33);
    expect(lane.gaps.filter((g) => g.kind === "backoff").map((g) => Math.round(g.ms))).toEqual([120, 166, 263]);
    const svg = callTimelineSvg(s);
    expect([...svg.matchAll(/<g class="inner-run" data-retries="(\d+)" data-retry-after-s="1"/g)].map((m) => m[1])).toEqual(["10", "10", "10", "3"]);
    expect(count(svg, /<g class="call fault inner"/g)).toBe(33);
    // Retry-After: 0 is the same mechanism with no wait.
    const zero = callTimelineModel(kindScenario("retry-after-zero").s)!.lanes[0]!;
    expect(zero.gaps.every((g) => g.kind === "inner" && g.retryAfterS === 0)).toBe(true);
  });

  it("draws the hang as a bar as long as the call stayed open", () => {
    const { s } = kindScenario("fail-closed-hang");
    const e = s.steps[0]!.journal[0]!;
    const svg = callTimelineSvg(s);
    expect(svg).toContain(`<g class="stall" data-latency-ms="${Math.round(e.latencyMs * 10) / 10}">`);
    expect(svg).toContain(`no answer · ${fmtDuration(e.latencyMs)}</text>`);
    expect(fmtDuration(e.latencyMs)).toBe("30.0 s");
    expect(svg).toContain(`<g class="call noanswer"`);
  });

  it("keeps a lane for a request no call reached, and says so", () => {
    const svg = callTimelineSvg(kindScenario("fail-closed-connection-refused").s);
    expect(svg).toContain(`<g class="lane" data-step="1" data-calls="0">`);
    expect(svg).toContain("no call reached the backend");
    expect(svg).toContain("refused 403 · 0 calls");
  });

  it("draws nothing for a scenario without requests, and escapes every text", () => {
    const report = fixtureReport();
    expect(callTimelineSvg(report.scenarios[3]!)).toBe("");
    const hostile = report.scenarios[1]!;
    hostile.steps[0]!.name = `<script>alert(1)</script> & "x"`;
    const svg = callTimelineSvg(hostile);
    expect(svg).not.toMatch(/<script/i);
    expect(svg).toContain("&lt;script&gt;");
  });

  it("reads Retry-After only from answers client-go honours it on", () => {
    expect(retryAfterSeconds(entry({ status: 503, fault: "first:3:status:503:retry-after:2" }))).toBe(2);
    expect(retryAfterSeconds(entry({ status: 429, fault: "status:429:retry-after:0" }))).toBe(0);
    expect(retryAfterSeconds(entry({ status: 500, fault: "status:500" }))).toBeUndefined();
    expect(retryAfterSeconds(entry({ status: 200, fault: "retry-after:1" }))).toBeUndefined();
  });

  it("prints a status that was not observed in words, never as a number", () => {
    const step = structuredClone(kindScenario("trusted-image-allowed").s.steps[0]!);
    step.response = { code: undefined, allowed: true };
    expect(answerText(step)).toBe("admitted (status not observed)");
    step.response = undefined;
    step.error = "socket hang up";
    expect(answerText(step)).toBe("error, no answer");
  });
});
