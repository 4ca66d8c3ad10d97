// Plain-text evidence for one step (request, response, checks, backend reviews). JUnit puts it in
// <failure> and <system-out>, where CI shows plain text only, so it must read well without markup.
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import { NOT_OBSERVED, type ScenarioResult, type StepResult } from "../scenario/result.ts";
import { formatMs, profileLabel } from "./format.ts";

export function requestText(r: NonNullable<StepResult["request"]>): string {
  const parts = [`${r.kind}${r.name ? ` ${r.name}` : ""} in ${r.namespace}`];
  if (r.images?.length) parts.push(`images ${r.images.join(", ")}`);
  if (r.dryRun) parts.push("dry run");
  return parts.join(", ");
}

/** `403 denied: …`, or `allowed (status not observed)` when no status code was received. */
export function responseText(r: NonNullable<StepResult["response"]>): string {
  const verdict = r.allowed ? "allowed" : "denied";
  const head = r.code === undefined ? `${verdict} (status ${NOT_OBSERVED})` : `${r.code} ${verdict}`;
  return `${head}${r.message ? `: ${r.message}` : ""}`;
}

/** One backend review on one line: what the apiserver sent and what the stub did with it. */
export function journalText(e: JournalEntry): string {
  const ann = Object.keys(e.annotations).length ? ` annotations ${JSON.stringify(e.annotations)}` : "";
  const extra = [e.reason ? `reason ${JSON.stringify(e.reason)}` : "", e.fault ? `fault ${e.fault}` : ""].filter(Boolean).join(", ");
  return (
    `review #${e.seq} ${e.method} ${e.url} images [${e.images.join(", ")}] namespace ${e.namespace || "(none)"}${ann}` +
    ` → ${e.outcome}, status ${e.status}, ${Math.round(e.latencyMs)}ms${extra ? `, ${extra}` : ""}`
  );
}

/** The whole step as indented lines: every check (FAIL marked) and every backend review. */
export function stepText(step: StepResult): string {
  const attempts = step.attempts > 1 ? `, ${step.attempts} attempts` : "";
  const lines = [`step ${step.index + 1}: ${step.name} (${step.action}) — ${step.verdict}, ${formatMs(step.durationMs)}${attempts}`];
  if (step.request) lines.push(`  request: ${requestText(step.request)}`);
  if (step.response) lines.push(`  response: ${responseText(step.response)}`);
  for (const c of step.checks) {
    lines.push(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}: expected ${c.expected}; observed ${c.observed}`);
  }
  for (const n of step.notes ?? []) lines.push(`  not checked: ${n}`);
  // With notes the journal was not observed (the user's backend): an empty one says nothing.
  if (step.journal.length === 0 && step.request && !step.notes?.length) lines.push("  backend: no reviews");
  for (const e of step.journal) lines.push(`  backend: ${journalText(e)}`);
  if (step.error) lines.push(`  error: ${step.error}`);
  return lines.join("\n");
}

/** Header and every step: the scenario's full log. */
export function scenarioLog(s: ScenarioResult): string {
  const head = [
    `scenario ${s.name} (${s.file})`,
    s.description,
    `profile ${profileLabel(s.profile)}, namespace ${s.namespace}`,
    s.specRef ? `spec ${s.specRef}` : "",
    s.reason ? `${s.verdict}: ${s.reason}` : "",
  ].filter(Boolean);
  return [...head, ...s.steps.map((st) => stepText(st))].join("\n");
}
