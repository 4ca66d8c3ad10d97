import { describe, expect, it } from "vitest";
import { fixtureReport } from "./fixtures.ts";
import { formatMs, summarize, totalsText, waitRatio } from "./format.ts";

describe("summarize", () => {
  const [pass, fail, error, skipped] = fixtureReport().scenarios;

  it("shows a pass's key facts on both sides", () => {
    expect(summarize(pass!)).toEqual({ expected: "denied 403, 1 call", observed: "denied 403, 1 call" });
  });

  it("shows a failure's first failing check", () => {
    expect(summarize(fail!)).toEqual({ expected: "step 2 backend calls: 0", observed: "backend calls: 1" });
  });

  it("shows the reason of errors and skips", () => {
    expect(summarize(error!).observed).toBe("error: connect ECONNREFUSED 127.0.0.1:6443");
    expect(summarize(skipped!)).toEqual({ expected: "—", observed: "skipped: the process provider cannot show auditLog" });
  });

  it.each<[string, [string, string][], string]>([
    ["denied with a status", [["allowed", "denied (403)"]], "denied 403"],
    ["denied with a code check", [["allowed", "denied (403)"], ["code", "403"]], "denied 403"],
    ["denied, status not observed", [["allowed", "denied (status not observed)"]], "denied (status not observed)"],
    ["denied, status not observed, with a code check", [["allowed", "denied (status not observed)"], ["code", "not observed"]], "denied (status not observed)"],
    ["allowed, code not observed", [["allowed", "allowed"], ["code", "not observed"]], "allowed (status not observed)"],
    ["allowed 201", [["allowed", "allowed"], ["code", "201"]], "allowed 201"],
    ["no request", [["allowed", "no request"], ["code", "no request"]], "no request"],
  ])("folds the status into a pass's key facts: %s", (_label, observed, want) => {
    const s = structuredClone(pass!);
    s.steps[0]!.checks = observed.map(([what, value]) => ({ what, expected: value, observed: value, ok: true }));
    expect(summarize(s).observed).toBe(want);
  });

  it("mentions further checked steps of a pass", () => {
    const s = structuredClone(fail!);
    s.verdict = "pass";
    for (const st of s.steps) for (const c of st.checks) c.ok = true;
    s.steps[1]!.verdict = "pass";
    expect(summarize(s).expected).toBe("allowed, 0 calls (+1 steps)");
  });
});

describe("small formatters", () => {
  it.each([
    [0, "0.0s"],
    [1234, "1.2s"],
    [74_200, "74.2s"],
    [125_000, "2m05s"],
    [Number.NaN, "?"],
  ])("formatMs(%d) = %s", (ms, want) => expect(formatMs(ms)).toBe(want));

  it("totals leave out zero counts", () => {
    expect(totalsText({ pass: 28, fail: 1, error: 0, skipped: 2 })).toBe("28 passed, 1 failed, 2 skipped");
    expect(totalsText({ pass: 0, fail: 0, error: 0, skipped: 0 })).toBe("no scenarios");
  });

  it("wait ratio is undefined without unavoidable waits", () => {
    expect(waitRatio({ durationMs: 10, unavoidableWaitMs: 0 })).toBeUndefined();
    expect(waitRatio({ durationMs: 10, unavoidableWaitMs: 5 })).toBe(2);
  });
});
