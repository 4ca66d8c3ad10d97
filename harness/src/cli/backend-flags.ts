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
