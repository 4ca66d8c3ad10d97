// probe.html: the run page's shell and styles (inline CSS, no scripts, a CSP), with the findings at
// the top, one table row per request, and each request's evidence (the received message verbatim)
// behind a <details>.
import type { Verdict } from "../scenario/result.ts";
import { formatMs } from "../report/format.ts";
import { badge, escapeHtml as h, facts, htmlPage, REPORT_CSS } from "../report/html.ts";
import { caseEvidence } from "./evidence.ts";
import type { CaseResult, CaseVerdict, FindingSeverity, ProbeReport } from "./model.ts";
import { EXPECT_TEXT, refusersText, resultLine, SEVERITY_LABEL, sentText } from "./terminal.ts";

/** The run report's verdict colors, reused: a hole is a failure, inconclusive an error. */
const AS_VERDICT: Record<CaseVerdict | FindingSeverity, Verdict> = {
  "as-expected": "pass",
  hole: "fail",
  "trusted-refused": "fail",
  problem: "fail",
  inconclusive: "error",
  "cannot-run": "error",
  note: "skipped",
};

const PROBE_CSS = `
ul.findings{list-style:none;padding:0}ul.findings li{margin:.35rem 0;padding:.35rem .6rem;border-left:4px solid var(--line);background:var(--code);border-radius:4px}
ul.findings li.fail{border-left-color:var(--fail)}ul.findings li.error{border-left-color:var(--error)}ul.findings li.skipped{border-left-color:var(--refuse)}
td.sent,td.observed{overflow-wrap:anywhere}.badge{white-space:nowrap}`;

function caseRow(c: CaseResult): string {
  const v = AS_VERDICT[c.verdict];
  return (
    `<tr class="${v}"><td class="name"><a href="#case-${h(c.id)}">${h(c.id)}</a><br><span class="muted">${h(c.title)}</span></td>` +
    `<td class="sent"><code>${h(sentText(c))}</code></td><td>${h(EXPECT_TEXT[c.expect])}</td><td class="observed">${h(c.observed)}</td><td>${badge(v, c.verdict)}</td></tr>`
  );
}

function caseDetails(c: CaseResult): string {
  const v = AS_VERDICT[c.verdict];
  const rows = caseEvidence(c).map(([k, val]): [string, string | undefined] => [k, val === undefined ? undefined : k === "message" || k === "warnings" ? `<pre>${h(val)}</pre>` : h(val)]);
  const open = v === "fail" || v === "error" ? " open" : "";
  return `<details id="case-${h(c.id)}" class="${v}"${open}><summary>${badge(v, c.verdict)} <strong>${h(c.id)}</strong> ${h(c.title)}</summary>${facts(rows)}</details>`;
}

export function renderProbeHtml(r: ProbeReport): string {
  const t = r.target;
  const findings = r.findings.length
    ? `<ul class="findings">${r.findings.map((f) => `<li class="${AS_VERDICT[f.severity]}">${badge(AS_VERDICT[f.severity], SEVERITY_LABEL[f.severity])} ${h(f.text)}</li>`).join("")}</ul>`
    : `<p class="muted">Nothing to report: every case behaved as the trust list says.</p>`;
  const metrics = r.metrics.readable
    ? `read before and after the cases${r.metrics.imagePolicyWebhookEnabled ? "; ImagePolicyWebhook is enabled" : ""}`
    : `not used: ${r.metrics.reason}`;
  return htmlPage(`imagepolicy-lab probe: exit ${r.exitCode} — ${t.server} ${t.namespace}`, `${REPORT_CSS}${PROBE_CSS}`, [
    `<header>`,
    `<h1>imagepolicy-lab probe</h1>`,
    `<p class="totals">${badge(r.exitCode === 0 ? "pass" : r.exitCode === 1 ? "fail" : "error", `exit ${r.exitCode}`)} ${h(resultLine(r))}</p>`,
    facts([
      ["server", `<code>${h(t.server)}</code>`],
      ["context", h(t.context)],
      ["namespace", `<code>${h(t.namespace)}</code>`],
      ["Kubernetes", t.k8sVersion ? h(t.k8sVersion) : undefined],
      ["kubeconfig", `<code>${h(t.kubeconfig)}</code>`],
      ["trust list", r.trust.map((x) => `<code>${h(x)}</code>`).join(" ")],
      ["trusted images", r.trustedImages.map((x) => `<code>${h(x)}</code>`).join(" ")],
      ["nonce", `<code>${h(r.nonce)}</code> (annotation probe.image-policy.k8s.io/nonce on every probe pod)`],
      ["refusals came from", refusersText(r.cases) === undefined ? `<span class="muted">nothing refused</span>` : h(refusersText(r.cases)!)],
      ["apiserver metrics", h(metrics)],
      ["started", h(r.startedAt)],
      ["took", formatMs(r.durationMs)],
    ]),
    `</header>`,
    `<h2>Findings</h2>`,
    findings,
    `<h2>Cases</h2>`,
    r.cases.length
      ? `<div class="table-scroll"><table class="summary"><thead><tr><th>case</th><th>sent (server-side dry run)</th><th>expected</th><th>observed</th><th>verdict</th></tr></thead><tbody>${r.cases.map(caseRow).join("\n")}</tbody></table></div>`
      : `<p class="muted">No request was sent.</p>`,
    ...r.cases.map(caseDetails),
  ]);
}
