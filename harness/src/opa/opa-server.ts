// How the lab runs an OPA server (the opa mechanism's backend), wherever a provider runs it: the
// `opa run` command line, the system.authz policy that leaves decisions open to the apiserver and
// keeps everything else (data, policies, health) behind a bearer token, and a client for the data API.
// docs/opa.md "In the lab" describes the same for people; mechanisms.md §A3 has the flags.
import { createHash, randomBytes } from "node:crypto";
import { httpsRequest } from "../util/https-get.ts";
import { LabError } from "../util/errors.ts";

/**
 * The URL path prefixes anyone may POST to (OPA's /v0 webhook API: evaluation only, nothing is
 * written): the two decisions of the shipped policy, and anything under them, so that a path the
 * policy leaves undefined answers 404 rather than 401 (the opa mechanism's `status:404` fault).
 */
export const OPA_OPEN_DECISION_PREFIXES = [
  ["v0", "data", "lab", "admission"],
  ["v0", "data", "lab", "imagereview"],
  // The wrapper around a user's own policy (byo-policy.ts).
  ["v0", "data", "lab", "byo"],
] as const;

/** The token's SHA-256 in hex: what the authz policy compares, so the policy file holds no secret. */
export function opaTokenDigest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A new random bearer token for the data and policy APIs. */
export function newOpaToken(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The `system.authz` policy OPA consults for every request under `--authorization=basic`. The
 * apiserver presents no token (a webhook's clientConfig has none), so decisions are open; with
 * `--authentication=token` the Authorization header's bearer token is `input.identity`.
 */
export function opaAuthzPolicy(tokenDigest: string): string {
  if (!/^[0-9a-f]{64}$/.test(tokenDigest)) throw new LabError(`expected a SHA-256 hex digest, got ${JSON.stringify(tokenDigest)}`);
  const prefixes = OPA_OPEN_DECISION_PREFIXES.map((p) => `[${p.map((s) => JSON.stringify(s)).join(", ")}]`).join(", ");
  return `# Written by imagepolicy-lab (harness/src/opa/opa-server.ts) for opa run --authorization=basic.
package system.authz

# v1 syntax also when OPA runs with --v0-compatible (a user's v0 policy).
import rego.v1

default allow := false

# Decisions, for anyone (the apiserver sends no token): POST to OPA's webhook API under these paths.
allow if {
	input.method == "POST"
	some prefix in [${prefixes}]
	array.slice(input.path, 0, count(prefix)) == prefix
}

# Everything else (PUT data, policies, GET, health) needs the lab's token (sha256 compared).
allow if crypto.sha256(input.identity) == ${JSON.stringify(tokenDigest)}
`;
}

export interface OpaServerArgsOptions {
  /** host:port to listen on; served over HTTPS with the certificate. */
  addr: string;
  certFile: string;
  keyFile: string;
  /** Rego modules to load: the policy, then the authz policy. */
  modules: string[];
  /** OPA's log level (default "error": one line per request at "info" would dwarf the log). */
  logLevel?: "debug" | "info" | "error";
  /** Parse modules as Rego v0 (a user's v0 policy); modules with `import rego.v1` stay v1. */
  v0Compatible?: boolean;
}

/**
 * `opa run` arguments for the lab's server (mechanisms.md §A3): HTTPS on one address, token
 * authentication with the generated authz policy, and no version check (it would call GitHub at
 * every start; `--disable-telemetry` is its deprecated spelling in 1.22).
 */
export function opaServerArgs(o: OpaServerArgsOptions): string[] {
  return [
    "run",
    "--server",
    "--addr",
    o.addr,
    "--tls-cert-file",
    o.certFile,
    "--tls-private-key-file",
    o.keyFile,
    "--authentication=token",
    "--authorization=basic",
    "--skip-version-check",
    "--log-level",
    o.logLevel ?? "error",
    ...(o.v0Compatible ? ["--v0-compatible"] : []),
    ...o.modules,
  ];
}

/** OPA's data API as the lab uses it: with the token, over TLS with the lab's CA. */
export class OpaDataClient {
  constructor(private readonly o: { url: string; token: string; caPem: string }) {}

  /** Replaces the document at `path` (e.g. "lab/trust"); OPA answers 204. */
  async put(path: string, value: unknown): Promise<void> {
    const r = await this.request("PUT", path, value);
    if (r.status !== 204) throw new LabError(`OPA refused PUT /v1/data/${path}: HTTP ${r.status} ${r.body.trim()}`);
  }

  /** The document at `path`, or undefined when OPA has none there. */
  async get(path: string): Promise<unknown> {
    const r = await this.request("GET", path);
    if (r.status !== 200) throw new LabError(`OPA refused GET /v1/data/${path}: HTTP ${r.status} ${r.body.trim()}`);
    return (JSON.parse(r.body) as { result?: unknown }).result;
  }

  /** OPA's /health status code (200 once its policies are loaded); throws when nothing answers. */
  async health(): Promise<number> {
    return (await httpsRequest(`${this.o.url}/health`, { caPem: this.o.caPem }, { headers: this.auth() })).status;
  }

  private request(method: string, path: string, json?: unknown) {
    return httpsRequest(`${this.o.url}/v1/data/${path}`, { caPem: this.o.caPem }, { method, json, headers: this.auth(), timeoutMs: 10_000 });
  }

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}` };
  }
}
