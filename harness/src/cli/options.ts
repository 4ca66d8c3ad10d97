// Shared option parsing for lab-starting commands (`up`, `run`): argv strings → typed values with
// errors that name the flag and what was expected.
import { Option, InvalidArgumentError } from "commander";
import { lintProfile, type AdmissionProfile, type LintResult } from "../profile/profile.ts";

export function parseIntArg(flag: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} expects an integer, got "${value}"`);
    return Number(value);
  };
}

export function parseBoolArg(flag: string) {
  return (value: string): boolean => {
    if (value === "true") return true;
    if (value === "false") return false;
    throw new InvalidArgumentError(`${flag} expects true or false, got "${value}"`);
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function profileOptions(): Option[] {
  return [
    new Option("--default-allow <bool>", "fail open (true) or closed (false) when the backend cannot be asked").argParser(parseBoolArg("--default-allow")),
    new Option("--allow-ttl <seconds>", "allow cache TTL: -1 off, 0 default (300), 1..1800").argParser(parseIntArg("--allow-ttl")),
    new Option("--deny-ttl <seconds>", "deny cache TTL: -1 off, 0 default (30), 1..1800").argParser(parseIntArg("--deny-ttl")),
    new Option("--retry-backoff <ms>", "initial retry backoff: -1 no delay, 0 default (500), 1..300000").argParser(parseIntArg("--retry-backoff")),
  ];
}

export interface ProfileFlags {
  defaultAllow?: boolean;
  allowTtl?: number;
  denyTtl?: number;
  retryBackoff?: number;
}

/** Only the fields given on the command line (the rest take defaults later). */
export function profileFromFlags(f: ProfileFlags): Partial<AdmissionProfile> {
  const p: Partial<AdmissionProfile> = {};
  if (f.defaultAllow !== undefined) p.defaultAllow = f.defaultAllow;
  if (f.allowTtl !== undefined) p.allowTTL = f.allowTtl;
  if (f.denyTtl !== undefined) p.denyTTL = f.denyTtl;
  if (f.retryBackoff !== undefined) p.retryBackoff = f.retryBackoff;
  return p;
}

export function profileFlagLabel(field: string): string {
  return { defaultAllow: "--default-allow", allowTTL: "--allow-ttl", denyTTL: "--deny-ttl", retryBackoff: "--retry-backoff" }[field] ?? field;
}

/** Lints the profile given by flags; issues name the flag (`--allow-ttl`), not the field. */
export function lintProfileFlags(flags: ProfileFlags): LintResult {
  const r = lintProfile(profileFromFlags(flags), { file: "command line" });
  const label = <T extends { path: string }>(i: T): T => ({ ...i, path: profileFlagLabel(i.path) });
  return { ...r, errors: r.errors.map(label), warnings: r.warnings.map(label) };
}
