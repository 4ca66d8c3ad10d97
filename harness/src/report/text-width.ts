// Terminal cell widths. Scenario names and backend messages can hold CJK text, emoji and combining
// marks; counting UTF-16 units would misalign the table and cut characters in half.

const segmenter = new Intl.Segmenter("en", { granularity: "grapheme" });

// East Asian Wide/Fullwidth blocks plus pictographs: the ones terminals draw two cells wide.
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1f64f}\u{1f680}-\u{1f6ff}\u{1f900}-\u{1faff}\u{20000}-\u{3fffd}]|\p{Extended_Pictographic}\ufe0f/u;
const ZERO = /^[\p{M}\u200b-\u200f\u2060\ufeff]+$/u;

function graphemeWidth(g: string): number {
  if (ZERO.test(g)) return 0;
  return WIDE.test(g) ? 2 : 1;
}

/** Cells the text occupies in a terminal (ANSI escapes are not expected here: measure before coloring). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const { segment } of segmenter.segment(text)) w += graphemeWidth(segment);
  return w;
}

/** Cuts to at most `width` cells, ending in `…` when something was cut; never splits a grapheme. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (displayWidth(text) <= width) return text;
  let out = "";
  let w = 0;
  for (const { segment } of segmenter.segment(text)) {
    const gw = graphemeWidth(segment);
    if (w + gw > width - 1) break;
    out += segment;
    w += gw;
  }
  return `${out}…`;
}

/** Truncates, then pads with spaces to exactly `width` cells. */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  const t = truncate(text, width);
  const pad = " ".repeat(Math.max(0, width - displayWidth(t)));
  return align === "left" ? t + pad : pad + t;
}
