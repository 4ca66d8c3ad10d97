// One scenario as a given mechanism plays it: the steps that apply, each with its shared
// expectations and the mechanism's own (`byMechanism`) merged over them. The runner only ever sees
// this view, so the rest of it knows nothing about mechanisms.
import { DEFAULT_MECHANISM, mechanismUsesStub, type MechanismName } from "../mechanism/names.ts";
import type { Expectation, ScenarioDoc, StepDoc } from "./schema.ts";

/** The mechanisms a scenario applies to (default: ImagePolicyWebhook, the catalog's first subject). */
export function scenarioMechanisms(doc: ScenarioDoc): MechanismName[] {
  return doc.mechanisms ?? [DEFAULT_MECHANISM];
}

/** Expectations read from the stub's journal; under VAP and OPA nothing calls the stub, so they do not apply. */
export const BACKEND_EXPECTATIONS = ["backendCalls", "backendCallsSince", "received", "callGapsMs", "callGapsGrow"] as const;

/** The scenario as `mechanism` plays it, or undefined when it does not apply to that mechanism. */
export function forMechanism(doc: ScenarioDoc, mechanism: MechanismName): ScenarioDoc | undefined {
  if (!scenarioMechanisms(doc).includes(mechanism)) return undefined;
  const steps = doc.steps.filter((s) => !s.mechanisms || s.mechanisms.includes(mechanism)).map((s) => stepFor(s, mechanism));
  return { ...doc, steps };
}

function stepFor(step: StepDoc, mechanism: MechanismName): StepDoc {
  if (!step.expect) return step;
  const { byMechanism, ...shared } = step.expect;
  const merged: Record<string, unknown> = { ...shared };
  for (const [k, v] of Object.entries(byMechanism?.[mechanism] ?? {})) {
    if (v === null) delete merged[k];
    else if (v !== undefined) merged[k] = v;
  }
  if (!mechanismUsesStub(mechanism)) for (const k of BACKEND_EXPECTATIONS) delete merged[k];
  return { ...step, expect: merged as Expectation } as StepDoc;
}
