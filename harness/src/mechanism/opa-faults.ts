// The faults the opa mechanism plays, in the stub's fault grammar so scenarios say them the same
// way: `refuse` stops the OPA process (connections are refused, as when OPA is down), `status:404`
// points the webhook at a decision the policy leaves undefined (OPA's answer is then a 404), and
// `healthy` undoes either. The stub's other faults have no OPA counterpart.
import { parseFault } from "../../../webhook-stub/src/faults.ts";

export const OPA_FAULTS = ["healthy", "refuse", "status:404"] as const;
export type OpaFault = (typeof OPA_FAULTS)[number];

/** What each fault does to OPA, for messages and docs. */
export const OPA_FAULT_MEANINGS: Record<OpaFault, string> = {
  healthy: "OPA runs and answers by the policy",
  refuse: "OPA stopped, connections refused",
  "status:404": "an undefined decision, OPA answers 404",
};

/** The OPA fault a spec names (whitespace and `status:404` spelled as the stub parses it), or undefined for one OPA cannot play. Throws the stub's ConfigError for a spec that is no fault at all. */
export function opaFault(spec: string): OpaFault | undefined {
  const f = parseFault(spec.trim());
  if (f.kind === "healthy" || f.kind === "refuse") return f.kind;
  if (f.kind === "status" && f.code === 404 && f.retryAfterSeconds === undefined) return "status:404";
  return undefined;
}

/** Why `spec` cannot be played under opa (for file:line errors), or undefined when it can. */
export function opaFaultIssue(spec: string): string | undefined {
  let fault: OpaFault | undefined;
  try {
    fault = opaFault(spec);
  } catch {
    return undefined; // not a fault at all: the schema reports it
  }
  if (fault) return undefined;
  return `opa plays only the faults ${OPA_FAULTS.filter((f) => f !== "healthy").map((f) => `${f} (${OPA_FAULT_MEANINGS[f]})`).join(" and ")}; "${spec}" needs the stub`;
}
