// A scenario (already in its ImagePolicyWebhook view) as played with OPA as the plugin's backend
// (`run --backend opa`). The lab sets OPA's trust lists per namespace and can stop OPA, so what a
// scenario says with a trust list and the fault `refuse` keeps its meaning; the rest needs the stub:
//
// - faults other than `refuse` (HTTP errors, hangs, bad certificates, malformed bodies: OPA answers
//   200 with a valid review or not at all), and stub policies (deny patterns, audit annotations,
//   break-glass), which the shipped Rego does not have;
// - a subject that is the plugin's exchange with the backend (caching, retries, request format),
//   seen only in the stub's journal: OPA keeps none the lab reads.
//
// In a played scenario, journal checks that are not its subject (one call, or none) are dropped and
// listed in the step's notes. Message checks stay: they quote the apiserver's words and the images,
// which OPA's reasons name too (OPA's wording differs from the stub's, and a check that fails on it
// is a finding, not noise).
import type { MechanismName } from "../mechanism/names.ts";
import { opaFault } from "../mechanism/opa-faults.ts";
import { journalSubject, JOURNAL_SUBJECT_TAGS, withoutJournalChecks } from "./external-backend.ts";
import type { Expectation, ScenarioDoc, StepDoc } from "./schema.ts";

/** How a skipped scenario's reason starts when only the OPA backend makes it unplayable. */
export const NOT_APPLICABLE_WITH_OPA = "not applicable with the OPA backend";

export type OpaBackendView = { doc: ScenarioDoc; notes: string[][] } | { notApplicable: string };

/** The scenario as OPA-as-backend plays it (journal checks dropped, with notes), or why it cannot be. */
export function forOpaBackend(doc: ScenarioDoc, mechanism: MechanismName): OpaBackendView {
  const na = (notApplicable: string) => ({ notApplicable });
  if (mechanism !== "imagepolicywebhook") return na(`OPA as a backend is ImagePolicyWebhook's, not the ${mechanism} mechanism's`);
  const b = doc.backend;
  const faults = [{ where: "backend.fault", fault: b?.fault }, ...doc.steps.map((st, i) => ({ where: `step ${i + 1} (setBackend)`, fault: "setBackend" in st ? st.setBackend.fault : undefined }))];
  for (const { where, fault } of faults) {
    if (fault === undefined) continue;
    const f = opaFault(fault);
    if (f !== "healthy" && f !== "refuse") return na(`${where} needs the stub's fault "${fault.trim()}"; OPA can only be stopped (refuse)`);
  }
  const policies = [b, ...doc.steps.map((st) => ("setBackend" in st ? st.setBackend : undefined))];
  for (const p of policies) {
    if (p?.policy || p?.policyFile) return na(`needs a stub policy (${p.policy ? "policy" : `policyFile ${p.policyFile}`}); the shipped Rego takes trust lists only`);
  }
  const tag = doc.tags?.find((t) => (JOURNAL_SUBJECT_TAGS as readonly string[]).includes(t));
  if (tag) return na(`its subject (tag ${tag}) is the plugin's calls to the backend, seen only in the stub's journal`);
  const counted = journalSubject(doc);
  if (counted) return na(counted);
  const notes: string[][] = [];
  const steps = doc.steps.map((st) => {
    const { step, dropped } = withoutJournal(st);
    notes.push(dropped);
    return step;
  });
  return { doc: { ...doc, steps }, notes };
}

function withoutJournal(st: StepDoc): { step: StepDoc; dropped: string[] } {
  if (!st.expect) return { step: st, dropped: [] };
  const { kept, dropped } = withoutJournalChecks(st.expect, "OPA");
  // OPA stopping closes the connection the apiserver keeps alive to it; a review sent on it at that
  // moment ends in EOF instead of a refused dial (measured once on kind, in fail-closed-connection-refused).
  if (kept.message === "connection refused") {
    kept.message = "/connection refused|: EOF$/";
    dropped.push('message "connection refused" widened to "connection refused" or ": EOF": OPA closing the apiserver\'s kept-alive connection as it stops ends a review in EOF');
  }
  return { step: { ...st, expect: kept as Expectation } as StepDoc, dropped };
}
