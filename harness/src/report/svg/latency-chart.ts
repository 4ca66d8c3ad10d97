// Median and p99 request latency per mechanism as horizontal bars, for the comparison page. The
// scale is logarithmic (decade ticks): a catalog's medians are milliseconds while its p99 can be a
// 30 s backend hang, and on a linear scale the medians would vanish. Every bar is labelled with its
// value, so the picture never has to be read off the axis.
import type { LatencyStats } from "../comparison-model.ts";
import { attrs, esc, fmtDuration, fmtTick, svgDoc, tag, title } from "./svg-kit.ts";

export interface LatencyGroup {
  /** data-mechanism of the group (a stable key for tests and links). */
  key: string;
  label: string;
  /** undefined when no latency was measured. */
  stats?: LatencyStats;
}

const W = 900;
const LABEL_W = 220;
const RIGHT_W = 150;
const TOP = 8;
const GROUP_H = 50;
const BAR_H = 14;
const AXIS_H = 30;

/** The chart as an SVG string, or "" when no group has a measured latency. */
export function latencyChartSvg(groups: LatencyGroup[]): string {
  const values = groups.flatMap((g) => (g.stats ? [g.stats.median, ...(g.stats.p99 === undefined ? [] : [g.stats.p99])] : [])).filter((v) => v > 0 && Number.isFinite(v));
  if (!values.length) return "";
  const lo = Math.floor(Math.log10(Math.min(...values)));
  let hi = Math.ceil(Math.log10(Math.max(...values)));
  if (hi <= lo) hi = lo + 1;
  const plotW = W - LABEL_W - RIGHT_W;
  const x = (ms: number) => LABEL_W + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * plotW;
  const axisY = TOP + groups.length * GROUP_H + 4;
  const parts: string[] = [];
  for (let k = lo; k <= hi; k++) {
    const tx = x(10 ** k);
    parts.push(
      `<g class="axis">${tag("line", { class: "track", x1: tx, x2: tx, y1: TOP, y2: axisY })}${tag("line", { x1: tx, x2: tx, y1: axisY, y2: axisY + 5 })}` +
        `${tag("text", { x: tx, y: axisY + 17, "text-anchor": "middle" }, esc(fmtTick(Number((10 ** k).toPrecision(6)))))}</g>`,
    );
  }
  parts.push(`<g class="axis">${tag("line", { x1: LABEL_W, x2: LABEL_W + plotW, y1: axisY, y2: axisY })}${tag("text", { class: "axis-name", x: 6, y: axisY + 17 }, "request latency (log scale)")}</g>`);
  groups.forEach((g, i) => {
    const top = TOP + i * GROUP_H;
    const s = g.stats;
    const data = { "data-mechanism": g.key, "data-median-ms": s?.median, "data-p99-ms": s?.p99, "data-samples": s?.samples };
    const head = tag("text", { class: "lane-name", x: 6, y: top + 18 }, esc(g.label)) + tag("text", { class: "sub", x: 6, y: top + 35 }, esc(s ? `${s.samples} ${s.samples === 1 ? "request" : "requests"}` : "latency not observed"));
    if (i > 0) parts.push(tag("line", { class: "sep", x1: 0, x2: W, y1: top, y2: top }));
    if (!s) {
      parts.push(`<g class="lat-group none"${attrs(data)}>${head}${tag("text", { class: "none", x: LABEL_W + 6, y: top + 27 }, "not observed")}</g>`);
      return;
    }
    const bar = (cls: "median" | "p99", ms: number | undefined, y: number) => {
      if (ms === undefined) {
        return `<g class="lat-bar ${cls} none">${tag("text", { class: "none", x: LABEL_W + 6, y: y + BAR_H - 3 }, esc(`p99 n/a (${s.samples} ${s.samples === 1 ? "sample" : "samples"})`))}</g>`;
      }
      const end = x(ms);
      const text = `${cls} ${fmtDuration(ms)}`;
      return (
        `<g class="lat-bar ${cls}"${attrs({ "data-ms": ms })}>${title(`${g.label}: ${text} over ${s.samples} ${s.samples === 1 ? "request" : "requests"}`)}` +
        `${tag("rect", { x: LABEL_W, y, width: Math.max(1, end - LABEL_W), height: BAR_H, rx: 2 })}${tag("text", { x: end + 6, y: y + BAR_H - 3 }, esc(text))}</g>`
      );
    };
    parts.push(`<g class="lat-group"${attrs(data)}>${head}${bar("median", s.median, top + 6)}${bar("p99", s.p99, top + 6 + BAR_H + 4)}</g>`);
  });
  const label = `Request latency per mechanism, median and p99: ${groups.map((g) => `${g.label} ${g.stats ? `${fmtDuration(g.stats.median)} / ${g.stats.p99 === undefined ? "n/a" : fmtDuration(g.stats.p99)}` : "not observed"}`).join("; ")}`;
  return svgDoc("latency-chart", W, axisY + AXIS_H, label, parts.join(""), { "data-groups": groups.length });
}

/** Bar colours, following the page's light/dark variables. */
export const LATENCY_CHART_CSS = `
svg.pic .lat-bar.median rect{fill:var(--refuse)}svg.pic .lat-bar.p99 rect{fill:var(--admit)}svg.pic .lat-bar text{font-size:11.5px}
`;
