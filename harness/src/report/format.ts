// Text helpers every report shares, so the terminal, JUnit and HTML say the same thing in the same
// words: durations, profile labels, and the one-line "expected / observed" summary of a scenario.
import type { AdmissionProfile } from "../profile/profile.ts";
import type { CheckResult, RunReport, ScenarioResult, StepResult, Verdict } from "../scenario/result.ts";

/** Human duration: `0.3s`, `74.2s`, `2m05s`. One decimal is enough to compare runs by eye. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 100_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** All four knobs, space-separated, in the order the plugin's config file lists them. */
export function profileLabel(p: AdmissionProfile): string {
  return `defaultAllow=${p.defaultAllow} allowTTL=${p.allowTTL} denyTTL=${p.denyTTL} retryBackoff=${p.retryBackoff}`;
}

/** `28 passed, 1 failed, 2 skipped`; zero counts are left out except when nothing ran at all. */
export function totalsText(t: Record<Verdict, number>): string {
  const parts: string[] = [];
  if (t.pass) parts.push(`${t.pass} passed`);
  if (t.fail) parts.push(`${t.fail} failed`);
  if (t.error) parts.push(`${t.error} errored`);
  if (t.skipped) parts.push(`${t.skipped} skipped`);
  return parts.length ? parts.join(", ") : "no scenarios";
}

/** How much longer the run took than the waits it could not avoid; undefined when there were none. */
export function waitRatio(report: Pick<RunReport, "durationMs" | "unavoidableWaitMs">): number | undefined {
  return report.unavoidableWaitMs > 0 ? report.durationMs / report.unavoidableWaitMs : undefined;
}

export interface FailedCheck {
  step: StepResult;
  check: CheckResult;
}

/** The first check that did not hold, with its step: the one fact a reader of a failure needs first. */
export function firstFailure(s: ScenarioResult): FailedCheck | undefined {
  for (const step of s.steps) {
    const check = step.checks.find((c) => !c.ok);
    if (check) return { step, check };
  }
  return undefined;
}

/** The step that made the scenario fail or error (a failing check, or an error without checks). */
export function decisiveStep(s: ScenarioResult): StepResult | undefined {
  return s.steps.find((st) => st.verdict === "fail" || st.verdict === "error");
}

export interface Summary {
  expected: string;
  observed: string;
}

/**
 * One-line expected/observed for a scenario. A pass shows the key facts of its last checked step
 * (`denied 403, 1 call`) on both sides; a failure shows its first failing check; errors and skips
 * show their reason on the observed side.
 */
export function summarize(s: ScenarioResult): Summary {
  if (s.verdict === "skipped") return { expected: "—", observed: `skipped: ${s.reason ?? "no reason given"}` };
  const failed = firstFailure(s);
  if (s.verdict === "fail" && failed) {
    const { check, step } = failed;
    const label = check.what === "allowed" ? "" : `${check.what}: `;
    return { expected: `step ${step.index + 1} ${label}${check.expected}`, observed: `${label}${check.observed}` };
  }
  const bad = decisiveStep(s);
  if (s.verdict === "error" || bad) {
    return { expected: bad ? `step ${bad.index + 1} ${bad.name}` : "—", observed: `error: ${bad?.error ?? s.reason ?? "unknown"}` };
  }
  const checked = s.steps.filter((st) => st.checks.length > 0);
  const last = checked.at(-1);
  if (!last) return { expected: "no checks", observed: s.steps.length ? `${s.steps.length} steps ran` : "nothing ran" };
  const more = checked.length > 1 ? ` (+${checked.length - 1} steps)` : "";
  return { expected: keyFacts(last.checks, "expected") + more, observed: keyFacts(last.checks, "observed") };
}

/** Condenses the usual checks (allowed, code, backend calls) into `denied 403, 1 call`. */
function keyFacts(checks: CheckResult[], side: "expected" | "observed"): string {
  const by = (what: string) => checks.find((c) => c.what === what)?.[side];
  const facts: string[] = [];
  const allowed = by("allowed");
  const code = by("code");
  if (allowed !== undefined) {
    // The observed side already reads "denied (403)" or "denied (status not observed)"; fold the
    // status in once, not twice. A status that is not a number stays in words: "allowed (status not observed)".
    const paren = /^(.*?)\s*\(([^()]*)\)$/.exec(allowed);
    const word = paren ? paren[1]! : allowed;
    const status = code ?? paren?.[2];
    if (status === undefined || status === word) facts.push(word);
    else if (/^\d+$/.test(status)) facts.push(`${word} ${status}`);
    else facts.push(`${word} (${status.startsWith("status ") ? status : `status ${status}`})`);
  } else if (code !== undefined) {
    facts.push(`code ${code}`);
  }
  const calls = by("backend calls");
  if (calls !== undefined) facts.push(`${calls} ${calls === "1" ? "call" : "calls"}`);
  if (facts.length === 0) {
    const c = checks[0]!;
    facts.push(`${c.what}: ${c[side]}`);
  }
  return facts.join(", ");
}

/** Makes control characters visible (U+2400 pictures) instead of letting them move the cursor. */
export function visibleControls(text: string, keepNewlines = false): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (ch) => {
    if (keepNewlines && (ch === "\n" || ch === "\t")) return ch;
    return ch === "\u007f" ? "\u2421" : String.fromCharCode(0x2400 + ch.charCodeAt(0));
  });
}

/** Scenarios grouped by profile, in order of first appearance (the order the runner played them). */
export function groupByProfile(scenarios: ScenarioResult[]): { key: string; profile: AdmissionProfile; scenarios: ScenarioResult[] }[] {
  const groups = new Map<string, { key: string; profile: AdmissionProfile; scenarios: ScenarioResult[] }>();
  for (const s of scenarios) {
    const key = profileLabel(s.profile);
    if (!groups.has(key)) groups.set(key, { key, profile: s.profile, scenarios: [] });
    groups.get(key)!.scenarios.push(s);
  }
  return [...groups.values()];
}
