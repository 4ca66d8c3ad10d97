// The probe in a terminal: a table that fits the window (one row per case), then the findings in
// full (they are the point, so they are never cut), then the one-line result with the exit code.
import pc from "picocolors";
import { formatMs, visibleControls } from "../report/format.ts";
import { fit } from "../report/text-width.ts";
import { mechanismText } from "./classify.ts";
import type { CaseResult, CaseVerdict, FindingSeverity, ProbeCase, ProbeReport } from "./model.ts";

type Colors = ReturnType<typeof pc.createColors>;

export const VERDICT_SYMBOL: Record<CaseVerdict, string> = { "as-expected": "✓", hole: "✗", "trusted-refused": "✗", inconclusive: "!" };
export const SEVERITY_LABEL: Record<FindingSeverity, string> = { hole: "HOLE", problem: "PROBLEM", "cannot-run": "CANNOT RUN", note: "note" };
export const EXPECT_TEXT: Record<ProbeCase["expect"], string> = { admitted: "admitted", refused: "refused", "refused-or-pods-refused": "refused (or its pods)" };

function paint(c: Colors, v: CaseVerdict | FindingSeverity, text: string): string {
  if (v === "as-expected") return c.green(text);
  if (v === "hole" || v === "trusted-refused" || v === "problem") return c.red(text);
  if (v === "inconclusive" || v === "cannot-run") return c.magenta(text);
  return c.cyan(text);
}

/** What was sent, short: `Pod nginx:1.27`, `Pod trusted.example/app:1 + init evil.example/…`. */
export function sentText(r: CaseResult): string {
  const init = r.initImages?.length ? ` + init ${r.initImages.join(", ")}` : "";
  const kind = r.kind === "EphemeralContainer" ? `ephemeral on ${r.request.pod}` : r.kind;
  return `${kind} ${r.images.join(", ")}${init}`;
}

/** Who refused, with counts: `ImagePolicyWebhook (10)`; refusals that were not verdicts count too. */
export function refusersText(cases: CaseResult[]): string | undefined {
  const counts = new Map<string, number>();
  for (const x of cases) {
    const by = x.answer.outcome === "refused" || x.answer.outcome === "not-a-denial" ? x.answer.by : undefined;
    if (by) counts.set(mechanismText(by), (counts.get(mechanismText(by)) ?? 0) + 1);
  }
  return counts.size ? [...counts].map(([m, n]) => `${m} (${n})`).join(", ") : undefined;
}

/** One line per verdict count, and the exit code with its meaning. */
export function resultLine(r: ProbeReport): string {
  const t = r.totals;
  const parts = [`${t.asExpected} as expected`];
  if (t.holes) parts.push(`${t.holes} ${t.holes === 1 ? "hole" : "holes"}`);
  if (t.trustedRefused) parts.push(`${t.trustedRefused} trusted refused`);
  if (t.inconclusive) parts.push(`${t.inconclusive} inconclusive`);
  const meaning = { 0: "all as expected", 1: "a hole or a refused trusted image", 2: "the probe could not run" }[r.exitCode];
  return r.cannotRun ? `probe: could not run → exit 2 (${meaning})` : `probe: ${t.cases} cases: ${parts.join(", ")} in ${formatMs(r.durationMs)} → exit ${r.exitCode} (${meaning})`;
}

export interface ProbeTableOptions {
  color: boolean;
  /** Line width in cells for the table (findings wrap as the terminal wraps them). */
  width: number;
}

/** The whole terminal report. */
export function renderProbeTerminal(r: ProbeReport, o: ProbeTableOptions): string {
  const c = pc.createColors(o.color);
  const t = r.target;
  const lines = [
    c.bold(`probe of ${t.server} (context "${t.context}", namespace "${t.namespace}")${t.k8sVersion ? `, Kubernetes ${t.k8sVersion}` : ""}`),
    c.dim(`trust: ${r.trust.join(", ")}; trusted images: ${r.trustedImages.join(", ")}; server-side dry run only, nothing is created`),
  ];
  if (r.cases.length) {
    const width = Math.max(60, o.width);
    const idW = Math.min(24, Math.max(4, ...r.cases.map((x) => x.id.length)));
    const expW = 21;
    const flex = width - 2 - idW - expW - 6;
    const sentW = Math.max(12, Math.floor(flex * 0.4));
    const obsW = Math.max(12, flex - sentW);
    lines.push("", c.dim(`  ${fit("case", idW)}  ${fit("sent (dry run)", sentW)}  ${fit("expected", expW)}  observed`));
    for (const x of r.cases) {
      const observed = fit(visibleControls(x.observed.split("\n")[0]!), obsW).trimEnd();
      lines.push(`${paint(c, x.verdict, VERDICT_SYMBOL[x.verdict])} ${fit(x.id, idW)}  ${fit(visibleControls(sentText(x)), sentW)}  ${fit(EXPECT_TEXT[x.expect], expW)}  ${paint(c, x.verdict, observed)}`);
    }
  }
  const refusers = refusersText(r.cases);
  if (refusers) lines.push(c.dim(`refusals came from: ${refusers}`));
  if (r.findings.length) {
    lines.push("", c.bold("findings:"));
    for (const f of r.findings) lines.push(`  ${paint(c, f.severity, SEVERITY_LABEL[f.severity])}  ${visibleControls(f.text)}`);
  }
  if (!r.metrics.readable && r.cases.length) lines.push(c.dim(`(apiserver metrics not used: ${r.metrics.reason})`));
  lines.push("", paint(c, r.exitCode === 0 ? "as-expected" : r.exitCode === 1 ? "hole" : "cannot-run", resultLine(r)));
  return `${lines.join("\n")}\n`;
}
