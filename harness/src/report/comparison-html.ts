// The comparison page, comparison.html: the same self-contained style as report.html (inline CSS,
// no scripts, a Content-Security-Policy behind the escaping), with the scenario × mechanism matrix,
// each mechanism's totals and request latency (with a bar chart), and links to each mechanism's own
// report at `<mechanism>/report.html`, which writeComparisonReports puts there.
import { MECHANISM_TITLES, type MechanismName } from "../mechanism/names.ts";
import { NOT_OBSERVED, type Verdict } from "../scenario/result.ts";
import type { ComparisonReport } from "./comparison.ts";
import {
  codesText,
  comparisonRows,
  comparisonTotals,
  mechanismSummaries,
  runMechanism,
  type ComparisonCell,
  type ComparisonRow,
  type LatencyStats,
  type MechanismSummary,
} from "./comparison-model.ts";
import { formatMs, totalsText } from "./format.ts";
import { badge, escapeHtml, facts, htmlPage, REPORT_CSS } from "./html.ts";
import { LATENCY_CHART_CSS, latencyChartSvg } from "./svg/latency-chart.ts";
import { scenarioAnchor } from "./svg/pictures.ts";
import { fmtDuration } from "./svg/svg-kit.ts";

const h = escapeHtml;

const SYMBOL: Record<Verdict, string> = { pass: "✓", fail: "✗", error: "!", skipped: "○" };
const VERDICT_WORD: Record<Verdict, string> = { pass: "passed", fail: "failed", error: "errored", skipped: "skipped" };

/** Where a mechanism's own report is, relative to comparison.html (see writeComparisonReports). */
export function mechanismReportHref(m: MechanismName): string {
  return `${m}/report.html`;
}

function totalsBadges(t: Record<Verdict, number>): string {
  const counts = (["pass", "fail", "error", "skipped"] as const).filter((v) => t[v] > 0).map((v) => badge(v, `${t[v]} ${VERDICT_WORD[v]}`));
  return counts.join(" ") || badge("skipped", "no scenarios");
}

function statsText(s: LatencyStats | undefined): string {
  if (!s) return NOT_OBSERVED;
  return `${fmtDuration(s.median)} / ${s.p99 === undefined ? "n/a" : fmtDuration(s.p99)} (${s.samples})`;
}

function calls(n: number): string {
  return `${n} ${n === 1 ? "call" : "calls"}`;
}

/** The hover text of a played cell: everything the cell abbreviates, the refusal message in full. */
function cellTitle(name: string, cell: Extract<ComparisonCell, { applicable: true }>): string {
  const lines = [`${name} under ${MECHANISM_TITLES[cell.mechanism]}: ${cell.verdict}`];
  if (cell.reason) lines.push(`${cell.verdict === "skipped" ? "skipped because" : "reason"}: ${cell.reason}`);
  if (cell.codes.length) lines.push(`statuses: ${cell.codes.map((c) => c ?? NOT_OBSERVED).join(", ")}`);
  if (cell.denial !== undefined) lines.push(`refused: ${cell.denial}`);
  lines.push(`backend calls: ${cell.backendCalls === undefined ? "n/a (no backend)" : cell.backendCalls}`);
  lines.push(`latency median / p99 (requests): ${statsText(cell.latencyMs)}`);
  return lines.join("\n");
}

function matrixCell(row: ComparisonRow, cell: ComparisonCell, anchor: number | undefined): string {
  const m = cell.mechanism;
  if (!cell.applicable) {
    return cell.notRun
      ? `<td class="cell notrun" data-mechanism="${h(m)}" title="${h(`the ${MECHANISM_TITLES[m]} lab failed, so this scenario was not run`)}">lab failed</td>`
      : `<td class="cell na" data-mechanism="${h(m)}" title="${h(`does not apply to ${MECHANISM_TITLES[m]}`)}">—</td>`;
  }
  const codes = codesText(cell.codes) || (cell.verdict === "skipped" ? "skipped" : cell.verdict === "error" ? "error" : "no requests");
  const content =
    `<span class="sym">${SYMBOL[cell.verdict]}</span> <span class="codes">${h(codes)}</span>` +
    (cell.backendCalls === undefined ? "" : ` <span class="calls">· ${calls(cell.backendCalls)}</span>`) +
    (cell.latencyMs ? `<span class="lat">${h(fmtDuration(cell.latencyMs.median))}${cell.latencyMs.samples > 1 ? " median" : ""}</span>` : "");
  const href = `${mechanismReportHref(m)}${anchor === undefined ? "" : `#${scenarioAnchor(anchor)}`}`;
  return (
    `<td class="cell ${cell.verdict}${cell.denial !== undefined ? " refused" : ""}" data-mechanism="${h(m)}" data-codes="${h(cell.codes.map((c) => c ?? NOT_OBSERVED).join(","))}" title="${h(cellTitle(row.name, cell))}">` +
    `<a href="${h(href)}">${content}</a></td>`
  );
}

function matrix(c: ComparisonReport, rows: ComparisonRow[]): string {
  const mechanisms = c.runs.map(runMechanism);
  // Each run's scenario positions, for links to the scenario's details in that run's report.
  const positions = c.runs.map((r) => {
    const m = new Map<string, number>();
    r.scenarios.forEach((s, i) => m.has(s.name) || m.set(s.name, i));
    return m;
  });
  const head = mechanisms.map((m) => `<th data-mechanism="${h(m)}"><a href="${h(mechanismReportHref(m))}">${h(MECHANISM_TITLES[m])}</a></th>`).join("");
  const body = rows.map(
    (row) =>
      `<tr class="${row.shared ? "shared" : "single"}"><td class="name">${h(row.name)}</td>` +
      row.cells.map((cell, j) => matrixCell(row, cell, positions[j]!.get(row.name))).join("") +
      `</tr>`,
  );
  return `<div class="table-scroll"><table class="comparison"><thead><tr><th>scenario</th>${head}</tr></thead><tbody>${body.join("\n")}</tbody></table></div>`;
}

function summaryTable(summaries: MechanismSummary[]): string {
  const rows = summaries.map((s) => {
    const l = s.latencyMs;
    return (
      `<tr data-mechanism="${h(s.mechanism)}"><td class="name"><a href="${h(mechanismReportHref(s.mechanism))}">${h(MECHANISM_TITLES[s.mechanism])}</a>` +
      `${s.labError !== undefined ? `<br><span class="lab-failed" title="${h(s.labError)}">lab failed</span>` : ""}</td>` +
      `<td>${totalsBadges(s.totals)}</td><td class="num">${s.notApplicable}</td>` +
      `<td class="num">${s.requests}${s.statusNotObserved ? ` <span class="muted">(${s.statusNotObserved} status ${NOT_OBSERVED})</span>` : ""}</td>` +
      `<td class="num">${s.backendCalls === undefined ? `<span class="muted" title="no backend">n/a</span>` : s.backendCalls}</td>` +
      `<td class="num">${h(statsText(l.all))}</td><td class="num">${h(statsText(l.allowed))}</td><td class="num">${h(statsText(l.denied))}</td>` +
      `<td class="num">${formatMs(s.durationMs)}</td></tr>`
    );
  });
  return (
    `<div class="table-scroll"><table class="mechanisms"><thead><tr><th>mechanism</th><th>verdicts</th><th>not applicable</th><th>requests</th><th>backend calls</th>` +
    `<th>latency, all</th><th>allowed</th><th>denied</th><th>scenario time</th></tr></thead><tbody>${rows.join("\n")}</tbody></table></div>`
  );
}

function header(c: ComparisonReport): string {
  const mechanisms = c.runs.map(
    (r) => `<li><a href="${h(mechanismReportHref(runMechanism(r)))}">${h(MECHANISM_TITLES[runMechanism(r)])}</a> <code>${h(runMechanism(r))}</code> ${totalsBadges(r.totals)}</li>`,
  );
  return [
    `<header>`,
    `<h1>imagepolicy-lab mechanism comparison</h1>`,
    `<p class="totals">${totalsBadges(comparisonTotals(c))} <span class="muted">over ${c.runs.length} ${c.runs.length === 1 ? "mechanism" : "mechanisms"} in ${formatMs(c.durationMs)}</span></p>`,
    c.labError !== undefined ? `<div class="lab-error"><strong>Part of the comparison could not run:</strong><pre>${h(c.labError)}</pre></div>` : "",
    facts([
      ["provider", h(c.provider)],
      ["Kubernetes", h(c.k8sVersion || NOT_OBSERVED)],
      ["tool", h(`${c.tool.name} ${c.tool.version}`)],
      ["started", h(c.startedAt)],
      ["finished", h(c.finishedAt)],
      ["duration", `${formatMs(c.durationMs)} <span class="muted">(every lab's start and stop included)</span>`],
      ["mechanisms", mechanisms.length ? `<ul>${mechanisms.join("")}</ul>` : "none ran"],
    ]),
    `</header>`,
  ]
    .filter(Boolean)
    .join("\n");
}

const LEGEND =
  `<p class="legend">Each cell: the verdict, the HTTP status of each request step in order (×n: n steps in a row with that status), ` +
  `the reviews the backend received (none under ValidatingAdmissionPolicy, which has no backend), and the median request latency. ` +
  `Hover a cell for the refusal message as the apiserver sent it; click it for the scenario in that mechanism's report. ` +
  `— : the scenario does not apply to the mechanism.</p>`;

const LATENCY_NOTE =
  `<p class="legend">Latency: from sending a request step to its answer, as the harness measured it, over every request step of the mechanism's run ` +
  `(<em>all</em>) and split by the apiserver's answer (<em>allowed</em>, <em>denied</em>). Shown as median / p99 (requests); the p99 is nearest-rank, ` +
  `so with fewer than 100 requests it is the slowest one. Scenarios differ between mechanisms, and some hold a backend on purpose (hangs, retries): ` +
  `compare medians first.</p>`;

const COMPARISON_CSS = `
table.comparison td.cell{white-space:nowrap;font-variant-numeric:tabular-nums;padding:0}
table.comparison td.cell>a{display:block;padding:.25rem .5rem;color:inherit;text-decoration:none}
table.comparison td.cell>a:hover,table.comparison td.cell>a:focus{outline:2px solid var(--refuse);outline-offset:-2px}
table.comparison td.cell.pass{background:color-mix(in srgb,var(--pass) 12%,transparent)}
table.comparison td.cell.fail{background:color-mix(in srgb,var(--fail) 16%,transparent)}
table.comparison td.cell.error{background:color-mix(in srgb,var(--error) 16%,transparent)}
table.comparison td.cell.skipped{background:color-mix(in srgb,var(--skipped) 14%,transparent)}
table.comparison td.cell.na{color:var(--muted);text-align:center;padding:.25rem .5rem}
table.comparison td.cell.notrun{color:var(--error);padding:.25rem .5rem}
table.comparison .sym{font-weight:700}table.comparison .pass .sym{color:var(--pass)}table.comparison .fail .sym{color:var(--fail)}
table.comparison .error .sym{color:var(--error)}table.comparison .skipped .sym{color:var(--skipped)}
table.comparison .refused .codes{color:var(--refuse);font-weight:600}
table.comparison .calls{color:var(--muted)}table.comparison .lat{display:block;font-size:12px;color:var(--muted)}
table.comparison td.name{overflow-wrap:anywhere}table.comparison th a,table.mechanisms td.name a{color:inherit}
.lab-failed{color:var(--error);font-size:12px}table.mechanisms .badge{white-space:nowrap}table.mechanisms th{white-space:nowrap}
${LATENCY_CHART_CSS}`;

/** Renders the comparison as one HTML document (UTF-8, inline CSS, no scripts). */
export function renderComparisonHtml(c: ComparisonReport): string {
  const rows = comparisonRows(c);
  const summaries = mechanismSummaries(c);
  const chart = latencyChartSvg(summaries.map((s) => ({ key: s.mechanism, label: MECHANISM_TITLES[s.mechanism], stats: s.latencyMs.all })));
  const title = `imagepolicy-lab comparison: ${totalsText(comparisonTotals(c))}${c.labError !== undefined ? " (lab error)" : ""} — ${c.provider} ${c.k8sVersion}`;
  return htmlPage(title, REPORT_CSS + COMPARISON_CSS, [
    header(c),
    `<nav class="toc"><a href="#matrix">scenarios × mechanisms</a> · <a href="#mechanisms">per mechanism</a>${chart ? ` · <a href="#latency">latency</a>` : ""}</nav>`,
    `<h2 id="matrix">Scenarios × mechanisms</h2>`,
    rows.length && c.runs.length ? `${LEGEND}${matrix(c, rows)}` : `<p class="muted">No scenarios ran.</p>`,
    `<h2 id="mechanisms">Per mechanism</h2>`,
    LATENCY_NOTE,
    summaryTable(summaries),
    chart
      ? `<figure id="latency"><figcaption><h3>Request latency, median and p99</h3>Over every request step of each mechanism's run; logarithmic scale.</figcaption><div class="pic-scroll">${chart}</div></figure>`
      : `<p class="muted" id="latency">Request latency ${NOT_OBSERVED} (the reports carry no response times).</p>`,
  ]);
}
