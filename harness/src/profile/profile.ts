// The admission profile: the four knobs of the ImagePolicyWebhook config, checked against the
// apiserver's real limits before anything starts. The apiserver's own range error never names the
// field (imagepolicy-behavior.md §2), so lint does.
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";

export interface AdmissionProfile {
  /** Fail open (true) or closed (false) when the backend cannot be asked. Plugin default: false. */
  defaultAllow: boolean;
  /** Seconds an `allowed: true` verdict is cached. 0 = plugin default (300), -1 = no cache, else 1..1800. */
  allowTTL: number;
  /** Seconds an `allowed: false` verdict is cached. 0 = plugin default (30), -1 = no cache, else 1..1800. */
  denyTTL: number;
  /** Initial retry delay in ms (grows ×1.5 over 5 attempts). 0 = plugin default (500), -1 = no delay, else 1..300000. */
  retryBackoff: number;
}

/**
 * The lab's default profile: the values CKS-style exercises use (fail closed, 50 s caches, 500 ms
 * backoff), so a fresh lab behaves like the clusters people train on.
 */
export const DEFAULT_PROFILE: Readonly<AdmissionProfile> = Object.freeze({
  defaultAllow: false,
  allowTTL: 50,
  denyTTL: 50,
  retryBackoff: 500,
});

/** apiVersion of a profile file (`kind: AdmissionProfile`), the same group as scenario files. */
export const PROFILE_API_VERSION = "imagepolicy-lab.dev/v1alpha1";

const TTL_MAX_S = 1800;
const BACKOFF_MAX_MS = 300_000;

function sentinelInt(field: string, unit: string, max: number) {
  return z
    .number({ error: (i) => `${field} must be an integer number of ${unit}, got ${describe(i.input)}` })
    // abort: a fraction gets one message, not a second range complaint as well (0.5 is outside 1..max).
    .refine(Number.isInteger, { abort: true, error: (i) => `${field} must be an integer number of ${unit} (the apiserver refuses fractions), got ${describe(i.input)}` })
    .refine((v) => v === -1 || v === 0 || (v >= 1 && v <= max), {
      error: (i) => `${field} must be -1 (off), 0 (default) or 1..${max} ${unit}, got ${describe(i.input)}`,
    });
}

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

export const admissionProfileSchema = z.strictObject({
  defaultAllow: z.boolean({ error: (i) => `defaultAllow must be true or false, got ${describe(i.input)}` }),
  allowTTL: sentinelInt("allowTTL", "seconds", TTL_MAX_S),
  denyTTL: sentinelInt("denyTTL", "seconds", TTL_MAX_S),
  retryBackoff: sentinelInt("retryBackoff", "milliseconds", BACKOFF_MAX_MS),
});

export interface LintResult {
  profile?: AdmissionProfile;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/**
 * Checks a (possibly partial) profile: missing fields take the lab defaults, then every field is
 * range-checked. `lineOf` maps a field to its line when the profile came from a file.
 */
export function lintProfile(
  input: unknown,
  where: { file: string; basePath?: string; lineOf?: (path: PropertyKey[]) => number | undefined } = { file: "profile" },
): LintResult {
  const dotted = (path: PropertyKey[]) => (where.basePath ? [where.basePath, ...path] : path).map(String).join(".");
  const merged = input && typeof input === "object" && !Array.isArray(input) ? { ...DEFAULT_PROFILE, ...(input as object) } : input;
  const parsed = admissionProfileSchema.safeParse(merged);
  if (!parsed.success) {
    return {
      errors: parsed.error.issues.flatMap((i) => {
        const path = i.path as PropertyKey[];
        // Each unknown key is reported at its own line, with a hint when only the case is wrong.
        if (i.code === "unrecognized_keys") {
          return i.keys.map((k) => ({ file: where.file, line: where.lineOf?.([...path, k]), path: dotted([...path, k]), message: unknownFieldMessage(k) }));
        }
        return [{ file: where.file, line: where.lineOf?.(path), path: dotted(path), message: i.message }];
      }),
      warnings: [],
    };
  }
  const profile = parsed.data;
  const warnings: ConfigIssue[] = [];
  const warn = (path: string, message: string) =>
    warnings.push({ file: where.file, line: where.lineOf?.([path]), path: dotted([path]), message });
  if (profile.defaultAllow) warn("defaultAllow", "fail-open: while the backend is down or erroring, every image is admitted");
  if (!profile.defaultAllow && profile.retryBackoff !== -1) {
    const worst = worstCaseRetryMs(profile);
    if (worst > 10_000) warn("retryBackoff", `a failing backend delays each pod create by about ${(worst / 1000).toFixed(1)} s (5 attempts)`);
  }
  return { profile, errors: [], warnings };
}

const PROFILE_FIELDS = ["defaultAllow", "allowTTL", "denyTTL", "retryBackoff"] as const;

function unknownFieldMessage(key: string): string {
  const sameButCase = PROFILE_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
  return sameButCase
    ? `unknown field "${key}"; did you mean ${sameButCase}? (field names are case-sensitive here)`
    : `unknown field "${key}"; expected ${PROFILE_FIELDS.join(", ")}`;
}

/** Like lintProfile, but throws a ConfigError on any error. */
export function resolveProfile(input: unknown, file = "profile"): AdmissionProfile {
  const result = lintProfile(input, { file });
  if (!result.profile) throw new ConfigError(result.errors, "invalid admission profile");
  return result.profile;
}

/** The durations the plugin will really use, after its 0 and -1 sentinels. */
export function effectiveDurations(p: AdmissionProfile): { allowTtlMs: number; denyTtlMs: number; backoffMs: number } {
  const pick = (v: number, def: number, unitMs: number) => (v === 0 ? def : v === -1 ? 0 : v * unitMs);
  return {
    allowTtlMs: pick(p.allowTTL, 300_000, 1000),
    denyTtlMs: pick(p.denyTTL, 30_000, 1000),
    backoffMs: pick(p.retryBackoff, 500, 1),
  };
}

/** Sum of the sleeps between the 5 attempts (d, 1.5d, 2.25d, 3.375d), without jitter. */
export function worstCaseRetryMs(p: AdmissionProfile): number {
  const d = effectiveDurations(p).backoffMs;
  return d * (1 + 1.5 + 2.25 + 3.375);
}

/** Stable identity of a profile, used to group scenarios so the apiserver restarts rarely. */
export function profileKey(p: AdmissionProfile): string {
  return `defaultAllow=${p.defaultAllow},allowTTL=${p.allowTTL},denyTTL=${p.denyTTL},retryBackoff=${p.retryBackoff}`;
}
