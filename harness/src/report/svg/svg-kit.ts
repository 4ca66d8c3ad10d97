// Small helpers the report's SVG pictures share: escaping, element building, time formatting and
// axis ticks. The pictures are plain strings inlined in the HTML report, so nothing here touches a
// DOM and everything is testable as text.
import { visibleControls } from "../format.ts";

/** Escapes text for SVG element content and quoted attributes (control characters become U+2400 pictures). */
export function esc(text: string): string {
  return visibleControls(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

export type Attrs = Record<string, string | number | undefined>;

/** ` a="1" b="x"`; undefined values are left out, numbers are rounded to 0.1 user units. */
export function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === "number" ? num(v) : esc(v)}"`)
    .join("");
}

/** One element; `content` is markup (escape text with esc first). */
export function tag(name: string, a: Attrs, content?: string): string {
  return content === undefined ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${content}</${name}>`;
}

/** A hover text for the enclosing shape; browsers show it as a tooltip and screen readers read it. */
export function title(text: string): string {
  return `<title>${esc(text)}</title>`;
}

/** Coordinates with one decimal: enough for a 900-unit picture, and stable text for tests. */
export function num(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** A duration as it is labelled in the pictures: `0.6 ms`, `118 ms`, `1.01 s`, `30.0 s`. */
export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 10) return `${Number(ms.toFixed(1))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** An axis tick label: `0`, `250 ms`, `1 s`, `2.5 s`. */
export function fmtTick(ms: number): string {
  if (ms === 0) return "0";
  if (Math.abs(ms) < 1000) return `${Number(ms.toPrecision(6))} ms`;
  return `${Number((ms / 1000).toPrecision(6))} s`;
}

/** Tick positions 0, step, 2·step… covering [0, spanMs], with step 1, 2 or 5 × 10ⁿ and at most `maxTicks` + 1 ticks. */
export function axisTicks(spanMs: number, maxTicks = 6): number[] {
  if (!(spanMs > 0)) return [0];
  const raw = spanMs / maxTicks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const ticks: number[] = [];
  for (let t = 0; t <= spanMs + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Shortens a label to `max` characters with an ellipsis; the full text goes into a <title>. */
export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** A rough width of text in user units at `fontSize` (average glyph ≈ 0.6 em), for laying out labels. */
export function textWidth(text: string, fontSize: number): number {
  return [...text].length * fontSize * 0.6;
}

/** The outer <svg>: scales to its box through viewBox; `label` is the accessible name. */
export function svgDoc(cls: string, width: number, height: number, label: string, body: string, data: Attrs = {}): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg"${attrs({ class: `pic ${cls}`, viewBox: `0 0 ${num(width)} ${num(height)}`, role: "img", "aria-label": label, ...data })}>` +
    `${title(label)}${body}</svg>`
  );
}

/** A horizontal time axis from `from` to `to` at height `y`, ticks from axisTicks, named at the left edge. */
export function timeAxis(spanMs: number, x: (ms: number) => number, y: number, from: number, to: number, name: string): string {
  const ticks = axisTicks(spanMs).map(
    (ms) => tag("line", { x1: x(ms), x2: x(ms), y1: y, y2: y + 5 }) + tag("text", { x: x(ms), y: y + 17, "text-anchor": "middle" }, esc(fmtTick(ms))),
  );
  return `<g class="axis">${tag("line", { x1: from, x2: to, y1: y, y2: y })}${ticks.join("")}${tag("text", { class: "axis-name", x: 6, y: y + 17 }, esc(name))}</g>`;
}
