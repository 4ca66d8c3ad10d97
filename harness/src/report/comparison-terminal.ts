// The comparison in the terminal: scenarios as rows, mechanisms as columns, each cell the verdict,
// the status of every request step and the backend calls; then each mechanism's totals and request
// latency. Every line fits the given width; colors come from a per-call picocolors instance, as in
// terminal.ts.
import pc from "picocolors";
import { MECHANISM_TITLES } from "../mechanism/names.ts";
import { NOT_OBSERVED, type Verdict } from "../scenario/result.ts";
import type { ComparisonReport } from "./comparison.ts";
import { codesText, comparisonRows, comparisonTotals, mechanismSummaries, runMechanism, type ComparisonCell, type LatencyStats, type MechanismSummary } from "./comparison-model.ts";
import { formatMs, totalsText, visibleControls } from "./format.ts";
import { fmtDuration } from "./svg/svg-kit.ts";
import { displayWidth, fit, truncate } from "./text-width.ts";

type Colors = ReturnType<typeof pc.createColors>;

// The symbols and colors of terminal.ts's summary table (not exported there).
const SYMBOL: Record<Verdict, string> = { pass: "✓", fail: "✗", error: "!", skipped: "○" };

function paint(c: Colors, v: Verdict, text: string): string {
  return v === "pass" ? c.green(text) : v === "fail" ? c.red(text) : v === "error" ? c.magenta(text) : c.yellow(text);
}

export interface ComparisonTableOptions {
  color: boolean;
  /** Maximum line width in cells (the terminal's columns; at least 40 is used). Every line fits. */
  width: number;
}

const GAP = "  ";
const NOT_APPLICABLE = "—";

function calls(n: number): string {
  return `${n} ${n === 1 ? "call" : "calls"}`;
}

/** `✓ 403 ·1 call`, `✓ 201` (no backend), `○ skipped`, `—` (not applicable), `lab failed`. */
export function cellText(cell: ComparisonCell): string {
  if (!cell.applicable) return cell.notRun ? "lab failed" : NOT_APPLICABLE;
  const codes = codesText(cell.codes);
  const body = codes || (cell.verdict === "skipped" ? "skipped" : cell.verdict === "error" ? "error" : "no requests");
  return `${SYMBOL[cell.verdict]} ${body}${cell.backendCalls === undefined ? "" : ` ·${calls(cell.backendCalls)}`}`;
}

/** Gives each column what it needs while the total allows, the narrowest first, the rest shared evenly. */
function share(needs: number[], total: number): number[] {
  const out = needs.map(() => 0);
  let left = Math.max(0, total);
  const order = needs.map((n, i) => ({ n, i })).sort((a, b) => a.n - b.n);
  order.forEach(({ n, i }, k) => {
    out[i] = Math.max(1, Math.min(n, Math.floor(left / (order.length - k))));
    left -= out[i]!;
  });
  return out;
}

function stats(s: LatencyStats | undefined): string {
  if (!s) return NOT_OBSERVED;
  return `${fmtDuration(s.median)} / ${s.p99 === undefined ? "n/a" : fmtDuration(s.p99)} (${s.samples})`;
}

/** Joins parts with " · ", starting a new line (indented) where the next part would not fit; each line fits. */
function wrap(parts: string[], width: number, indent: string): string[] {
  const lines: string[] = [];
  let cur = "";
  for (const part of parts) {
    const next = cur ? `${cur} · ${part}` : part;
    if (!cur || displayWidth(next) <= width) cur = next;
    else {
      lines.push(cur);
      cur = `${indent}${part}`;
    }
  }
  if (cur) lines.push(cur);
  return lines.map((l) => truncate(l, width));
}

function summaryLines(s: MechanismSummary, c: Colors, width: number): string[] {
  const bad = s.totals.fail + s.totals.error > 0 || s.labError !== undefined;
  const head = wrap(
    [
      `${MECHANISM_TITLES[s.mechanism]}: ${totalsText(s.totals)} in ${formatMs(s.durationMs)}`,
      ...(s.notApplicable ? [`${s.notApplicable} not applicable`] : []),
      `${s.requests} requests${s.statusNotObserved ? ` (${s.statusNotObserved} status ${NOT_OBSERVED})` : ""}`,
      s.backendCalls === undefined ? "backend calls n/a (no backend)" : `${calls(s.backendCalls)} to the backend`,
    ],
    width,
    "    ",
  );
  const lines = head.map((l) => (bad ? c.red(c.bold(l)) : c.green(c.bold(l))));
  if (s.labError) lines.push(c.red(truncate(`  lab error: ${visibleControls(s.labError.split("\n")[0] ?? "")}`, width)));
  const l = s.latencyMs;
  lines.push(...wrap([`  latency median / p99 (requests): all ${stats(l.all)}`, `allowed ${stats(l.allowed)}`, `denied ${stats(l.denied)}`], width, "    "));
  return lines;
}

/** The comparison table, a legend, then each mechanism's totals and request latency. */
export function renderComparisonTable(report: ComparisonReport, o: ComparisonTableOptions): string {
  const c = pc.createColors(o.color);
  const width = Math.max(40, o.width);
  const rows = comparisonRows(report);
  const mechanisms = report.runs.map(runMechanism);
  const lines: string[] = [];
  const head = `imagepolicy-lab comparison: ${report.provider} ${report.k8sVersion}, ${mechanisms.length} ${mechanisms.length === 1 ? "mechanism" : "mechanisms"}, ${totalsText(comparisonTotals(report))} in ${formatMs(report.durationMs)}`;
  lines.push(c.bold(truncate(visibleControls(head), width)));
  if (report.labError) lines.push(c.red(truncate(`lab error: ${visibleControls(report.labError.split("\n")[0] ?? "")}`, width)));

  if (mechanisms.length && rows.length) {
    const names = rows.map((r) => visibleControls(r.name));
    const texts = rows.map((r) => r.cells.map(cellText));
    const colNeed = mechanisms.map((m, j) => Math.max(displayWidth(MECHANISM_TITLES[m]), ...texts.map((t) => displayWidth(t[j]!))));
    const nameNeed = Math.max(displayWidth("scenario"), ...names.map(displayWidth));
    const avail = width - GAP.length * mechanisms.length;
    // The name gets up to 35 % when space is short; what the columns leave goes back to it.
    let nameW = Math.min(nameNeed, Math.max(12, Math.floor(avail * 0.35)));
    const colW = share(colNeed, avail - nameW);
    nameW = Math.min(nameNeed, avail - colW.reduce((a, b) => a + b, 0));
    const line = (cells: string[], color: (j: number, text: string) => string = (_, t) => t) =>
      cells
        .map((text, j) => color(j, fit(text, j === 0 ? nameW : colW[j - 1]!)))
        .join(GAP)
        .trimEnd();
    const titles = mechanisms.map((m, j) => (displayWidth(MECHANISM_TITLES[m]) <= colW[j]! ? MECHANISM_TITLES[m] : m));
    lines.push("");
    lines.push(c.bold(line(["scenario", ...titles])));
    lines.push(c.dim("─".repeat(Math.min(width, nameW + colW.reduce((a, b) => a + b, 0) + GAP.length * mechanisms.length))));
    rows.forEach((r, i) => {
      lines.push(
        line([names[i]!, ...texts[i]!], (j, text) => {
          if (j === 0) return text;
          const cell = r.cells[j - 1]!;
          return cell.applicable ? paint(c, cell.verdict, text) : c.dim(text);
        }),
      );
    });
    lines.push(c.dim(truncate(`${NOT_APPLICABLE} not applicable · ✓ pass ✗ fail ! error ○ skipped · HTTP status per request step (×n: n in a row) · backend calls`, width)));
  } else if (!mechanisms.length) {
    lines.push("no mechanism ran");
  }
  lines.push("");
  for (const s of mechanismSummaries(report)) lines.push(...summaryLines(s, c, width));
  return lines.join("\n") + "\n";
}
