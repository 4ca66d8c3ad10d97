// The admission mechanism: how a lab restricts images. A dimension of its own, orthogonal to the
// provider (local processes or kind): every provider runs every mechanism, except that OPA runs on the
// local provider only so far (the kind provider refuses it before anything starts). Exactly one is active in a
// lab, because validating admission stops at the first denial (ImagePolicyWebhook runs before
// ValidatingAdmissionPolicy, which runs before ValidatingAdmissionWebhook; mechanisms.md §0 item 10),
// so a second one would only ever see what the first admitted. OPA is a validating webhook whose
// backend is a real OPA server running the shipped Rego (policies/opa/), not the stub.
import { ConfigError } from "../util/errors.ts";

export const MECHANISM_NAMES = ["imagepolicywebhook", "webhook", "vap", "opa"] as const;
export type MechanismName = (typeof MECHANISM_NAMES)[number];

/** What `up`/`run` use when no --mechanism is given: the plugin the lab was built for. */
export const DEFAULT_MECHANISM: MechanismName = "imagepolicywebhook";

/** How each mechanism is named in tables and messages. */
export const MECHANISM_TITLES: Record<MechanismName, string> = {
  imagepolicywebhook: "ImagePolicyWebhook",
  webhook: "validating webhook",
  vap: "ValidatingAdmissionPolicy",
  opa: "OPA",
};

/**
 * Whether the lab's stub answers the mechanism's admission calls, so that its journal shows them
 * and counts backend calls. Not for VAP (the apiserver decides alone) nor OPA (OPA answers,
 * and the lab does not journal its calls).
 */
export function mechanismUsesStub(m: MechanismName): boolean {
  return m === "imagepolicywebhook" || m === "webhook";
}

export function isMechanismName(s: string): s is MechanismName {
  return (MECHANISM_NAMES as readonly string[]).includes(s);
}

/** Checks a mechanism name from a flag or a file; the error names where it came from and what is valid. */
export function parseMechanism(s: string, where: { file: string; path: string }): MechanismName {
  if (isMechanismName(s)) return s;
  throw new ConfigError([{ file: where.file, path: where.path, message: `unknown mechanism "${s}"; expected one of ${MECHANISM_NAMES.join(", ")}` }], "invalid mechanism");
}
