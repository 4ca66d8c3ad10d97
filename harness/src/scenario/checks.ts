// Evaluates a step's expectations against what was observed. Pure functions over the evidence,
// so they are unit-tested without a cluster.
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import { NOT_OBSERVED, type CheckResult } from "./result.ts";
import type { Expectation, Range } from "./schema.ts";
import type { ApiOutcome } from "./k8s-actions.ts";

export interface Observation {
  outcome?: ApiOutcome;
  /** Reviews during the step. */
  entries: JournalEntry[];
  /** Reviews since each mark referenced by the expectations. */
  sinceMark?: Record<string, JournalEntry[]>;
  /** ms since each mark, at the end of the step. */
  markAgeMs?: Record<string, number>;
  /** Matching event found (reason + message), or undefined. */
  event?: { found: boolean; observed: string };
  /** Audit annotations of the request, when an audit log was read. */
  audit?: Record<string, string>;
  /** Annotations of the created pod, when read back. */
  podAnnotations?: Record<string, string>;
}

export interface Substitutions {
  ns: string;
}

export function substitute(text: string, s: Substitutions): string {
  return text.replaceAll("$ns", s.ns);
}

/** `/re/flags` as a RegExp, or undefined for a plain (substring) pattern. Throws on a bad regex. */
export function patternRegExp(pattern: string): RegExp | undefined {
  const re = /^\/(.*)\/([dgimsuy]*)$/s.exec(pattern);
  return re ? new RegExp(re[1]!, re[2]) : undefined;
}

/** A plain string matches as a substring; `/re/flags` as a regular expression. */
export function matches(pattern: string, text: string): boolean {
  const re = patternRegExp(pattern);
  return re ? re.test(text) : text.includes(pattern);
}

export function inRange(value: number, r: Range): boolean {
  return (r.min === undefined || value >= r.min) && (r.max === undefined || value <= r.max);
}

export function describeRange(r: Range | number): string {
  if (typeof r === "number") return String(r);
  if (r.min !== undefined && r.max !== undefined) return `${r.min}..${r.max}`;
  if (r.min !== undefined) return `>= ${r.min}`;
  if (r.max !== undefined) return `<= ${r.max}`;
  return "any";
}

function countOk(n: number, want: number | Range): boolean {
  return typeof want === "number" ? n === want : inRange(n, want);
}

const json = (v: unknown) => JSON.stringify(v);

/** The status as observed: the number, "not observed" without one, "no request" without a request. */
function statusText(out: ApiOutcome | undefined): string {
  if (!out) return "no request";
  return out.code === undefined ? NOT_OBSERVED : String(out.code);
}

export function evaluate(e: Expectation, o: Observation, subs: Substitutions): CheckResult[] {
  const checks: CheckResult[] = [];
  const add = (what: string, expected: string, observed: string, ok: boolean) => checks.push({ what, expected, observed, ok });
  const out = o.outcome;
  if (e.allowed !== undefined) {
    const denied = `denied (${out?.code === undefined ? `status ${NOT_OBSERVED}` : out.code})`;
    add("allowed", e.allowed ? "allowed" : "denied", out ? (out.allowed ? "allowed" : denied) : "no request", out?.allowed === e.allowed);
  }
  // An unobserved code never meets an expectation, whatever was expected.
  if (e.code !== undefined) add("code", String(e.code), statusText(out), out?.code !== undefined && out.code === e.code);
  if (e.message !== undefined) {
    const p = substitute(e.message, subs);
    add("message", `contains ${p}`, out?.message ?? "(no message)", matches(p, out?.message ?? ""));
  }
  if (e.notMessage !== undefined) {
    const p = substitute(e.notMessage, subs);
    add("message", `does not contain ${p}`, out?.message ?? "(no message)", !matches(p, out?.message ?? ""));
  }
  if (e.backendCalls !== undefined) {
    add("backend calls", describeRange(e.backendCalls), String(o.entries.length), countOk(o.entries.length, e.backendCalls));
  }
  if (e.backendCallsSince) {
    const n = o.sinceMark?.[e.backendCallsSince.mark]?.length;
    const what = `backend calls since ${e.backendCallsSince.mark}`;
    add(what, describeRange(e.backendCallsSince.count), n === undefined ? NOT_OBSERVED : String(n), n !== undefined && countOk(n, e.backendCallsSince.count));
  }
  if (e.received) {
    const which = e.received.which ?? "last";
    const picked = which === "all" ? o.entries : which === "first" ? o.entries.slice(0, 1) : o.entries.slice(-1);
    if (!picked.length) add("backend received", "a review", "no review", false);
    for (const entry of picked) {
      if (e.received.images) add("images sent", json(e.received.images), json(entry.images), json(e.received.images) === json(entry.images));
      if (e.received.namespace !== undefined) {
        const want = substitute(e.received.namespace, subs);
        add("namespace sent", want, entry.namespace, entry.namespace === want);
      }
      if (e.received.annotations) {
        const want = sortKeys(e.received.annotations);
        add("annotations forwarded", json(want), json(sortKeys(entry.annotations)), json(want) === json(sortKeys(entry.annotations)));
      }
    }
  }
  const gaps = o.entries.slice(1).map((entry, i) => Math.round(entry.atMs - o.entries[i]!.atMs));
  if (e.callGapsMs) {
    const ok = gaps.length === e.callGapsMs.length && gaps.every((g, i) => inRange(g, e.callGapsMs![i]!));
    add("gaps between reviews (ms)", e.callGapsMs.map(describeRange).join(", "), gaps.join(", ") || "(none)", ok);
  }
  if (e.callGapsGrow) {
    const ok = gaps.length >= 2 && gaps.every((g, i) => i === 0 || g > gaps[i - 1]!);
    add("gaps between reviews grow", "strictly increasing", gaps.join(", ") || "(none)", ok);
  }
  if (e.durationMs) {
    const d = out ? Math.round(out.durationMs) : undefined;
    add("request duration (ms)", describeRange(e.durationMs), d === undefined ? "no request" : String(d), d !== undefined && inRange(d, e.durationMs));
  }
  if (e.sinceMarkMs) {
    const ms = o.markAgeMs?.[e.sinceMarkMs.mark];
    const age = ms === undefined ? undefined : Math.round(ms);
    add(`ms since ${e.sinceMarkMs.mark}`, describeRange(e.sinceMarkMs), age === undefined ? NOT_OBSERVED : String(age), age !== undefined && inRange(age, e.sinceMarkMs));
  }
  if (e.events) {
    add(
      "event",
      `${e.events.reason}${e.events.message ? ` with ${e.events.message}` : ""}`,
      o.event?.observed ?? "(not looked up)",
      o.event?.found ?? false,
    );
  }
  if (e.auditAnnotations) {
    for (const [k, v] of Object.entries(e.auditAnnotations)) {
      const got = o.audit?.[k];
      add(`audit annotation ${k}`, v === null ? "absent" : v, o.audit === undefined ? "(no audit event)" : (got ?? "absent"), v === null ? o.audit !== undefined && got === undefined : got === v);
    }
  }
  if (e.podAnnotationsAbsent) {
    for (const k of e.podAnnotationsAbsent) {
      const got = o.podAnnotations?.[k];
      add(`pod annotation ${k}`, "absent", o.podAnnotations === undefined ? "(pod not read)" : (got ?? "absent"), o.podAnnotations !== undefined && got === undefined);
    }
  }
  return checks;
}

function sortKeys(m: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b)));
}
