import { describe, expect, it } from "vitest";
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import { describeRange, evaluate, inRange, matches, substitute, type Observation } from "./checks.ts";
import type { Expectation } from "./schema.ts";

const NS = "lab-cache-key-1a2b";
const SUBS = { ns: NS };

function entry(atMs: number, o: Partial<JournalEntry> = {}): JournalEntry {
  return {
    seq: 1,
    time: "2026-01-01T00:00:00.000Z",
    atMs,
    method: "POST",
    url: "/review",
    images: ["trusted.example/app:1.0"],
    namespace: NS,
    annotations: {},
    outcome: "allowed",
    status: 200,
    latencyMs: 1,
    ...o,
  };
}
const at = (...times: number[]) => times.map((t) => entry(t));

const DENIED = { code: 403, allowed: false, message: `pods "p1" is forbidden: image policy webhook backend denied one or more images: untrusted.example/app:1.0 not allowed in ${NS}`, durationMs: 42.4 };
const ALLOWED = { code: 201, allowed: true, durationMs: 12 };
/** Answers whose response carried no usable status: the code was not observed. */
const ALLOWED_NO_STATUS = { code: undefined, allowed: true, durationMs: 12 };
const DENIED_NO_STATUS = { ...DENIED, code: undefined };

/** Evaluates one expectation and returns [ok, expected, observed] of its only check. */
function one(e: Expectation, o: Observation): [boolean, string, string] {
  const checks = evaluate(e, o, SUBS);
  expect(checks).toHaveLength(1);
  return [checks[0]!.ok, checks[0]!.expected, checks[0]!.observed];
}

describe("evaluate: one row per expectation kind, passing and failing", () => {
  it.each<[string, Expectation, Observation, boolean, string?]>([
    ["allowed: true, allowed", { allowed: true }, { outcome: ALLOWED, entries: [] }, true, "allowed"],
    ["allowed: true, denied", { allowed: true }, { outcome: DENIED, entries: [] }, false, "denied (403)"],
    ["allowed: false, denied", { allowed: false }, { outcome: DENIED, entries: [] }, true],
    ["allowed: false, no request", { allowed: false }, { entries: [] }, false, "no request"],
    ["code match", { code: 403 }, { outcome: DENIED, entries: [] }, true, "403"],
    ["code mismatch", { code: 403 }, { outcome: ALLOWED, entries: [] }, false, "201"],
    ["code, no request", { code: 403 }, { entries: [] }, false, "no request"],
    ["code 403, status not observed", { code: 403 }, { outcome: DENIED_NO_STATUS, entries: [] }, false, "not observed"],
    ["code 201, allowed but status not observed", { code: 201 }, { outcome: ALLOWED_NO_STATUS, entries: [] }, false, "not observed"],
    ["allowed: true, allowed without a status", { allowed: true }, { outcome: ALLOWED_NO_STATUS, entries: [] }, true, "allowed"],
    ["allowed: true, denied without a status", { allowed: true }, { outcome: DENIED_NO_STATUS, entries: [] }, false, "denied (status not observed)"],
    ["message substring", { message: "denied one or more images" }, { outcome: DENIED, entries: [] }, true],
    ["message substring absent", { message: "was allowed" }, { outcome: DENIED, entries: [] }, false],
    ["message with $ns", { message: "not allowed in $ns" }, { outcome: DENIED, entries: [] }, true],
    ["message regex", { message: "/pods \"p\\d+\" is forbidden/" }, { outcome: DENIED, entries: [] }, true],
    ["message regex, case needs the i flag", { message: "/IMAGE POLICY/i" }, { outcome: DENIED, entries: [] }, true],
    ["message regex without the flag", { message: "/IMAGE POLICY/" }, { outcome: DENIED, entries: [] }, false],
    ["message, none observed", { message: "x" }, { outcome: ALLOWED, entries: [] }, false, "(no message)"],
    ["notMessage absent", { notMessage: "timeout" }, { outcome: DENIED, entries: [] }, true],
    ["notMessage present", { notMessage: "/untrusted\\.example/" }, { outcome: DENIED, entries: [] }, false],
    ["notMessage with $ns", { notMessage: "in $ns" }, { outcome: DENIED, entries: [] }, false],
    ["backendCalls exact", { backendCalls: 2 }, { entries: at(1, 2) }, true, "2"],
    ["backendCalls exact, more", { backendCalls: 1 }, { entries: at(1, 2) }, false, "2"],
    ["backendCalls 0", { backendCalls: 0 }, { entries: [] }, true, "0"],
    ["backendCalls range", { backendCalls: { min: 2, max: 5 } }, { entries: at(1, 2, 3) }, true],
    ["backendCalls below range", { backendCalls: { min: 2 } }, { entries: at(1) }, false],
    ["backendCalls above range", { backendCalls: { max: 1 } }, { entries: at(1, 2) }, false],
    ["backendCallsSince", { backendCallsSince: { mark: "m", count: 3 } }, { entries: [], sinceMark: { m: at(1, 2, 3) } }, true, "3"],
    ["backendCallsSince, other count", { backendCallsSince: { mark: "m", count: { max: 2 } } }, { entries: [], sinceMark: { m: at(1, 2, 3) } }, false, "3"],
    ["backendCallsSince, mark not observed is no count", { backendCallsSince: { mark: "m", count: 0 } }, { entries: [] }, false, "not observed"],
    ["durationMs in range", { durationMs: { max: 100 } }, { outcome: DENIED, entries: [] }, true, "42"],
    ["durationMs out of range", { durationMs: { min: 1000 } }, { outcome: DENIED, entries: [] }, false, "42"],
    ["durationMs, no request", { durationMs: { max: 100 } }, { entries: [] }, false, "no request"],
    ["sinceMarkMs in range", { sinceMarkMs: { mark: "m", min: 2000 } }, { entries: [], markAgeMs: { m: 2100.4 } }, true, "2100"],
    ["sinceMarkMs too early", { sinceMarkMs: { mark: "m", min: 2000 } }, { entries: [], markAgeMs: { m: 1999 } }, false, "1999"],
    ["sinceMarkMs, mark unknown", { sinceMarkMs: { mark: "m", min: 0 } }, { entries: [] }, false, "not observed"],
    ["sinceMarkMs with only a max, mark unknown", { sinceMarkMs: { mark: "m", max: 5000 } }, { entries: [] }, false, "not observed"],
    ["events found", { events: { reason: "FailedCreate" } }, { entries: [], event: { found: true, observed: "FailedCreate: denied" } }, true, "FailedCreate: denied"],
    ["events not found", { events: { reason: "FailedCreate" } }, { entries: [], event: { found: false, observed: "(none)" } }, false],
    ["events not looked up", { events: { reason: "FailedCreate" } }, { entries: [] }, false, "(not looked up)"],
    ["callGapsGrow, strictly increasing", { callGapsGrow: true }, { entries: at(0, 100, 250, 475, 813) }, true, "100, 150, 225, 338"],
    ["callGapsGrow, one equal gap", { callGapsGrow: true }, { entries: at(0, 100, 200, 350) }, false, "100, 100, 150"],
    ["callGapsGrow, one gap is not growth", { callGapsGrow: true }, { entries: at(0, 100) }, false, "100"],
    ["callGapsGrow, no reviews", { callGapsGrow: true }, { entries: [] }, false, "(none)"],
    ["callGapsMs, each in its range", { callGapsMs: [{ min: 90, max: 110 }, { min: 140 }] }, { entries: at(10, 110, 260) }, true, "100, 150"],
    ["callGapsMs, one out of range", { callGapsMs: [{ min: 90, max: 110 }, { max: 140 }] }, { entries: at(10, 110, 260) }, false],
    ["callGapsMs, another number of gaps", { callGapsMs: [{ min: 0 }] }, { entries: at(10, 110, 260) }, false],
  ])("%s", (_label, e, o, ok, observed) => {
    const [gotOk, , gotObserved] = one(e, o);
    expect(gotOk).toBe(ok);
    if (observed !== undefined) expect(gotObserved).toBe(observed);
  });

  it("returns no checks for an empty expectation", () => {
    expect(evaluate({}, { entries: at(1) }, SUBS)).toEqual([]);
  });

  it("returns one check per expectation, all failing ones visible", () => {
    const checks = evaluate({ allowed: true, code: 201, backendCalls: 1, message: "forbidden" }, { outcome: DENIED, entries: at(1) }, SUBS);
    expect(checks.map((c) => [c.what, c.ok])).toEqual([
      ["allowed", false],
      ["code", false],
      ["message", true],
      ["backend calls", true],
    ]);
  });
});

describe("evaluate: received", () => {
  const entries = [
    entry(1, { images: ["a:1", "b:1"], namespace: NS, annotations: { "y.image-policy.k8s.io/b": "2", "x.image-policy.k8s.io/a": "1" } }),
    entry(2, { images: ["c:1"], namespace: `${NS}-other`, annotations: {} }),
  ];
  it.each<[string, Expectation["received"], boolean[]]>([
    ["last images", { images: ["c:1"] }, [true]],
    ["last images, order matters", { images: ["b:1", "a:1"], which: "first" }, [false]],
    ["first images", { images: ["a:1", "b:1"], which: "first" }, [true]],
    ["all images", { images: ["a:1", "b:1"], which: "all" }, [true, false]],
    ["namespace with $ns", { namespace: "$ns-other" }, [true]],
    ["namespace, wrong", { namespace: "$ns" }, [false]],
    ["annotations, any key order", { annotations: { "x.image-policy.k8s.io/a": "1", "y.image-policy.k8s.io/b": "2" }, which: "first" }, [true]],
    ["annotations, {} means none", { annotations: {} }, [true]],
    ["annotations, a missing one", { annotations: { "x.image-policy.k8s.io/a": "1" }, which: "first" }, [false]],
  ])("%s", (_label, received, oks) => {
    expect(evaluate({ received }, { entries }, SUBS).map((c) => c.ok)).toEqual(oks);
  });

  it("fails when the backend received nothing", () => {
    expect(evaluate({ received: { images: ["a"] } }, { entries: [] }, SUBS)).toEqual([{ what: "backend received", expected: "a review", observed: "no review", ok: false }]);
  });
});

describe("evaluate: auditAnnotations and podAnnotationsAbsent", () => {
  const key = "imagepolicywebhook.image-policy.k8s.io/failed-open";
  it.each<[string, Record<string, string | null>, Record<string, string> | undefined, boolean, string]>([
    ["value present", { [key]: "true" }, { [key]: "true" }, true, "true"],
    ["other value", { [key]: "true" }, { [key]: "false" }, false, "false"],
    ["value missing", { [key]: "true" }, {}, false, "absent"],
    ["null = absent, and it is", { [key]: null }, {}, true, "absent"],
    ["null = absent, but present", { [key]: null }, { [key]: "true" }, false, "true"],
    ["no audit event at all", { [key]: null }, undefined, false, "(no audit event)"],
  ])("%s", (_label, want, audit, ok, observed) => {
    expect(one({ auditAnnotations: want }, { entries: [], audit })).toEqual([ok, want[key] ?? "absent", observed]);
  });

  it.each<[string, Record<string, string> | undefined, boolean, string]>([
    ["absent", { other: "x" }, true, "absent"],
    ["present", { "mirror.example/break-glass": "true" }, false, "true"],
    ["pod not read", undefined, false, "(pod not read)"],
  ])("pod annotation %s", (_label, podAnnotations, ok, observed) => {
    expect(one({ podAnnotationsAbsent: ["mirror.example/break-glass"] }, { entries: [], podAnnotations })).toEqual([ok, "absent", observed]);
  });
});

describe("helpers", () => {
  it.each([
    ["plain", "a plain text", true],
    ["PLAIN", "a plain text", false],
    ["/^a p/", "a plain text", true],
    ["/^plain/", "a plain text", false],
    ["/PLAIN/i", "a plain text", true],
    ["/a.b/s", "a\nb", true],
    ["/a.b/", "a\nb", false],
    // Not a regex: no closing slash, or flags that are not flags.
    ["/api", "GET /api/v1", true],
    ["/api/v1/pods", "GET /api/v1/pods", true],
  ])("matches(%j, %j) = %s", (pattern, text, want) => {
    expect(matches(pattern, text)).toBe(want);
  });

  it("a bad regular expression throws (the loader rejects it before anything runs)", () => {
    expect(() => matches("/(x/", "x")).toThrow(SyntaxError);
  });

  it("substitute replaces every $ns", () => {
    expect(substitute("$ns and $ns-other", { ns: "n1" })).toBe("n1 and n1-other");
  });

  it.each([
    [5, {}, true],
    [5, { min: 5 }, true],
    [5, { min: 6 }, false],
    [5, { max: 5 }, true],
    [5, { max: 4 }, false],
    [5, { min: 1, max: 9 }, true],
  ])("inRange(%d, %j) = %s", (v, r, want) => {
    expect(inRange(v, r)).toBe(want);
  });

  it.each([
    [3, "3"],
    [{ min: 1, max: 2 }, "1..2"],
    [{ min: 1 }, ">= 1"],
    [{ max: 2 }, "<= 2"],
    [{}, "any"],
  ])("describeRange(%j) = %s", (r, want) => {
    expect(describeRange(r)).toBe(want);
  });
});
