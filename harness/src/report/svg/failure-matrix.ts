// The fail-open / fail-closed matrix: one row per failure kind, one column per defaultAllow, each
// cell what the apiserver did about it in this run (admitted or refused, with the status), how many
// reviews reached the backend and how long the request took. Built from the fail-open-* and
// fail-closed-* scenarios' observed results.
//
// The failure kind is read from the evidence where it exists: the fault the stub journaled for the
// review, else the apiserver's message (connection refused, x509). When no request reached the
// backend and the apiserver admitted the pod without a message (failing open), nothing observed names
// the failure, and the scenario's name does; each cell's tooltip says which source it used.
import type { JournalEntry } from "../../../../webhook-stub/src/types.ts";
import { NOT_OBSERVED, type ScenarioResult, type StepResult } from "../../scenario/result.ts";
import { callClass } from "./call-timeline.ts";
import { attrs, clip, esc, fmtDuration, svgDoc, tag, title } from "./svg-kit.ts";

export type KindSource = "journal" | "message" | "name";

export interface FailureKind {
  label: string;
  /** Sort order of rows: connection-level failures first, then HTTP statuses, then bodies. */
  rank: number;
  source: KindSource;
  /** The stub's fault spec as journaled, when the kind came from the journal. */
  fault?: string;
}

export interface MatrixObservation {
  scenario: ScenarioResult;
  /** Position of the scenario in the report, for the link to its details. */
  scenarioIndex: number;
  step: StepResult;
  kind: FailureKind;
  defaultAllow: boolean;
  /** undefined when the apiserver gave no answer (the step errored). */
  admitted?: boolean;
  code?: number;
  calls: number;
  durationMs: number;
}

export interface FailureMatrix {
  /** Row labels in display order. */
  kinds: string[];
  /** Observations per `${kind}|${defaultAllow}`. */
  cells: Map<string, MatrixObservation[]>;
  /** Failure steps of matching scenarios whose kind nothing names (left out of the picture). */
  unnamed: { scenario: ScenarioResult; step: StepResult }[];
}

const FAIL_SCENARIO = /^fail-(open|closed)-/;

/** The named failures a fault spec stands for; `first:N:` prefixes are dropped (the journal shows the faulted call). */
function kindFromFault(fault: string, status: number): FailureKind {
  const spec = fault.replace(/^(?:first:\d+:)+/, "");
  const http = /^status:(\d+)(?::retry-after:(\d+))?$/.exec(spec);
  const k = (label: string, rank: number): FailureKind => ({ label, rank, source: "journal", fault });
  if (http) return k(`HTTP ${http[1]}${http[2] !== undefined ? ` + Retry-After ${http[2]} s` : ""}`, 100 + Number(http[1]) + (http[2] ? 0.5 : 0));
  if (spec === "hang") return k("hang (never answers)", 2);
  if (spec === "reset") return k("connection reset", 3);
  if (spec === "malformed") return k("malformed body", 700);
  if (spec === "content-type") return k("wrong content type", 701);
  if (spec === "empty") return k("empty reply {}", 702);
  const delay = /^delay:(\d+)$/.exec(spec);
  if (delay) return k(`slow answer (${delay[1]} ms)`, 703);
  return k(spec || `HTTP ${status}`, 800);
}

/** A journal entry that is a failure: a fault applied, or anything but a 2xx verdict. */
function isFailure(e: JournalEntry): boolean {
  const c = callClass(e);
  return e.fault !== undefined || (c !== "allowed" && c !== "denied");
}

/** What went wrong in this step, from the most direct evidence available; undefined when nothing names it. */
export function failureKind(s: ScenarioResult, step: StepResult): FailureKind | undefined {
  const failed = step.journal.find(isFailure);
  if (failed) return kindFromFault(failed.fault ?? "", failed.status);
  if (step.journal.length > 0) return undefined;
  const message = step.response?.message ?? step.error ?? "";
  if (/connection refused/i.test(message)) return { label: "connection refused", rank: 0, source: "message" };
  if (/x509|certificate/i.test(message)) return { label: "untrusted certificate", rank: 1, source: "message" };
  if (/connection-refused/.test(s.name)) return { label: "connection refused", rank: 0, source: "name" };
  if (/certificate/.test(s.name)) return { label: "untrusted certificate", rank: 1, source: "name" };
  return undefined;
}

/** Steps of a fail-open/-closed scenario that met a failure: a faulted review, or no review at all. */
function failureSteps(s: ScenarioResult): StepResult[] {
  return s.steps.filter((st) => st.request !== undefined && (st.journal.length === 0 || st.journal.some(isFailure)));
}

export function cellKey(kind: string, defaultAllow: boolean): string {
  return `${kind}|${defaultAllow}`;
}

export function failureMatrixModel(scenarios: ScenarioResult[]): FailureMatrix {
  const obs: MatrixObservation[] = [];
  const unnamed: FailureMatrix["unnamed"] = [];
  scenarios.forEach((scenario, scenarioIndex) => {
    if (!FAIL_SCENARIO.test(scenario.name) || scenario.verdict === "skipped") return;
    for (const step of failureSteps(scenario)) {
      const kind = failureKind(scenario, step);
      if (!kind) {
        unnamed.push({ scenario, step });
        continue;
      }
      obs.push({
        scenario,
        scenarioIndex,
        step,
        kind,
        defaultAllow: scenario.profile.defaultAllow,
        admitted: step.response?.allowed,
        code: step.response?.code,
        calls: step.journal.length,
        durationMs: step.durationMs,
      });
    }
  });
  const rank = new Map<string, number>();
  for (const o of obs) rank.set(o.kind.label, Math.min(rank.get(o.kind.label) ?? Infinity, o.kind.rank));
  const kinds = [...rank.keys()].sort((a, b) => rank.get(a)! - rank.get(b)! || a.localeCompare(b));
  const cells = new Map<string, MatrixObservation[]>();
  for (const o of obs) {
    const key = cellKey(o.kind.label, o.defaultAllow);
    cells.set(key, [...(cells.get(key) ?? []), o]);
  }
  return { kinds, cells, unnamed };
}

/** `refused 403`, `admitted (status not observed)`, `no answer`. */
export function outcomeText(o: MatrixObservation): string {
  if (o.admitted === undefined) return "no answer";
  const word = o.admitted ? "admitted" : "refused";
  return o.code === undefined ? `${word} (status ${NOT_OBSERVED})` : `${word} ${o.code}`;
}

const SOURCE_TEXT: Record<KindSource, string> = {
  journal: "failure kind from the backend journal",
  message: "failure kind from the apiserver's message",
  name: "failure kind from the scenario name (no review reached the backend)",
};

function obsTitle(o: MatrixObservation): string {
  return `${o.scenario.name}, step ${o.step.index + 1}: ${outcomeText(o)}, ${o.calls} ${o.calls === 1 ? "call" : "calls"}, ${fmtDuration(o.durationMs)} (${SOURCE_TEXT[o.kind.source]}${o.kind.fault ? `: ${o.kind.fault}` : ""})`;
}

const W = 900;
const LABEL_W = 290;
const COL_W = (W - LABEL_W - 10) / 2;
const HEAD_H = 46;
const ROW_H = 50;

export function renderFailureMatrix(m: FailureMatrix, href: (scenarioIndex: number) => string): string {
  const cols = [false, true];
  const parts: string[] = [];
  cols.forEach((da, c) => {
    const cx = LABEL_W + c * (COL_W + 5) + COL_W / 2;
    parts.push(
      `<g class="col-head">${tag("text", { x: cx, y: 18, "text-anchor": "middle" }, `defaultAllow: ${da}`)}` +
        `${tag("text", { class: "sub", x: cx, y: 35, "text-anchor": "middle" }, da ? "fail open" : "fail closed")}</g>`,
    );
  });
  parts.push(tag("text", { class: "sub", x: 6, y: 35 }, "failure kind"));
  m.kinds.forEach((kind, r) => {
    const top = HEAD_H + r * ROW_H;
    const all = cols.flatMap((da) => m.cells.get(cellKey(kind, da)) ?? []);
    const fault = all.find((o) => o.kind.fault)?.kind.fault;
    parts.push(tag("line", { class: "sep", x1: 0, x2: W, y1: top, y2: top }));
    parts.push(tag("text", { class: "kind", x: 6, y: top + 22 }, esc(kind)));
    parts.push(tag("text", { class: "sub", x: 6, y: top + 39 }, esc(clip(fault ? `stub fault ${fault}` : "no review reached the backend", 44))));
    cols.forEach((da, c) => {
      const x = LABEL_W + c * (COL_W + 5);
      const list = m.cells.get(cellKey(kind, da)) ?? [];
      const box = { x, y: top + 4, width: COL_W, height: ROW_H - 8, rx: 5 };
      if (list.length === 0) {
        parts.push(`<g class="cell empty"${attrs({ "data-kind": kind, "data-default-allow": String(da) })}>${tag("rect", box)}${tag("text", { x: x + COL_W / 2, y: top + 30, "text-anchor": "middle" }, "not in this run")}</g>`);
        return;
      }
      const o = list[0]!;
      const cls = o.admitted === undefined ? "noanswer" : o.admitted ? "admitted" : "refused";
      const more = list.length > 1 ? ` (+${list.length - 1} more)` : "";
      const facts = `${o.calls} ${o.calls === 1 ? "call" : "calls"} · ${fmtDuration(o.durationMs)}${more}`;
      parts.push(
        `<a${attrs({ href: href(o.scenarioIndex) })}><g class="cell ${cls}"${attrs({
          "data-kind": kind,
          "data-default-allow": String(da),
          "data-admitted": o.admitted === undefined ? "no answer" : String(o.admitted),
          "data-code": o.code === undefined ? NOT_OBSERVED : o.code,
          "data-calls": o.calls,
          "data-ms": o.durationMs,
          "data-scenario": o.scenario.name,
        })}>${title(list.map(obsTitle).join("\n"))}` +
          tag("rect", box) +
          tag("text", { class: "outcome", x: x + 12, y: top + 22 }, esc(outcomeText(o))) +
          tag("text", { class: "facts", x: x + 12, y: top + 38 }, esc(facts)) +
          tag("text", { class: "scn", x: x + COL_W - 10, y: top + 22, "text-anchor": "end" }, esc(clip(o.scenario.name, 30))) +
          `</g></a>`,
      );
    });
  });
  const height = HEAD_H + m.kinds.length * ROW_H + 6;
  const label = `Failure kind × defaultAllow: ${m.kinds.length} failure kinds, ${[...m.cells.values()].reduce((n, l) => n + l.length, 0)} observations`;
  return svgDoc("failure-matrix", W, height, label, parts.join(""), { "data-kinds": m.kinds.length, "data-cells": m.cells.size });
}

/** The matrix as an SVG string, or "" when the run has no fail-open/-closed scenario with a named failure. */
export function failureMatrixSvg(scenarios: ScenarioResult[], href: (scenarioIndex: number) => string): string {
  const m = failureMatrixModel(scenarios);
  return m.kinds.length ? renderFailureMatrix(m, href) : "";
}
