// The cache timeline of a TTL scenario: one row per request step on the harness clock, each step
// classified from what was observed, never from what the scenario expected:
//   stored   the backend gave a verdict (HTTP 2xx, allowed or denied) and the profile caches it;
//   hit      the apiserver answered without a backend call after a verdict was stored;
//   expired  the backend was asked again for the same images and namespace once the stored verdict's
//            TTL had passed (the gap between the two calls is the stub's measurement);
//   miss     asked again before that: the cache key differed in something else (e.g. annotations);
//   not stored: an error answer, which the plugin never caches; no call: nothing to store.
// The stored verdict's TTL is drawn from the storing step; the verdict was stored at some moment
// during that step, so its expiry is drawn as a window as wide as the step.
import type { JournalEntry } from "../../../../webhook-stub/src/types.ts";
import { effectiveDurations } from "../../profile/profile.ts";
import type { ScenarioResult, StepResult } from "../../scenario/result.ts";
import { answerText, callClass } from "./call-timeline.ts";
import { attrs, clip, esc, fmtDuration, svgDoc, tag, timeAxis, textWidth, title } from "./svg-kit.ts";

export type CacheKind = "stored" | "hit" | "expired" | "miss" | "not-stored" | "uncached" | "no-call";

export interface CacheRow {
  step: StepResult;
  kind: CacheKind;
  /** Step start and end, ms after the scenario's first step (harness clock). */
  startMs: number;
  endMs: number;
  calls: number;
  /** Attempts of a repeated step answered without a backend call before the call that ended it. */
  hitsBefore: number;
  /** The verdict the backend gave in this step's last call, when it gave one. */
  verdict?: "allowed" | "denied";
  /** TTL of the verdict stored in this step (stored, expired, miss rows). */
  ttlMs?: number;
  /** For expired and miss: ms between the earlier stored call and this one (stub clock), and that entry's TTL. */
  sinceStoredMs?: number;
  storedTtlMs?: number;
  /** HTTP status of an error answer (not-stored rows). */
  status?: number;
}

/** A step that changed the world without a request (setBackend, wait): drawn as a marker. */
export interface CacheChange {
  step: StepResult;
  atMs: number;
}

export interface CacheTimeline {
  rows: CacheRow[];
  changes: CacheChange[];
  spanMs: number;
}

/** Scenarios the cache picture is for: a profile that caches, and at least two requests to compare. */
export function isCacheScenario(s: ScenarioResult): boolean {
  const { allowTtlMs, denyTtlMs } = effectiveDurations(s.profile);
  return s.verdict !== "skipped" && (allowTtlMs > 0 || denyTtlMs > 0) && s.steps.filter((st) => st.request).length >= 2;
}

/** An approximation of the plugin's cache key from what the report holds: images in order and namespace. */
function keyOf(st: StepResult): string {
  return JSON.stringify([st.request?.images ?? [], st.request?.namespace ?? ""]);
}

/** Classifies every request step; undefined when the scenario is not a cache scenario. */
export function cacheTimelineModel(s: ScenarioResult): CacheTimeline | undefined {
  if (!isCacheScenario(s)) return undefined;
  const { allowTtlMs, denyTtlMs } = effectiveDurations(s.profile);
  const origin = Math.min(...s.steps.map((st) => st.startedAtMs));
  const stored = new Map<string, { entry: JournalEntry; ttlMs: number }>();
  const rows: CacheRow[] = [];
  const changes: CacheChange[] = [];
  for (const step of s.steps) {
    const startMs = step.startedAtMs - origin;
    if (!step.request) {
      changes.push({ step, atMs: startMs });
      continue;
    }
    const base = { step, startMs, endMs: startMs + step.durationMs, calls: step.journal.length };
    const last = step.journal.at(-1);
    if (!last) {
      // "Answered without a backend call after a stored verdict" is what a hit looks like from outside.
      const hit = stored.size > 0 && step.response !== undefined;
      rows.push({ ...base, kind: hit ? "hit" : "no-call", hitsBefore: hit ? Math.max(0, step.attempts - 1) : 0 });
      continue;
    }
    const hitsBefore = Math.max(0, step.attempts - step.journal.length);
    const cls = callClass(last);
    if (cls !== "allowed" && cls !== "denied") {
      rows.push({ ...base, kind: "not-stored", hitsBefore, status: last.status });
      continue;
    }
    const ttlMs = cls === "allowed" ? allowTtlMs : denyTtlMs;
    const key = keyOf(step);
    const prev = stored.get(key);
    let kind: CacheKind = ttlMs > 0 ? "stored" : "uncached";
    let sinceStoredMs: number | undefined;
    if (prev) {
      sinceStoredMs = last.atMs - prev.entry.atMs;
      // 5 % slack: the apiserver and the stub read different clocks of the same host.
      kind = sinceStoredMs >= prev.ttlMs * 0.95 ? "expired" : "miss";
    }
    if (ttlMs > 0) stored.set(key, { entry: last, ttlMs });
    else stored.delete(key);
    rows.push({ ...base, kind, hitsBefore, verdict: cls, ttlMs: ttlMs > 0 ? ttlMs : undefined, sinceStoredMs, storedTtlMs: prev?.ttlMs });
  }
  const lastEnd = Math.max(...rows.map((r) => r.endMs), ...changes.map((c) => c.atMs + c.step.durationMs));
  // Show an expiry when it falls near the steps; a 30 s TTL after a 0.3 s scenario gets an arrow instead.
  const expiries = rows.filter((r) => r.ttlMs !== undefined && r.hitsBefore === 0).map((r) => r.endMs + r.ttlMs!);
  const spanMs = Math.max(10, lastEnd, ...expiries.filter((e) => e <= lastEnd * 1.5));
  return { rows, changes, spanMs };
}

const TTL_NAME = { allowed: "allowTTL", denied: "denyTTL" } as const;

/** A TTL as configured: whole seconds stay whole (`2 s`, `30 s`). */
function fmtTtl(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : fmtDuration(ms);
}

/** The words under a row's bar: what happened to the cache in this step. */
export function rowLabel(r: CacheRow): string {
  const answer = answerText(r.step);
  const times = (n: number) => (n > 1 ? ` ×${n}` : "");
  switch (r.kind) {
    case "stored":
      return `stored: ${r.verdict} (${answer})`;
    case "hit":
      return `hit${times(r.hitsBefore + 1)}: ${answer}, no backend call`;
    case "expired":
      return `${r.hitsBefore ? `hit ×${r.hitsBefore}, then ` : ""}expired: asked again ${fmtDuration(r.sinceStoredMs!)} after stored → ${r.verdict}`;
    case "miss":
      return `miss: asked again ${fmtDuration(r.sinceStoredMs!)} after stored (another cache key) → ${r.verdict}`;
    case "not-stored":
      return `error answer${r.status ? ` (HTTP ${r.status})` : " (no answer)"}: not stored; ${answer}`;
    case "uncached":
      return `${r.verdict}: TTL -1, not stored`;
    case "no-call":
      return `${answer} without a backend call; nothing stored`;
  }
}

const W = 900;
const X0 = 250;
const X1 = 885;
const HEAD_H = 24;
const ROW_H = 46;
const AXIS_H = 34;
const LABEL_FONT = 11.5;

export function renderCacheTimeline(name: string, t: CacheTimeline): string {
  const pad = 4;
  const x = (ms: number) => X0 + pad + (Math.min(ms, t.spanMs) / t.spanMs) * (X1 - X0 - 2 * pad);
  const parts: string[] = [];
  const bottom = HEAD_H + t.rows.length * ROW_H;
  const barY = (i: number) => HEAD_H + i * ROW_H + 16;
  // Expiry windows first, from the storing row down through every later row, so a later step can be
  // read against them: a hit lies before the window, an "asked again" after it.
  t.rows.forEach((r, i) => {
    if (r.ttlMs === undefined || r.hitsBefore > 0 || r.startMs + r.ttlMs > t.spanMs) return;
    const from = x(r.startMs + r.ttlMs);
    const to = Math.max(from + 2, x(r.endMs + r.ttlMs));
    parts.push(
      `<g class="expiry">${title(`${TTL_NAME[r.verdict!]} ${fmtTtl(r.ttlMs)}: the verdict stored during step ${r.step.index + 1} expires between +${fmtDuration(r.startMs + r.ttlMs)} and +${fmtDuration(r.endMs + r.ttlMs)} (harness clock)`)}` +
        tag("rect", { x: from, y: barY(i) - 9, width: to - from, height: bottom - barY(i) + 9 }) +
        `</g>`,
    );
  });
  // Backend changes: a dashed line through all rows, named in the header row.
  t.changes.forEach((c, i) => {
    const cx = x(c.atMs);
    const next = t.changes[i + 1];
    const room = (next ? x(next.atMs) : X1) - cx - 8;
    const text = c.step.name.replace(/^set backend /, "backend ");
    parts.push(
      `<g class="change"${attrs({ "data-step": c.step.index + 1 })}>${title(`step ${c.step.index + 1}: ${c.step.name}`)}` +
        tag("line", { x1: cx, x2: cx, y1: HEAD_H - 6, y2: bottom }) +
        tag("text", { x: cx + 3, y: HEAD_H - 10 }, esc(clip(text, Math.max(4, Math.floor(room / 6.6))))) +
        `</g>`,
    );
  });
  t.rows.forEach((r, i) => {
    const top = HEAD_H + i * ROW_H;
    const y = barY(i);
    const head = `step ${r.step.index + 1}: ${r.step.name}`;
    parts.push(`<g class="row ${r.kind}"${attrs({ "data-kind": r.kind, "data-step": r.step.index + 1, "data-calls": r.calls })}>`);
    parts.push(tag("line", { class: "sep", x1: 0, x2: W, y1: top, y2: top }));
    parts.push(tag("text", { class: "lane-name", x: 6, y: y + 4 }, `${title(head)}${esc(clip(head, 34))}`));
    const x1 = x(r.startMs);
    const x2 = Math.max(x(r.endMs), x1 + 3);
    let label = rowLabel(r);
    // The TTL of a verdict stored here: a line to where it expires, or an arrow when that is off the
    // chart. A repeated step stored its verdict in its last attempt, whose start is not recorded: words only.
    if (r.ttlMs !== undefined) {
      const ttlText = `${TTL_NAME[r.verdict!]} ${fmtTtl(r.ttlMs)}`;
      const sure = r.startMs + r.ttlMs;
      if (r.hitsBefore > 0) {
        label += r.kind === "expired" ? `; stored again, ${ttlText}` : `; stored, ${ttlText}`;
      } else if (sure <= t.spanMs) {
        parts.push(
          `<g class="ttl"${attrs({ "data-ttl-ms": r.ttlMs })}>` +
            tag("line", { x1: x2, x2: x(sure), y1: y, y2: y }) +
            tag("text", { x: x(sure) - 4, y: y - 4, "text-anchor": "end" }, esc(`${ttlText} → expires`)) +
            `</g>`,
        );
      } else if (x2 < X1 - 80) {
        const arrow = `${ttlText}: expires at +${fmtDuration(sure)}, off the chart`;
        parts.push(
          `<g class="ttl"${attrs({ "data-ttl-ms": r.ttlMs })}>${title(arrow)}` +
            tag("path", { d: `M${x2},${y}H${X1 - 2}m-6,-4l6,4l-6,4` }) +
            tag("text", { x: X1 - 4, y: y - 4, "text-anchor": "end" }, esc(textWidth(arrow, 11) < X1 - x2 - 12 ? arrow : `${ttlText} →`)) +
            `</g>`,
        );
      } else {
        label += r.kind === "stored" ? `, ${ttlText}` : r.kind === "expired" ? `; stored again, ${ttlText}` : `; stored, ${ttlText}`;
      }
    }
    // A repeated step that ended with a call was answered from the cache until then: hit-coloured bar, end mark.
    const barKind = r.hitsBefore > 0 && r.calls > 0 ? "hit" : r.kind;
    const barTitle = `step ${r.step.index + 1}: ${fmtDuration(r.endMs - r.startMs)}, ${r.step.attempts} ${r.step.attempts === 1 ? "attempt" : "attempts"}, ${r.calls} ${r.calls === 1 ? "call" : "calls"} (harness clock)`;
    parts.push(`<g class="bar ${barKind}">${title(barTitle)}${tag("rect", { x: x1, y: y - 6, width: x2 - x1, height: 12, rx: 3 })}</g>`);
    if (barKind !== r.kind) parts.push(`<g class="bar ${r.kind}">${title("the call that ended the step")}${tag("circle", { cx: x2, cy: y, r: 6 })}</g>`);
    // The words go on a second line, under the bar where they fit, pulled left (into the name column if need be) where not.
    const w = textWidth(label, LABEL_FONT);
    parts.push(tag("text", { class: "row-label", x: Math.max(6, Math.min(x1, X1 - w)), y: top + 37 }, esc(label)));
    parts.push(`</g>`);
  });
  parts.push(timeAxis(t.spanMs, x, bottom + 6, X0, X1, "time since the first step (harness clock)"));
  const label = `Cache timeline of ${name}: ${t.rows.map((r) => r.kind).join(", ")}`;
  return svgDoc("cache-timeline", W, bottom + 6 + AXIS_H, label, parts.join(""), { "data-scenario": name });
}

/** The scenario's cache timeline as an SVG string, or "" when it is not a cache scenario. */
export function cacheTimelineSvg(s: ScenarioResult): string {
  const t = cacheTimelineModel(s);
  return t ? renderCacheTimeline(s.name, t) : "";
}
