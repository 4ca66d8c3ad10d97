// What a person watches in the terminal: a line per scenario while the run goes, then a summary
// table that fits the window. Colors come from a per-call picocolors instance, never the global one,
// so a test (or `--no-color`) gets plain text regardless of the environment.
import type { Writable } from "node:stream";
import pc from "picocolors";
import type { RunEvent } from "../scenario/runner.ts";
import type { RunReport, ScenarioResult, Verdict } from "../scenario/result.ts";
import { decisiveStep, formatMs, profileLabel, summarize, totalsText, visibleControls, waitRatio } from "./format.ts";
import { displayWidth, fit, truncate } from "./text-width.ts";

type Colors = ReturnType<typeof pc.createColors>;

const SYMBOL: Record<Verdict, string> = { pass: "✓", fail: "✗", error: "!", skipped: "○" };

function paint(c: Colors, v: Verdict, text: string): string {
  return v === "pass" ? c.green(text) : v === "fail" ? c.red(text) : v === "error" ? c.magenta(text) : c.yellow(text);
}

/** First line only, control characters made visible: live lines must stay one line each. */
function oneLine(text: string): string {
  return visibleControls(text.split("\n")[0] ?? "");
}

export interface LiveReporterOptions {
  /** Emit ANSI colors. */
  color: boolean;
  /**
   * Redraw a single "[3/31] name…" status line in place (a TTY). When false, every event is a plain
   * line, so CI logs still show which scenario is running when one hangs.
   */
  interactive: boolean;
  /** Terminal width for the in-place status line; default: `out.columns`, else 80. */
  columns?: number;
}

/** Returns a RunEvent handler that prints progress to `out` while scenarios run. */
export function liveReporter(out: Writable & { columns?: number }, o: LiveReporterOptions): (e: RunEvent) => void {
  const c = pc.createColors(o.color);
  const columns = () => o.columns ?? out.columns ?? 80;
  let status = false;
  let current = "";
  const write = (s: string) => void out.write(s);
  // `\r` + erase-line replaces the status line; it must be narrower than the terminal or it wraps
  // and the next erase only clears the last row.
  const drawStatus = (text: string) => {
    write(`\r\x1b[2K${truncate(text, columns() - 1)}`);
    status = true;
  };
  const clearStatus = () => {
    if (status) write("\r\x1b[2K");
    status = false;
  };
  const line = (s: string) => {
    clearStatus();
    write(`${s}\n`);
  };

  return (e) => {
    switch (e.type) {
      case "profile":
        line(`${c.cyan("↻")} profile ${profileLabel(e.profile)} ${c.dim(`(${formatMs(e.elapsedMs)})`)}`);
        break;
      case "scenario-start":
        current = `[${e.index + 1}/${e.total}] ${oneLine(e.name)}…`;
        if (o.interactive) drawStatus(current);
        else line(c.dim(current));
        break;
      case "step":
        // Only worth showing where it can be redrawn; as lines it would drown the results.
        if (o.interactive) drawStatus(`${current} ${`step ${e.step.index + 1} ${oneLine(e.step.name)}`}`);
        break;
      case "scenario-end":
        for (const l of resultLines(e.result, c)) line(l);
        break;
    }
  };
}

/** The finished-scenario line, plus what failed on the following lines. */
function resultLines(s: ScenarioResult, c: Colors): string[] {
  const head = `${paint(c, s.verdict, SYMBOL[s.verdict])} ${oneLine(s.name)}`;
  const time = c.dim(formatMs(s.durationMs));
  if (s.verdict === "pass") return [`${head}  ${time}`];
  if (s.verdict === "skipped") return [`${head}  ${c.yellow(`skipped (${oneLine(s.reason ?? "no reason given")})`)}`];
  const lines: string[] = [];
  const step = decisiveStep(s);
  if (s.verdict === "error") {
    lines.push(`${head}  ${time}  ${c.magenta(`error (${oneLine(s.reason ?? step?.error ?? "unknown")})`)}`);
    if (step) lines.push(`    ${c.dim(`in step ${step.index + 1} ${oneLine(step.name)}`)}${step.error && s.reason ? `: ${oneLine(step.error)}` : ""}`);
    return lines;
  }
  lines.push(`${head}  ${time}`);
  if (!step) return lines;
  lines.push(`    step ${step.index + 1} ${oneLine(step.name)}`);
  const failed = step.checks.filter((ch) => !ch.ok);
  for (const ch of failed.slice(0, 3)) {
    lines.push(`      ${c.bold(visibleControls(ch.what))}`);
    lines.push(`        expected  ${visibleControls(ch.expected)}`);
    lines.push(`        observed  ${c.red(visibleControls(ch.observed))}`);
  }
  if (failed.length > 3) lines.push(c.dim(`      … ${failed.length - 3} more failing checks`));
  if (step.error) lines.push(`      ${c.dim(oneLine(step.error))}`);
  // The first failing step is shown; the others are named, with their evidence in the report files.
  const others = s.steps.filter((st) => st !== step && (st.verdict === "fail" || st.verdict === "error"));
  if (others.length) lines.push(c.dim(`    … ${others.length} more failing step${others.length > 1 ? "s" : ""}: ${others.map((st) => st.index + 1).join(", ")} (details in the report files)`));
  return lines;
}

export interface SummaryTableOptions {
  color: boolean;
  /** Maximum line width in cells (the terminal's columns). Every line fits. */
  width: number;
}

const GAP = "  ";
const MIN_FLEX = 4;

/** The after-run table (scenario, expected, observed, verdict, time) and the run's totals. */
export function renderSummaryTable(report: RunReport, o: SummaryTableOptions): string {
  const c = pc.createColors(o.color);
  const width = Math.max(40, o.width);
  const rows = report.scenarios.map((s) => {
    const sum = summarize(s);
    return {
      s,
      name: visibleControls(s.name),
      expected: visibleControls(sum.expected),
      observed: visibleControls(sum.observed),
      time: s.verdict === "skipped" ? "—" : formatMs(s.durationMs),
    };
  });
  const verdictW = 7; // "skipped"
  const timeW = Math.max(4, ...rows.map((r) => r.time.length));
  const avail = width - verdictW - timeW - GAP.length * 4;
  const longest = (pick: (r: (typeof rows)[number]) => string, header: string) => Math.max(displayWidth(header), ...rows.map((r) => displayWidth(pick(r))));
  // The name gets up to 40 %; expected and observed share the rest, slack going to the longer.
  const nameW = Math.min(longest((r) => r.name, "scenario") + 2, Math.max(8, Math.floor(avail * 0.4)));
  const flex = Math.max(MIN_FLEX * 2, avail - nameW);
  const expW = Math.max(MIN_FLEX, Math.min(longest((r) => r.expected, "expected"), flex - Math.min(longest((r) => r.observed, "observed"), Math.floor(flex / 2))));
  const obsW = flex - expW;

  const row = (cells: [string, string, string, string, string], color?: (i: number, text: string) => string) => {
    const widths = [nameW, expW, obsW, verdictW, timeW];
    return cells
      .map((cell, i) => {
        const text = fit(cell, widths[i]!, i === 4 ? "right" : "left");
        return color ? color(i, text) : text;
      })
      .join(GAP)
      .trimEnd();
  };

  const lines: string[] = [];
  lines.push(c.bold(row(["scenario", "expected", "observed", "verdict", "time"])));
  lines.push(c.dim("─".repeat(Math.min(width, nameW + expW + obsW + verdictW + timeW + GAP.length * 4))));
  for (const r of rows) {
    const v = r.s.verdict;
    lines.push(
      row([`${SYMBOL[v]} ${r.name}`, r.expected, r.observed, v, r.time], (i, text) =>
        i === 3 ? paint(c, v, text) : i === 2 && v !== "pass" ? paint(c, v, text) : i === 4 ? c.dim(text) : text,
      ),
    );
  }
  lines.push("");
  for (const l of footer(report, c, width)) lines.push(l);
  return lines.join("\n") + "\n";
}

/** Totals, timing and profile switches: each line truncated (before coloring) to the width. */
function footer(report: RunReport, c: Colors, width: number): string[] {
  const t = report.totals;
  const bad = t.fail + t.error > 0 || report.labError;
  const lines: string[] = [];
  const totals = truncate(`${totalsText(t)} in ${formatMs(report.durationMs)}`, width);
  lines.push(bad ? c.red(c.bold(totals)) : c.green(c.bold(totals)));
  if (report.labError) lines.push(c.red(truncate(`lab error: ${oneLine(report.labError)}`, width)));
  if (report.opaBackend) lines.push(truncate(`backend: OPA (ImagePolicyWebhook → ${report.opaBackend.url}, the shipped Rego)`, width));
  const wall = report.labStartMs > 0 ? `${formatMs(report.labStartMs + report.durationMs)} (lab start ${formatMs(report.labStartMs)} + scenarios ${formatMs(report.durationMs)})` : `${formatMs(report.durationMs)} (lab already running)`;
  lines.push(truncate(`wall time ${wall}`, width));
  const sw = report.profileSwitches;
  const swMs = sw.reduce((a, p) => a + p.elapsedMs, 0);
  lines.push(truncate(`profile switches ${sw.length}${sw.length ? ` (${formatMs(swMs)} restarting the apiserver)` : ""}`, width));
  for (const p of sw) lines.push(c.dim(truncate(`  ↻ ${profileLabel(p.profile)} (${formatMs(p.elapsedMs)})`, width)));
  const ratio = waitRatio(report);
  lines.push(
    truncate(
      ratio === undefined
        ? "unavoidable waits 0.0s (no TTL, backoff or restart waits)"
        : `unavoidable waits ${formatMs(report.unavoidableWaitMs)}; run/wait ratio ${ratio.toFixed(2)}× (1.00× is the floor)`,
      width,
    ),
  );
  return lines;
}
