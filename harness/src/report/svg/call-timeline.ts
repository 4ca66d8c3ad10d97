// The timeline of backend calls of one scenario: one lane per request step, each review the stub
// journaled drawn at the time the stub received it, the gaps between retries labelled, a call the
// backend never answered drawn as a bar as long as it stayed open (the 30 s hang), and client-go's
// own retries after a Retry-After told apart from the webhook's backoff retries.
//
// Only observed numbers are drawn: positions come from the journal's `atMs` (the stub's monotonic
// clock), bars from its `latencyMs`. The harness measures request durations on another clock, so
// those appear as text, never as positions on this axis.
import type { JournalEntry } from "../../../../webhook-stub/src/types.ts";
import { NOT_OBSERVED, type ScenarioResult, type StepResult } from "../../scenario/result.ts";
import { attrs, clip, esc, fmtDuration, num, svgDoc, tag, timeAxis, textWidth, title } from "./svg-kit.ts";

/** `backoff`: the webhook plugin's own retry; `inner`: client-go waiting out a Retry-After inside one attempt. */
export type GapKind = "backoff" | "inner";

export interface CallMark {
  entry: JournalEntry;
  /** Milliseconds after the scenario's first call (stub clock). */
  tMs: number;
  /** Reached the backend through client-go's Retry-After retry rather than a new webhook attempt. */
  inner: boolean;
}

export interface CallGap {
  fromSeq: number;
  toSeq: number;
  fromMs: number;
  toMs: number;
  /** The observed gap: difference of the two calls' `atMs`. */
  ms: number;
  kind: GapKind;
  /** The Retry-After (seconds) the earlier answer carried, when the gap is client-go waiting it out. */
  retryAfterS?: number;
}

export interface CallLane {
  step: StepResult;
  calls: CallMark[];
  gaps: CallGap[];
}

export interface CallTimeline {
  lanes: CallLane[];
  /** Total calls drawn (the sum over lanes). */
  calls: number;
  /** Length of the axis in ms: from the first call to the end of the last (at least 1 ms). */
  spanMs: number;
}

/** Retry-After seconds of an answer client-go honours (429 or 5xx with the header), read from the stub's fault spec. */
export function retryAfterSeconds(e: JournalEntry): number | undefined {
  if (!(e.status === 429 || e.status >= 500)) return undefined;
  const m = /(?:^|:)retry-after:(\d+)(?:$|:)/.exec(e.fault ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether the gap after `prev` is client-go waiting out `prev`'s Retry-After: the gap matches the
 * header's seconds within 60 ms (or 5 %). The webhook's backoff (retryBackoff × 1.5ⁿ with jitter)
 * does not land there in practice; the lane's legend says this is inferred from the timing.
 */
function isInnerRetry(prev: JournalEntry, gapMs: number): number | undefined {
  const s = retryAfterSeconds(prev);
  if (s === undefined) return undefined;
  const want = s * 1000;
  return Math.abs(gapMs - want) <= Math.max(60, want * 0.05) ? s : undefined;
}

/** Steps that sent something to the apiserver (or saw backend traffic): one lane each. */
function laneSteps(s: ScenarioResult): StepResult[] {
  return s.steps.filter((st) => st.request !== undefined || st.journal.length > 0);
}

/** The timeline's data, from the journal alone; undefined when the scenario played no request. */
export function callTimelineModel(s: ScenarioResult): CallTimeline | undefined {
  const steps = laneSteps(s);
  if (steps.length === 0) return undefined;
  const all = steps.flatMap((st) => st.journal);
  const origin = all.length ? Math.min(...all.map((e) => e.atMs)) : 0;
  const end = all.length ? Math.max(...all.map((e) => e.atMs + Math.max(0, e.latencyMs))) : 0;
  const lanes = steps.map((step): CallLane => {
    const entries = [...step.journal].sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
    const calls: CallMark[] = [];
    const gaps: CallGap[] = [];
    entries.forEach((entry, i) => {
      const prev = entries[i - 1];
      let inner = false;
      if (prev) {
        const ms = entry.atMs - prev.atMs;
        const retryAfterS = isInnerRetry(prev, ms);
        inner = retryAfterS !== undefined;
        gaps.push({ fromSeq: prev.seq, toSeq: entry.seq, fromMs: prev.atMs - origin, toMs: entry.atMs - origin, ms, kind: inner ? "inner" : "backoff", retryAfterS });
      }
      calls.push({ entry, tMs: entry.atMs - origin, inner });
    });
    return { step, calls, gaps };
  });
  return { lanes, calls: all.length, spanMs: Math.max(1, end - origin) };
}

/** `refused 403`, `admitted (status not observed)`, `error`: what the apiserver answered, as observed. */
export function answerText(step: StepResult): string {
  const r = step.response;
  if (!r) return step.error ? "error, no answer" : "no answer";
  const word = r.allowed ? "admitted" : "refused";
  return r.code === undefined ? `${word} (status ${NOT_OBSERVED})` : `${word} ${r.code}`;
}

/** CSS class of a call by what the backend did: allowed, denied, fault (an error answer), noanswer. */
export function callClass(e: JournalEntry): "allowed" | "denied" | "fault" | "noanswer" {
  if (e.status === 0) return "noanswer";
  const ok = e.status >= 200 && e.status < 300;
  if (ok && e.outcome === "allowed") return "allowed";
  if (ok && e.outcome === "denied") return "denied";
  return "fault";
}

function callTitle(m: CallMark): string {
  const e = m.entry;
  const answer = e.status === 0 ? `no answer; connection closed after ${fmtDuration(e.latencyMs)}` : `HTTP ${e.status} after ${fmtDuration(e.latencyMs)}`;
  const why = m.inner ? " · client-go retry after Retry-After" : "";
  return `review #${e.seq} at +${fmtDuration(m.tMs)} (backend clock) · ${e.outcome} · ${answer}${e.fault ? ` · fault ${e.fault}` : ""}${why}`;
}

const W = 900;
const X0 = 250; // plot starts here; lane labels live left of it
const X1 = 885;
const LANE_H = 80;
const AXIS_H = 34;

/** Renders the model. Lanes stack top-down in step order; the axis at the bottom is shared. */
export function renderCallTimeline(name: string, t: CallTimeline): string {
  const pad = 8;
  const x = (ms: number) => X0 + pad + (ms / t.spanMs) * (X1 - X0 - 2 * pad);
  const width = (ms: number) => (ms / t.spanMs) * (X1 - X0 - 2 * pad);
  const parts: string[] = [];
  t.lanes.forEach((lane, i) => {
    const top = i * LANE_H;
    const y = top + 52;
    const st = lane.step;
    parts.push(`<g class="lane"${attrs({ "data-step": st.index + 1, "data-calls": lane.calls.length })}>`);
    if (i > 0) parts.push(tag("line", { class: "sep", x1: 0, x2: W, y1: top, y2: top }));
    parts.push(tag("line", { class: "track", x1: X0, x2: X1, y1: y, y2: y }));
    // Lane label: the step, then what the apiserver answered, the calls and the harness-measured time.
    const head = `step ${st.index + 1}: ${st.name}`;
    parts.push(tag("text", { class: "lane-name", x: 6, y: top + 40 }, `${title(head)}${esc(clip(head, 34))}`));
    const facts = `${answerText(st)} · ${lane.calls.length} ${lane.calls.length === 1 ? "call" : "calls"} · ${fmtDuration(st.durationMs)}`;
    parts.push(tag("text", { class: "lane-facts", x: 6, y: top + 58 }, esc(clip(facts, 38))));
    if (lane.calls.length === 0) parts.push(tag("text", { class: "none", x: X0 + pad, y: y + 4 }, "no call reached the backend"));
    // Latency bars first, so marks draw over them: a hang shows as a 30 s bar.
    for (const m of lane.calls) {
      const w = width(Math.max(0, m.entry.latencyMs));
      if (w < 3) continue;
      const stall = m.entry.status === 0;
      const label = stall ? `no answer · ${fmtDuration(m.entry.latencyMs)}` : `answered after ${fmtDuration(m.entry.latencyMs)}`;
      parts.push(
        `<g class="${stall ? "stall" : "latency"}"${attrs({ "data-latency-ms": m.entry.latencyMs })}>${title(label)}` +
          tag("rect", { x: x(m.tMs), y: stall ? y - 4 : y - 2, width: w, height: stall ? 8 : 4, rx: 2 }) +
          (w > textWidth(label, 11) + 12 ? tag("text", { x: x(m.tMs) + 8, y: y + 20 }, esc(label)) : "") +
          `</g>`,
      );
    }
    parts.push(...gapParts(lane, x, y));
    for (const m of lane.calls) {
      const cx = x(m.tMs);
      const shape = m.inner ? tag("rect", { x: cx - 4, y: y - 4, width: 8, height: 8 }) : tag("circle", { cx, cy: y, r: 5.5 });
      parts.push(
        `<g class="call ${callClass(m.entry)}${m.inner ? " inner" : ""}"${attrs({ "data-seq": m.entry.seq, "data-t-ms": m.tMs, "data-status": m.entry.status })}>${title(callTitle(m))}${shape}</g>`,
      );
    }
    parts.push(`</g>`);
  });
  const axisY = t.lanes.length * LANE_H + 6;
  // Without a call there is no time to show: the lanes say "no call reached the backend".
  if (t.calls > 0) parts.push(timeAxis(t.spanMs, x, axisY, X0, X1, "time since the first call (backend clock)"));
  const label = `Backend calls of ${name}: ${t.calls} ${t.calls === 1 ? "call" : "calls"} over ${fmtDuration(t.calls ? t.spanMs : 0)}`;
  return svgDoc("call-timeline", W, axisY + (t.calls > 0 ? AXIS_H : 0), label, parts.join(""), { "data-scenario": name, "data-calls": t.calls });
}

/** Gap labels: each backoff gap gets e.g. `+104 ms`; a run of client-go retries gets one bracket `10× Retry-After 1 s`. */
function gapParts(lane: CallLane, x: (ms: number) => number, y: number): string[] {
  const out: string[] = [];
  const rowsEnd = [-Infinity, -Infinity, -Infinity];
  for (const g of lane.gaps) {
    const x1 = x(g.fromMs);
    const x2 = x(g.toMs);
    const what = g.kind === "inner" ? `client-go waited out Retry-After ${g.retryAfterS} s` : "webhook retry after backoff";
    let text = "";
    if (g.kind === "backoff") {
      const label = `+${fmtDuration(g.ms)}`;
      const w = textWidth(label, 11);
      const cx = (x1 + x2) / 2;
      // Three label rows above the lane; take the lowest one that is free at this x.
      const row = Math.max(0, rowsEnd.findIndex((end) => end + 4 <= cx - w / 2));
      rowsEnd[row] = cx + w / 2;
      text = tag("text", { class: "gap-label", x: cx, y: y - 14 - row * 12, "text-anchor": "middle" }, esc(label));
    }
    out.push(
      `<g class="gap ${g.kind}"${attrs({ "data-gap-ms": g.ms, "data-from": g.fromSeq, "data-to": g.toSeq })}>` +
        `${title(`+${fmtDuration(g.ms)} between reviews #${g.fromSeq} and #${g.toSeq}: ${what}`)}` +
        tag("line", { x1, x2, y1: y, y2: y }) +
        text +
        `</g>`,
    );
  }
  // Consecutive inner gaps form one run of client-go retries inside a single webhook attempt.
  let run: CallGap[] = [];
  const flush = () => {
    if (!run.length) return;
    const first = run[0]!;
    const last = run.at(-1)!;
    const x1 = x(first.fromMs);
    const x2 = x(last.toMs);
    const gaps = run.map((g) => g.ms);
    const label = `${run.length}× Retry-After ${first.retryAfterS} s`;
    const range = `${fmtDuration(Math.min(...gaps))}–${fmtDuration(Math.max(...gaps))}`;
    out.push(
      `<g class="inner-run"${attrs({ "data-retries": run.length, "data-retry-after-s": first.retryAfterS })}>` +
        title(`${run.length} client-go retries inside one webhook attempt, each after the answer's Retry-After: ${first.retryAfterS} s (observed gaps ${range}; inferred from the timing)`) +
        tag("path", { d: `M${num(x1)},${num(y + 9)}v4H${num(x2)}v-4` }) +
        tag("text", { x: (x1 + x2) / 2, y: y + 25, "text-anchor": "middle" }, esc(label)) +
        `</g>`,
    );
    run = [];
  };
  for (const g of lane.gaps) {
    if (g.kind === "inner") run.push(g);
    else flush();
  }
  flush();
  return out;
}


/** The scenario's call timeline as an SVG string, or "" when it played no request. */
export function callTimelineSvg(s: ScenarioResult): string {
  const t = callTimelineModel(s);
  return t ? renderCallTimeline(s.name, t) : "";
}
