// The lab's shipped Rego (policies/opa/) as the rest of the lab sees it: which files to load into
// `opa run`, the paths its two decisions are served at, and the trust document that configures it.
// docs/opa.md describes the same contract for people.
import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { trustPolicy } from "../../../webhook-stub/src/policy.ts";

/** Directory of the shipped policies (absolute), tests (`*_test.rego`) included. */
export const OPA_POLICY_DIR = fileURLToPath(new URL("../../../policies/opa/", import.meta.url));

/**
 * Where OPA serves the AdmissionReview decision (a ValidatingWebhookConfiguration's
 * `clientConfig.url` path). The /v0 API is OPA's webhook API: the body is `input`, the reply is the
 * document itself; /v1/data would wrap both and is wrong for webhooks (mechanisms.md §A1).
 */
export const OPA_ADMISSION_PATH = "/v0/data/lab/admission/review";

/** Where OPA serves the ImageReview decision (the ImagePolicyWebhook kubeconfig's `server` path). */
export const OPA_IMAGEREVIEW_PATH = "/v0/data/lab/imagereview/review";

/** Where the lab PUTs the trust document (OPA's data API; 204 on success). */
export const OPA_TRUST_DATA_PATH = "/v1/data/lab/trust";

/**
 * The document at `data.lab.trust`: registries are `host[:port]` (or "*" for any), repositories
 * `registry/path` prefixes matched on "/" boundaries. Without it OPA denies every review, saying why.
 */
export interface OpaTrustDocument {
  registries: string[];
  repositories: string[];
}

/**
 * The trust document for a `--trust` list (or a scenario's `backend.trust`): entries with a "/" are
 * repository prefixes, the rest registries, normalized as the stub normalizes them (through
 * trustPolicy()), so OPA and the stub decide alike. Throws the stub's ConfigError (label `--trust`)
 * for an entry that is neither.
 */
export function opaTrustDocument(entries: string[]): OpaTrustDocument {
  const p = trustPolicy(entries);
  return { registries: [...p.allowRegistries], repositories: [...p.allowRepositories] };
}

/** The shipped policy modules to load into `opa run` / `opa eval` (absolute paths, tests left out). */
export async function opaPolicyFiles(): Promise<string[]> {
  const names = await readdir(OPA_POLICY_DIR);
  return names
    .filter((n) => n.endsWith(".rego") && !n.endsWith("_test.rego"))
    .sort()
    .map((n) => `${OPA_POLICY_DIR}${n}`);
}
