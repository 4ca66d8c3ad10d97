// Where the pictures go in the HTML report: an overview section (the failure matrix, every retry or
// stall timeline, every cache timeline) and each scenario's own pictures inside its details. The
// SVG writers are pure functions of the report model; this module only picks and frames them.
import type { RunReport, ScenarioResult } from "../../scenario/result.ts";
import { cacheTimelineSvg } from "./cache-timeline.ts";
import { callTimelineModel, renderCallTimeline, type CallTimeline } from "./call-timeline.ts";
import { failureMatrixModel, renderFailureMatrix } from "./failure-matrix.ts";
import { esc, fmtDuration } from "./svg-kit.ts";

/** Anchor of a scenario's details; the summary table and the pictures link to it. */
export function scenarioAnchor(i: number): string {
  return `s-${i + 1}`;
}

/** Timelines worth a place in the overview: a step with retries, or a call that stayed open for a second or more. */
export function isRetryTimeline(t: CallTimeline): boolean {
  return t.lanes.some((l) => l.calls.length >= 2 || l.calls.some((m) => m.entry.latencyMs >= 1000));
}

function figure(cls: string, id: string, caption: string, svg: string): string {
  return `<figure class="${cls}" id="${id}"><figcaption>${caption}</figcaption><div class="pic-scroll">${svg}</div></figure>`;
}

function scenarioLink(s: ScenarioResult, i: number): string {
  return `<a href="#${scenarioAnchor(i)}">${esc(s.name)}</a>`;
}

const CALL_LEGEND =
  `<p class="legend"><span class="key allowed">●</span> allowed <span class="key denied">●</span> denied ` +
  `<span class="key fault">●</span> error answer <span class="key noanswer">○</span> no answer (bar: how long it stayed open) ` +
  `<span class="key fault">■</span> client-go retry after Retry-After (inferred from the gap) · labels: gap since the previous call</p>`;

const CACHE_LEGEND =
  `<p class="legend"><span class="key stored">▬</span> stored <span class="key hit">▬</span> hit (answered without a backend call) ` +
  `<span class="key expired">▬</span> expired, asked again <span class="key miss">▬</span> miss (another cache key) ` +
  `<span class="key not-stored">▬</span> error answer, not stored · line: the stored verdict's TTL; shaded: when it expires (the verdict was stored at some moment during its step)</p>`;

/** The overview: matrix, retry and stall timelines, cache timelines, each with a caption linking to its scenario. */
export function picturesSection(report: RunReport): string {
  const scenarios = report.scenarios;
  const matrix = failureMatrixModel(scenarios);
  const retries = scenarios
    .map((s, i) => ({ s, i, t: s.verdict === "skipped" ? undefined : callTimelineModel(s) }))
    .filter((x): x is { s: ScenarioResult; i: number; t: CallTimeline } => x.t !== undefined && isRetryTimeline(x.t));
  const caches = scenarios.map((s, i) => ({ s, i, svg: cacheTimelineSvg(s) })).filter((x) => x.svg);
  if (!matrix.kinds.length && !retries.length && !caches.length) return "";
  const out = [`<section id="pictures"><h2>Pictures</h2>`];
  out.push(
    `<nav class="toc">${[
      matrix.kinds.length ? `<a href="#matrix">fail open / fail closed</a>` : "",
      retries.length ? `<a href="#retries">retries and stalls (${retries.length})</a>` : "",
      caches.length ? `<a href="#cache">cache (${caches.length})</a>` : "",
    ]
      .filter(Boolean)
      .join(" · ")}</nav>`,
  );
  if (matrix.kinds.length) {
    const unnamed = matrix.unnamed.map((u) => `${esc(u.scenario.name)} step ${u.step.index + 1}`).join(", ");
    const left = unnamed ? ` Left out, because nothing observed names the failure (no review reached the backend and the apiserver said nothing): ${unnamed}.` : "";
    out.push(
      figure(
        "matrix",
        "matrix",
        `<h3>Failure kind × defaultAllow</h3>What the apiserver did when the backend failed, from the fail-open-* and fail-closed-* scenarios of this run: admitted or refused (HTTP status), reviews that reached the backend, time of the request. Each cell links to its scenario.${left}`,
        renderFailureMatrix(matrix, (i) => `#${scenarioAnchor(i)}`),
      ),
    );
  }
  if (retries.length) {
    out.push(`<h3 id="retries">Retries and stalls</h3>`, CALL_LEGEND);
    for (const { s, i, t } of retries) {
      out.push(figure("timeline", `pic-calls-${i + 1}`, `${scenarioLink(s, i)} <span class="muted">${t.calls} ${t.calls === 1 ? "call" : "calls"} in ${fmtDuration(t.spanMs)}</span>`, renderCallTimeline(s.name, t)));
    }
  }
  if (caches.length) {
    out.push(`<h3 id="cache">Cache</h3>`, CACHE_LEGEND);
    for (const { s, i, svg } of caches) out.push(figure("timeline", `pic-cache-${i + 1}`, scenarioLink(s, i), svg));
  }
  out.push(`</section>`);
  return out.join("\n");
}

/** A scenario's own pictures, for its details: the call timeline, and the cache timeline when it has one. */
export function scenarioPictures(s: ScenarioResult): string {
  if (s.verdict === "skipped") return "";
  const t = callTimelineModel(s);
  const cache = cacheTimelineSvg(s);
  const out: string[] = [];
  if (t) out.push(`<div class="pic-scroll">${renderCallTimeline(s.name, t)}</div>`);
  if (cache) out.push(`<div class="pic-scroll">${cache}</div>`);
  return out.length ? `<div class="scenario-pics">${out.join("")}</div>` : "";
}

/** Styles of the pictures; colours follow the page's light/dark variables. */
export const PICTURE_CSS = `
.pic-scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
svg.pic{display:block;width:100%;min-width:44rem;max-width:960px;height:auto;font:12px system-ui,sans-serif;fill:var(--fg)}
svg.pic text{fill:var(--fg)}
svg.pic .sep{stroke:var(--line)}svg.pic .track{stroke:var(--line);stroke-dasharray:2 3}
svg.pic .lane-name{font-weight:600}svg.pic .lane-facts,svg.pic .axis-name,svg.pic .sub,svg.pic .none,svg.pic .facts{fill:var(--muted)}
svg.pic .axis line{stroke:var(--muted)}svg.pic .axis text{font-size:11px;fill:var(--muted)}
svg.pic .call circle,svg.pic .call rect{stroke:var(--bg);stroke-width:1.5}
svg.pic .call.allowed *{fill:var(--pass)}svg.pic .call.denied *{fill:var(--refuse)}svg.pic .call.fault *{fill:var(--fail)}
svg.pic .call.noanswer circle{fill:var(--bg);stroke:var(--fail);stroke-width:2.5}
svg.pic .gap line{stroke:var(--muted);stroke-width:1}svg.pic .gap-label{font-size:11px}
svg.pic .inner-run path{fill:none;stroke:var(--muted)}svg.pic .inner-run text{font-size:11px;fill:var(--muted)}
svg.pic .stall rect{fill:var(--fail);opacity:.35}svg.pic .latency rect{fill:var(--muted);opacity:.35}svg.pic .stall text,svg.pic .latency text{font-size:11px}
svg.pic .bar rect,svg.pic .bar circle{stroke:var(--bg)}
svg.pic .bar.stored *{fill:var(--refuse)}svg.pic .bar.hit *{fill:var(--pass)}svg.pic .bar.expired *,svg.pic .bar.miss *{fill:var(--skipped)}
svg.pic .bar.not-stored *,svg.pic .bar.uncached *,svg.pic .bar.no-call *{fill:var(--muted)}
svg.pic .row-label{font-size:11.5px}
svg.pic .ttl line,svg.pic .ttl path{stroke:var(--refuse);stroke-width:1.5;fill:none}svg.pic .expiry rect{fill:var(--refuse);opacity:.15}svg.pic .ttl text{font-size:11px;fill:var(--refuse)}
svg.pic .change line{stroke:var(--muted);stroke-dasharray:4 3}svg.pic .change text{font-size:11px;fill:var(--muted)}
svg.pic .col-head text{font-weight:600;font-size:13px}svg.pic .col-head .sub{font-weight:400;font-size:12px}
svg.pic .kind{font-weight:600;font-size:13px}
svg.pic .cell rect{stroke-width:1.5}svg.pic .cell .outcome{font-weight:600;font-size:13px}svg.pic .cell .scn{font-size:11px;fill:var(--muted)}
svg.pic .cell.admitted rect{fill:var(--admit-bg);stroke:var(--admit)}svg.pic .cell.admitted .outcome{fill:var(--admit)}
svg.pic .cell.refused rect{fill:var(--refuse-bg);stroke:var(--refuse)}svg.pic .cell.refused .outcome{fill:var(--refuse)}
svg.pic .cell.noanswer rect{fill:var(--code);stroke:var(--fail)}
svg.pic .cell.empty rect{fill:none;stroke:var(--line);stroke-dasharray:4 3}svg.pic .cell.empty text{fill:var(--muted)}
svg.pic a:hover rect,svg.pic a:focus rect{stroke-width:3}
figure{margin:1rem 0}figcaption{margin-bottom:.25rem}figcaption h3{margin:0 0 .25rem}
.legend{font-size:12px;color:var(--muted)}.key{font-size:14px}.key.allowed,.key.hit{color:var(--pass)}.key.denied,.key.stored{color:var(--refuse)}
.key.fault,.key.noanswer{color:var(--fail)}.key.expired,.key.miss{color:var(--skipped)}.key.not-stored{color:var(--muted)}
.scenario-pics{margin:.5rem 0}
`;
