// `--backend-url` / `--backend-ca` (and, for `run`, `--trust`): the user's own backend, checked
// before anything starts, with errors that name the flag.
import { readFile } from "node:fs/promises";
import type { MechanismName } from "../mechanism/names.ts";
import { checkDeclaredTrust } from "../scenario/external-backend.ts";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";

const CLI = "command line";

/** The apiserver calls the backend over HTTPS at this URL; anything else would fail only once the cluster runs. */
export function checkBackendUrl(value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || !url.hostname) {
    throw new ConfigError([{ file: CLI, path: "--backend-url", message: `expected an https:// URL such as https://10.0.0.5:8443/review, got "${value}"` }], "invalid --backend-url");
  }
}

/** The --backend-ca file, read before anything starts; a problem names the flag and the file. */
export async function readBackendCa(file: string): Promise<string> {
  const pem = await readFile(file, "utf8").catch((err: Error) => {
    throw new ConfigError([{ file, path: "--backend-ca", message: `cannot read the backend CA: ${err.message}` }], "invalid --backend-ca");
  });
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError([{ file, path: "--backend-ca", message: "expected a PEM certificate (-----BEGIN CERTIFICATE-----)" }], "invalid --backend-ca");
  }
  return pem;
}

export interface RunBackendFlags {
  mechanism?: MechanismName | "all";
  backendUrl?: string;
  backendCa?: string;
  trust?: string[];
}

/**
 * `run`'s backend flags that go together, every problem at once (the CA file is read later, by
 * readBackendCa). With --backend-url the expectation is the trust list the user declares, so
 * --trust is required; without it the scenarios set the stub's trust lists themselves.
 */
export function runBackendFlagIssues(f: RunBackendFlags): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ file: CLI, path, message });
  const trust = f.trust ?? [];
  if (!f.backendUrl) {
    if (f.backendCa !== undefined) add("--backend-ca", "only meaningful with --backend-url");
    if (trust.length) add("--trust", "only meaningful with --backend-url (the catalog's scenarios set the stub's trust list themselves)");
    return issues;
  }
  try {
    checkBackendUrl(f.backendUrl);
  } catch (err) {
    issues.push(...(err as ConfigError).issues);
  }
  if (f.backendCa === undefined) add("--backend-ca", "--backend-url needs --backend-ca (the CA that signed the backend's certificate)");
  if (!trust.length) add("--trust", "--backend-url needs --trust REGISTRY (repeatable): the registries or repositories your backend trusts, which the scenarios expect");
  else {
    try {
      checkDeclaredTrust(trust);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
    }
  }
  const mechanism = f.mechanism ?? "imagepolicywebhook";
  if (mechanism === "vap") add("--backend-url", "the vap mechanism has no backend (the apiserver decides alone); use --mechanism imagepolicywebhook or webhook");
  if (mechanism === "opa") add("--backend-url", "the opa mechanism's backend is the lab's own OPA server; use --mechanism imagepolicywebhook or webhook");
  if (mechanism === "all") add("--backend-url", "--mechanism all includes vap, which has no backend, and opa, whose backend is the lab's OPA; run imagepolicywebhook and webhook one at a time");
  return issues;
}

/** Who answers ImagePolicyWebhook's reviews: the stub (default) or the lab's OPA. */
export type BackendName = "stub" | "opa";

export interface BackendChoiceFlags {
  backend?: BackendName;
  mechanism?: MechanismName | "all";
  backendUrl?: string;
  backendCa?: string;
  policy?: string;
  mtls?: boolean;
}

/**
 * `--backend` with the flags it cannot go with, every problem at once and before anything starts.
 * OPA as a backend is ImagePolicyWebhook's (the opa mechanism runs OPA as a validating webhook),
 * runs the shipped Rego (a user's own plays under --mechanism opa), is the lab's (not --backend-url)
 * and is reached over TLS without a client certificate (--mtls is the stub's check).
 */
export function backendChoiceIssues(f: BackendChoiceFlags): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ file: CLI, path, message });
  const mechanism = f.mechanism ?? "imagepolicywebhook";
  if (f.backend === "stub" && (mechanism === "vap" || mechanism === "opa" || mechanism === "all")) {
    add("--backend", `stub: the ${mechanism === "all" ? "vap and opa mechanisms have" : `${mechanism} mechanism has`} no stub backend (${mechanism === "opa" ? "OPA answers" : "the apiserver decides alone"}); leave --backend out`);
  }
  if (f.backend !== "opa") return issues;
  if (mechanism !== "imagepolicywebhook") {
    const why =
      mechanism === "opa"
        ? "--mechanism opa already runs OPA, as a validating webhook; --backend opa makes OPA ImagePolicyWebhook's backend (leave out --mechanism or give imagepolicywebhook)"
        : `OPA as a backend answers ImagePolicyWebhook's ImageReviews; --mechanism ${mechanism} ${mechanism === "webhook" ? "sends AdmissionReviews (for OPA behind a validating webhook use --mechanism opa)" : mechanism === "vap" ? "has no backend" : "plays other mechanisms too"}`;
    add("--backend", `opa with --mechanism ${mechanism}: ${why}`);
  }
  if (f.backendUrl !== undefined) add("--backend-url", "--backend opa runs the lab's OPA as the backend, --backend-url names your own: give one");
  if (f.backendCa !== undefined && f.backendUrl === undefined) add("--backend-ca", "only meaningful with --backend-url");
  if (f.mtls) add("--mtls", "--backend opa: the lab's OPA is reached over TLS without a client certificate (--mtls is the stub's check); leave one out");
  if (f.policy !== undefined) {
    add(
      "--policy",
      f.policy.endsWith(".rego")
        ? "--backend opa runs the shipped Rego (policies/opa); your own Rego plays under --mechanism opa (its wrapper answers AdmissionReviews only)"
        : "--backend opa: a stub policy configures the stub, which does not answer; the OPA backend takes trust lists (--trust)",
    );
  }
  return issues;
}
