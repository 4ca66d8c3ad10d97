import { describe, expect, it } from "vitest";
import { ConfigError } from "../util/errors.ts";
import { DEFAULT_PROFILE, effectiveDurations, lintProfile, profileKey, resolveProfile, worstCaseRetryMs, type AdmissionProfile } from "./profile.ts";

const profile = (p: Partial<AdmissionProfile> = {}): AdmissionProfile => ({ ...DEFAULT_PROFILE, ...p });

describe("lintProfile ranges", () => {
  // The plugin's limits (imagepolicy config.go): -1 and 0 are sentinels, then 1 s..30 min and 1 ms..5 min.
  it.each([
    ["allowTTL", -1],
    ["allowTTL", 0],
    ["allowTTL", 1],
    ["allowTTL", 1800],
    ["denyTTL", -1],
    ["denyTTL", 0],
    ["denyTTL", 1],
    ["denyTTL", 1800],
    ["retryBackoff", -1],
    ["retryBackoff", 0],
    ["retryBackoff", 1],
    ["retryBackoff", 1230],
  ] as const)("accepts %s = %d", (field, value) => {
    const r = lintProfile({ [field]: value });
    expect(r.errors).toEqual([]);
    expect(r.profile).toEqual(profile({ [field]: value }));
  });

  it("accepts the largest backoff (with a warning about the delay, see below)", () => {
    const r = lintProfile({ retryBackoff: 300_000 });
    expect(r.errors).toEqual([]);
    expect(r.profile?.retryBackoff).toBe(300_000);
  });

  it.each([
    ["allowTTL", -2, "allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got -2"],
    ["allowTTL", 1801, "allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 1801"],
    ["allowTTL", 3600, "allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600"],
    ["denyTTL", 1801, "denyTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 1801"],
    ["retryBackoff", -5, "retryBackoff must be -1 (off), 0 (default) or 1..300000 milliseconds, got -5"],
    ["retryBackoff", 300_001, "retryBackoff must be -1 (off), 0 (default) or 1..300000 milliseconds, got 300001"],
    ["allowTTL", 1.5, "allowTTL must be an integer number of seconds (the apiserver refuses fractions), got 1.5"],
    ["retryBackoff", 0.5, "retryBackoff must be an integer number of milliseconds (the apiserver refuses fractions), got 0.5"],
    ["allowTTL", "2s", 'allowTTL must be an integer number of seconds, got "2s"'],
    ["denyTTL", "30", 'denyTTL must be an integer number of seconds, got "30"'],
    ["allowTTL", null, "allowTTL must be an integer number of seconds, got null"],
    ["allowTTL", Number.NaN, "allowTTL must be an integer number of seconds, got NaN"],
    ["defaultAllow", "yes", 'defaultAllow must be true or false, got "yes"'],
    ["defaultAllow", 1, "defaultAllow must be true or false, got 1"],
  ] as const)("rejects %s = %j, saying what was expected", (field, value, message) => {
    const r = lintProfile({ [field]: value }, { file: "f.yaml" });
    expect(r.profile).toBeUndefined();
    expect(r.errors).toEqual([{ file: "f.yaml", line: undefined, path: field, message }]);
  });

  it("reports every bad field, not just the first", () => {
    const r = lintProfile({ allowTTL: -2, denyTTL: 1801, retryBackoff: 1.5 });
    expect(r.errors.map((e) => e.path)).toEqual(["allowTTL", "denyTTL", "retryBackoff"]);
  });
});

describe("lintProfile unknown keys and shapes", () => {
  it.each([
    ["AllowTtl", 'unknown field "AllowTtl"; did you mean allowTTL? (field names are case-sensitive here)'],
    ["defaultallow", 'unknown field "defaultallow"; did you mean defaultAllow? (field names are case-sensitive here)'],
    ["allowTtlSeconds", 'unknown field "allowTtlSeconds"; expected defaultAllow, allowTTL, denyTTL, retryBackoff'],
    ["kubeConfigFile", 'unknown field "kubeConfigFile"; expected defaultAllow, allowTTL, denyTTL, retryBackoff'],
  ])("rejects %s", (key, message) => {
    const r = lintProfile({ [key]: 5 }, { file: "f" });
    expect(r.errors).toEqual([{ file: "f", line: undefined, path: key, message }]);
  });

  it("reports each unknown key on its own, under the base path, at the key's own line", () => {
    const lines: Record<string, number> = { "profile.AllowTtl": 7, "profile.extra": 9 };
    const r = lintProfile({ AllowTtl: 5, extra: true }, { file: "s.yaml", basePath: "profile", lineOf: (p) => lines[["profile", ...p].join(".")] });
    expect(r.errors.map((e) => [e.path, e.line])).toEqual([
      ["profile.AllowTtl", 7],
      ["profile.extra", 9],
    ]);
  });

  it.each([null, [], "allowTTL: 5", 5])("rejects a non-mapping %j at the base path itself", (input) => {
    const r = lintProfile(input, { file: "f", basePath: "profile" });
    expect(r.profile).toBeUndefined();
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.path).toBe("profile");
  });

  it("names the field's line through lineOf, with the base path prefixed", () => {
    const seen: PropertyKey[][] = [];
    const r = lintProfile({ denyTTL: 99_999 }, { file: "s.yaml", basePath: "steps.0.profile", lineOf: (p) => (seen.push(p), 42) });
    expect(r.errors).toEqual([{ file: "s.yaml", line: 42, path: "steps.0.profile.denyTTL", message: expect.stringContaining("got 99999") }]);
    expect(seen).toEqual([["denyTTL"]]);
  });
});

describe("lintProfile defaults and warnings", () => {
  it("fills missing fields with the lab defaults", () => {
    expect(lintProfile({})).toEqual({ profile: DEFAULT_PROFILE, errors: [], warnings: [] });
    expect(lintProfile({ denyTTL: 7 }).profile).toEqual({ defaultAllow: false, allowTTL: 50, denyTTL: 7, retryBackoff: 500 });
  });

  it("does not mutate the input or the defaults", () => {
    const input = { allowTTL: 10 };
    lintProfile(input);
    expect(input).toEqual({ allowTTL: 10 });
    expect(DEFAULT_PROFILE).toEqual({ defaultAllow: false, allowTTL: 50, denyTTL: 50, retryBackoff: 500 });
    expect(Object.isFrozen(DEFAULT_PROFILE)).toBe(true);
  });

  it.each([
    // [profile, warned paths]
    [{}, []],
    [{ defaultAllow: true }, ["defaultAllow"]],
    // 1230 ms × 8.125 = 9994 ms: just under the 10 s threshold.
    [{ retryBackoff: 1230 }, []],
    // 1231 ms × 8.125 = 10002 ms.
    [{ retryBackoff: 1231 }, ["retryBackoff"]],
    // Fail-open answers at once, so the backoff warning does not apply; the fail-open one does.
    [{ defaultAllow: true, retryBackoff: 300_000 }, ["defaultAllow"]],
    [{ retryBackoff: -1 }, []],
  ] as [Partial<AdmissionProfile>, string[]][])("warns for %j at %j", (input, paths) => {
    const r = lintProfile(input, { file: "f", basePath: "profile", lineOf: () => 3 });
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => w.path)).toEqual(paths.map((p) => `profile.${p}`));
    for (const w of r.warnings) expect(w).toMatchObject({ file: "f", line: 3 });
  });

  it("says how long a failing backend delays each create", () => {
    const [w] = lintProfile({ retryBackoff: 300_000 }).warnings;
    expect(w?.message).toBe("a failing backend delays each pod create by about 2437.5 s (5 attempts)");
  });
});

describe("resolveProfile", () => {
  it("returns the full profile", () => {
    expect(resolveProfile({ allowTTL: 5 })).toEqual(profile({ allowTTL: 5 }));
  });
  it("throws a ConfigError carrying every issue", () => {
    let err: unknown;
    try {
      resolveProfile({ allowTTL: 3600, denyTTL: "x" }, "cli");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => [i.file, i.path])).toEqual([
      ["cli", "allowTTL"],
      ["cli", "denyTTL"],
    ]);
  });
});

describe("effectiveDurations", () => {
  it.each([
    // [profile fields, allowTtlMs, denyTtlMs, backoffMs]
    [{ allowTTL: 0, denyTTL: 0, retryBackoff: 0 }, 300_000, 30_000, 500],
    [{ allowTTL: -1, denyTTL: -1, retryBackoff: -1 }, 0, 0, 0],
    [{ allowTTL: 1, denyTTL: 1800, retryBackoff: 1 }, 1_000, 1_800_000, 1],
    [{ allowTTL: 50, denyTTL: 50, retryBackoff: 500 }, 50_000, 50_000, 500],
  ] as const)("%j → %d / %d / %d ms", (fields, allowTtlMs, denyTtlMs, backoffMs) => {
    expect(effectiveDurations(profile(fields))).toEqual({ allowTtlMs, denyTtlMs, backoffMs });
  });
});

describe("worstCaseRetryMs", () => {
  it.each([
    [500, 4062.5],
    [100, 812.5],
    [0, 4062.5], // 0 = the plugin default, 500 ms
    [-1, 0],
    [300_000, 2_437_500],
  ])("backoff %d → %d ms over the 4 sleeps between 5 attempts", (retryBackoff, ms) => {
    expect(worstCaseRetryMs(profile({ retryBackoff }))).toBe(ms);
  });
});

describe("profileKey", () => {
  it("is the same for equal profiles whatever the key order", () => {
    const a = profileKey({ defaultAllow: false, allowTTL: 1, denyTTL: 2, retryBackoff: 3 });
    const b = profileKey({ retryBackoff: 3, denyTTL: 2, allowTTL: 1, defaultAllow: false });
    expect(a).toBe(b);
    expect(a).toBe("defaultAllow=false,allowTTL=1,denyTTL=2,retryBackoff=3");
  });
  it.each([{ defaultAllow: true }, { allowTTL: 51 }, { denyTTL: 49 }, { retryBackoff: 501 }])("differs when %j changes", (change) => {
    expect(profileKey(profile(change))).not.toBe(profileKey(DEFAULT_PROFILE));
  });
  it("does not confuse swapped values", () => {
    expect(profileKey(profile({ allowTTL: 1, denyTTL: 2 }))).not.toBe(profileKey(profile({ allowTTL: 2, denyTTL: 1 })));
  });
});
