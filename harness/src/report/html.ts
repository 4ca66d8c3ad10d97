// A single self-contained HTML page for people: totals at the top, a table to scan (with a CSS-only
// filter), pictures drawn from the observed timings (svg/), and the full evidence of each scenario
// behind a <details>. No JavaScript and nothing fetched: a Content-Security-Policy forbids both, as a
// second line of defense behind escaping, since messages and journal entries carry text from the
// backend and the apiserver, and so the page reads the same offline.
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import type { CheckResult, RunReport, ScenarioResult, StepResult, Verdict } from "../scenario/result.ts";
import { requestText, responseText } from "./evidence.ts";
import { formatMs, profileLabel, summarize, totalsText, visibleControls, waitRatio } from "./format.ts";
import { PICTURE_CSS, picturesSection, scenarioAnchor, scenarioPictures } from "./svg/pictures.ts";

/** Escapes for element content and quoted attributes; control characters are shown as U+2400 pictures. */
export function escapeHtml(text: string): string {
  return visibleControls(text, true)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const h = escapeHtml;

const VERDICT_LABEL: Record<Verdict, string> = { pass: "pass", fail: "fail", error: "error", skipped: "skipped" };

export function badge(v: Verdict, text = VERDICT_LABEL[v]): string {
  return `<span class="badge ${v}">${h(text)}</span>`;
}

/** Only http(s) links; anything else (javascript:, data:) is shown as text. */
function linkOrText(text: string): string {
  return /^https?:\/\//i.test(text) ? `<a href="${h(text)}" rel="noreferrer">${h(text)}</a>` : h(text);
}

/** A definition list of facts; values are markup (escape text first); empty values are left out. */
export function facts(rows: [string, string | undefined][]): string {
  const items = rows.filter((r): r is [string, string] => r[1] !== undefined && r[1] !== "");
  return `<dl class="facts">${items.map(([k, v]) => `<dt>${h(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

function checksTable(checks: CheckResult[]): string {
  if (!checks.length) return `<p class="muted">No expectations on this step.</p>`;
  const rows = checks.map(
    (c) => `<tr class="${c.ok ? "ok" : "bad"}"><td>${h(c.what)}</td><td><code>${h(c.expected)}</code></td><td><code>${h(c.observed)}</code></td><td>${c.ok ? "✓" : "✗"}</td></tr>`,
  );
  return `<div class="table-scroll"><table class="checks"><thead><tr><th>check</th><th>expected</th><th>observed</th><th>ok</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`;
}

function annotations(a: Record<string, string> | undefined): string {
  const entries = Object.entries(a ?? {});
  if (!entries.length) return `<span class="muted">none</span>`;
  return entries.map(([k, v]) => `<code>${h(k)}=${h(v)}</code>`).join("<br>");
}

function journalTable(entries: JournalEntry[]): string {
  if (!entries.length) return `<p class="muted">The backend received no reviews during this step.</p>`;
  const rows = entries.map(
    (e) =>
      `<tr class="${e.outcome}"><td>${e.seq}</td><td>${e.images.map((i) => `<code>${h(i)}</code>`).join("<br>") || `<span class="muted">none</span>`}</td>` +
      `<td><code>${h(e.namespace)}</code></td><td>${annotations(e.annotations)}</td>` +
      `<td>${h(e.outcome)}${e.reason ? `<br><span class="muted">${h(e.reason)}</span>` : ""}${e.auditAnnotations && Object.keys(e.auditAnnotations).length ? `<br>audit: ${annotations(e.auditAnnotations)}` : ""}</td>` +
      `<td>${e.fault ? `<code>${h(e.fault)}</code>` : ""}</td><td>${e.status || "no response"}</td><td>${Math.round(e.latencyMs)} ms</td></tr>`,
  );
  return (
    `<div class="table-scroll"><table class="journal"><caption>Backend reviews</caption><thead><tr><th>#</th><th>images</th><th>namespace</th><th>annotations</th><th>outcome</th><th>fault</th><th>status</th><th>latency</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></div>`
  );
}

function stepSection(st: StepResult): string {
  return [
    `<section class="step ${st.verdict}">`,
    `<h4>${badge(st.verdict)} step ${st.index + 1}: ${h(st.name)}</h4>`,
    facts([
      ["action", h(st.action)],
      ["request", st.request ? h(requestText(st.request)) : undefined],
      ["response", st.response ? `<code>${h(responseText(st.response))}</code>` : undefined],
      ["attempts", st.attempts > 1 ? String(st.attempts) : undefined],
      ["time", `${formatMs(st.durationMs)}${st.unavoidableWaitMs > 0 ? ` (${formatMs(st.unavoidableWaitMs)} unavoidable wait)` : ""}`],
      ["error", st.error ? `<pre>${h(st.error)}</pre>` : undefined],
    ]),
    checksTable(st.checks),
    // With notes the journal was not observed (the user's backend): say what was left out instead.
    st.notes?.length ? `<ul class="notes muted">${st.notes.map((n) => `<li>not checked: ${h(n)}</li>`).join("")}</ul>` : journalTable(st.journal),
    `</section>`,
  ].join("\n");
}

/** For a failed or errored scenario, before anything else: the summary line and every check that did not hold. */
function expectedVsObserved(s: ScenarioResult): string {
  if (s.verdict !== "fail" && s.verdict !== "error") return "";
  const sum = summarize(s);
  const failed = s.steps.flatMap((st) => st.checks.filter((c) => !c.ok).map((c) => ({ st, c })));
  const rows = failed.map(
    ({ st, c }) => `<tr class="bad"><td>${st.index + 1}</td><td>${h(c.what)}</td><td><code>${h(c.expected)}</code></td><td><code>${h(c.observed)}</code></td></tr>`,
  );
  return [
    `<div class="evo">`,
    `<h3>Expected vs observed</h3>`,
    facts([
      ["expected", h(sum.expected)],
      ["observed", `<strong>${h(sum.observed)}</strong>`],
    ]),
    rows.length
      ? `<div class="table-scroll"><table class="checks"><thead><tr><th>step</th><th>check</th><th>expected</th><th>observed</th></tr></thead><tbody>${rows.join("")}</tbody></table></div>`
      : "",
    `</div>`,
  ].join("");
}

function scenarioDetails(s: ScenarioResult, i: number): string {
  // Failures open by default, with expected vs observed first: they are what a reader came for.
  const open = s.verdict === "fail" || s.verdict === "error" ? " open" : "";
  return [
    `<details id="${scenarioAnchor(i)}" class="${s.verdict}"${open}>`,
    `<summary>${badge(s.verdict)} <strong>${h(s.name)}</strong> <span class="muted">${s.verdict === "skipped" ? "" : formatMs(s.durationMs)}</span></summary>`,
    expectedVsObserved(s),
    s.description ? `<p class="description">${h(s.description)}</p>` : "",
    facts([
      ["file", `<code>${h(s.file)}</code>`],
      ["spec", s.specRef ? linkOrText(s.specRef) : undefined],
      ["profile", `<code>${h(profileLabel(s.profile))}</code>`],
      ["namespace", `<code>${h(s.namespace)}</code>`],
      [s.verdict === "skipped" ? "skipped because" : "reason", s.reason ? `<pre>${h(s.reason)}</pre>` : undefined],
    ]),
    scenarioPictures(s),
    ...s.steps.map(stepSection),
    `</details>`,
  ]
    .filter(Boolean)
    .join("\n");
}

function summaryTable(scenarios: ScenarioResult[]): string {
  const rows = scenarios.map((s, i) => {
    const sum = summarize(s);
    return (
      `<tr class="${s.verdict}"><td class="name"><a href="#${scenarioAnchor(i)}">${h(s.name)}</a></td><td data-label="expected">${h(sum.expected)}</td><td data-label="observed">${h(sum.observed)}</td>` +
      `<td>${badge(s.verdict)}</td><td class="num">${s.verdict === "skipped" ? "—" : formatMs(s.durationMs)}</td></tr>`
    );
  });
  return `<table class="summary"><thead><tr><th>scenario</th><th>expected</th><th>observed</th><th>verdict</th><th>time</th></tr></thead><tbody>${rows.join("\n")}</tbody></table>`;
}

/**
 * Show all / failed / passed / skipped without JavaScript: radio buttons, and CSS `:has()` rules
 * that hide the other rows and details. Browsers without `:has()` simply show everything.
 */
function filterBar(t: Record<Verdict, number>): string {
  const total = t.pass + t.fail + t.error + t.skipped;
  const options: [string, string, number][] = [
    ["all", "all", total],
    ["failed", "failed", t.fail + t.error],
    ["passed", "passed", t.pass],
    ["skipped", "skipped", t.skipped],
  ];
  const inputs = options
    .filter(([id, , n]) => id === "all" || n > 0)
    .map(([id, text, n]) => `<input type="radio" name="show" id="show-${id}"${id === "all" ? " checked" : ""}><label for="show-${id}">${text} ${n}</label>`);
  return `<div class="filter" role="group" aria-label="show scenarios">show: ${inputs.join("")}</div>`;
}

function header(r: RunReport): string {
  const t = r.totals;
  const counts = (["pass", "fail", "error", "skipped"] as const).filter((v) => t[v] > 0).map((v) => badge(v, `${t[v]} ${v === "pass" ? "passed" : v === "fail" ? "failed" : v === "error" ? "errored" : "skipped"}`));
  const ratio = waitRatio(r);
  const switches = r.profileSwitches.length
    ? `<ul>${r.profileSwitches.map((p) => `<li><code>${h(profileLabel(p.profile))}</code> (${formatMs(p.elapsedMs)})</li>`).join("")}</ul>`
    : "none";
  return [
    `<header>`,
    `<h1>imagepolicy-lab conformance report</h1>`,
    `<p class="totals">${counts.join(" ") || badge("skipped", "no scenarios")} <span class="muted">in ${formatMs(r.durationMs)}</span></p>`,
    r.labError ? `<div class="lab-error"><strong>The lab could not run:</strong><pre>${h(r.labError)}</pre></div>` : "",
    facts([
      ["provider", h(r.provider)],
      [
        "backend",
        r.externalBackend
          ? h(`yours, ${r.externalBackend.url}; expected to trust ${r.externalBackend.trust.join(", ")}`)
          : r.opaBackend
            ? h(`OPA with the shipped Rego (policies/opa) as ImagePolicyWebhook's backend, ${r.opaBackend.url}`)
            : undefined,
      ],
      ["Kubernetes", h(r.k8sVersion)],
      ["tool", h(`${r.tool.name} ${r.tool.version}`)],
      ["started", h(r.startedAt)],
      ["finished", h(r.finishedAt)],
      ["lab start", r.labStartMs > 0 ? formatMs(r.labStartMs) : "already running"],
      ["scenarios", formatMs(r.durationMs)],
      ["unavoidable waits", `${formatMs(r.unavoidableWaitMs)}${ratio === undefined ? "" : ` (run/wait ratio ${ratio.toFixed(2)}×)`}`],
      ["profile switches", switches],
    ]),
    `</header>`,
  ]
    .filter(Boolean)
    .join("\n");
}

/** The report page's styles (light and dark), pictures included; the comparison page shares them. */
export const REPORT_CSS = `
:root{--pass:#1a7f37;--fail:#cf222e;--error:#8250df;--skipped:#9a6700;--muted:#656d76;--line:#d0d7de;--bg:#fff;--fg:#1f2328;--code:#f6f8fa;--refuse:#0969da;--refuse-bg:#ddf4ff;--admit:#bc4c00;--admit-bg:#fff1e5}
@media (prefers-color-scheme:dark){:root{--pass:#3fb950;--fail:#f85149;--error:#bc8cff;--skipped:#d29922;--muted:#8d96a0;--line:#30363d;--bg:#0d1117;--fg:#e6edf3;--code:#161b22;--refuse:#58a6ff;--refuse-bg:#0c2d6b;--admit:#f0883e;--admit-bg:#3d1e00}}
body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;background:var(--bg);color:var(--fg)}
h1{font-size:1.5rem;margin:0 0 .5rem}h4{margin:.75rem 0 .25rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border-bottom:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600}td.num{text-align:right;white-space:nowrap}caption{text-align:left;font-weight:600;padding:.25rem 0}
code,pre{font:12px/1.4 ui-monospace,monospace;background:var(--code);border-radius:4px;padding:0 .25rem;overflow-wrap:anywhere}
pre{padding:.5rem;white-space:pre-wrap;margin:0}
.badge{display:inline-block;border-radius:1em;padding:0 .6em;color:#fff;font-size:12px;font-weight:600}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.error{background:var(--error)}.badge.skipped{background:var(--skipped)}
.muted{color:var(--muted)}.totals{font-size:1.1rem}.description{white-space:pre-line}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}.facts dt{color:var(--muted)}.facts dd{margin:0}.facts ul{margin:0;padding-left:1rem}
details{border:1px solid var(--line);border-radius:6px;margin:.5rem 0;padding:.25rem .75rem}details[open]{padding-bottom:.75rem}
summary{cursor:pointer;padding:.25rem 0}details.fail{border-left:4px solid var(--fail)}details.error{border-left:4px solid var(--error)}
.step{border-top:1px dashed var(--line);margin-top:.5rem}
tr.bad td{color:var(--fail)}
.lab-error{border:1px solid var(--fail);border-radius:6px;padding:.5rem;margin:.5rem 0}
.toc{margin:.5rem 0}.table-scroll{overflow-x:auto}
.evo{border:1px solid var(--fail);border-radius:6px;padding:.25rem .75rem;margin:.5rem 0}.evo h3{font-size:1rem;margin:.25rem 0}
.filter{margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.4rem;align-items:center}
.filter input{position:absolute;opacity:0;pointer-events:none}
.filter label{border:1px solid var(--line);border-radius:1em;padding:0 .7em;cursor:pointer}
.filter input:checked+label{background:var(--fg);color:var(--bg);border-color:var(--fg)}
.filter input:focus-visible+label{outline:2px solid var(--refuse)}
body:has(#show-failed:checked) :is(table.summary tr,details):is(.pass,.skipped){display:none}
body:has(#show-passed:checked) :is(table.summary tr,details):is(.fail,.error,.skipped){display:none}
body:has(#show-skipped:checked) :is(table.summary tr,details):is(.pass,.fail,.error){display:none}
@media (max-width:700px){
body{margin:1rem auto;padding:0 .5rem}
table.summary thead{display:none}
table.summary tr{display:grid;grid-template-columns:1fr auto auto;border-bottom:1px solid var(--line);padding:.25rem 0}
table.summary td{border:0;padding:.1rem .25rem}
table.summary td.name{grid-column:1;grid-row:1;overflow-wrap:anywhere}
table.summary td:nth-child(4){grid-column:2;grid-row:1}table.summary td.num{grid-column:3;grid-row:1}
table.summary td[data-label]{grid-column:1/-1;font-size:13px}
table.summary td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}
.facts{grid-template-columns:1fr}.facts dt{margin-top:.25rem}
}
${PICTURE_CSS}`;

/** Renders the run as one HTML document (UTF-8, inline CSS, no scripts). */
export function renderHtml(report: RunReport): string {
  const pictures = picturesSection(report);
  const title = `imagepolicy-lab: ${totalsText(report.totals)}${report.labError ? " (lab error)" : ""} — ${report.provider} ${report.k8sVersion}`;
  return htmlPage(title, REPORT_CSS, [
    header(report),
    `<nav class="toc"><a href="#scenarios">scenarios</a>${pictures ? ` · <a href="#pictures">pictures</a>` : ""} · <a href="#details">details</a></nav>`,
    `<h2 id="scenarios">Scenarios</h2>`,
    report.scenarios.length ? `${filterBar(report.totals)}${summaryTable(report.scenarios)}` : `<p class="muted">No scenarios ran.</p>`,
    pictures,
    `<h2 id="details">Details</h2>`,
    ...report.scenarios.map(scenarioDetails),
  ]);
}

/** A self-contained page: inline CSS, no scripts, nothing loaded from elsewhere (the CSP says so). */
export function htmlPage(title: string, css: string, body: string[]): string {
  return [
    `<!doctype html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${h(title)}</title>`,
    `<style>${css}</style>`,
    `</head>`,
    `<body>`,
    ...body,
    `</body>`,
    `</html>`,
    "",
  ].join("\n");
}
