// The evidence of one case as labelled facts, so the JUnit body and the HTML details say the same
// thing: what was sent, what the trust list expects and why, what came back (verbatim), and how the
// probe read it.
import { formatMs } from "../report/format.ts";
import { NOT_OBSERVED } from "../scenario/result.ts";
import type { CaseResult } from "./model.ts";
import { EXPECT_TEXT } from "./terminal.ts";

export function caseEvidence(r: CaseResult): [label: string, value: string | undefined][] {
  const q = r.request;
  const sent = r.kind === "EphemeralContainer" ? `PUT pods/${q.pod}/ephemeralcontainers in namespace ${q.namespace} (dryRun=All)` : `create ${r.kind} ${q.name} in namespace ${q.namespace} (dryRun=All)`;
  const res = r.response;
  return [
    ["sent", sent],
    ["images", r.images.join(", ")],
    ["init images", r.initImages?.join(", ")],
    ["expected", `${EXPECT_TEXT[r.expect]}: ${r.why}`],
    ["status", res ? `${res.code ?? NOT_OBSERVED} in ${formatMs(res.durationMs)}` : "no answer"],
    ["message", res?.message],
    ["warnings", res?.warnings?.join("\n")],
    ["observed", r.observed],
    ["verdict", r.verdict],
  ];
}

/** The facts as `label: value` lines (JUnit bodies, logs). */
export function caseEvidenceText(r: CaseResult): string {
  return caseEvidence(r)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== "")
    .map(([k, v]) => `${k}: ${v}`)
    .join("\n");
}
