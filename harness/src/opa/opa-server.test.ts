// The lab's OPA server settings without a server: the `opa run` command line, and the generated
// system.authz policy checked by a real opa (`opa check --strict`, then `opa eval` on the inputs OPA's
// authorizer builds: method, path segments, and the bearer token as identity).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tryRun } from "../providers/kind/tools.ts";
import { newOpaToken, opaAuthzPolicy, opaServerArgs, opaTokenDigest } from "./opa-server.ts";
import { OPA_ADMISSION_PATH, OPA_IMAGEREVIEW_PATH, OPA_TRUST_DATA_PATH } from "./opa-policy.ts";
import { OPA_BUILD_BUDGET_MS, opaForTests, requireOpa, type OpaForTests } from "./test-support.ts";

describe("opaServerArgs", () => {
  it("serves HTTPS on one address with token authentication, the authz policy last, and no version check", () => {
    expect(opaServerArgs({ addr: "127.0.0.1:8443", certFile: "/s/backend/tls.crt", keyFile: "/s/backend/tls.key", modules: ["/p/admission.rego", "/s/opa/authz.rego"] })).toEqual([
      "run",
      "--server",
      "--addr",
      "127.0.0.1:8443",
      "--tls-cert-file",
      "/s/backend/tls.crt",
      "--tls-private-key-file",
      "/s/backend/tls.key",
      "--authentication=token",
      "--authorization=basic",
      "--skip-version-check",
      "--log-level",
      "error",
      "/p/admission.rego",
      "/s/opa/authz.rego",
    ]);
  });
});

describe("opaAuthzPolicy", () => {
  it("holds the token's digest, never the token", () => {
    const token = newOpaToken();
    const text = opaAuthzPolicy(opaTokenDigest(token));
    expect(text).not.toContain(token);
    expect(text).toContain(opaTokenDigest(token));
    expect(() => opaAuthzPolicy(token)).toThrow(/SHA-256/);
  });

  let found: OpaForTests | undefined;
  let dir: string;
  const token = "lab-token-for-tests";
  beforeAll(async () => {
    found = await opaForTests();
    dir = await mkdtemp(join(tmpdir(), "iplab-opa-authz-"));
    await writeFile(join(dir, "authz.rego"), opaAuthzPolicy(opaTokenDigest(token)));
  }, OPA_BUILD_BUDGET_MS);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("passes opa check --strict", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const r = await tryRun(opa, ["check", "--strict", join(dir, "authz.rego")], { timeoutMs: 60_000 });
    expect(r.stderr || r.stdout).toBe("");
  });

  const segments = (path: string) => path.split("/").filter(Boolean);
  const cases: [string, { method: string; path: string; identity?: string }, boolean][] = [
    ["the AdmissionReview decision, without a token", { method: "POST", path: OPA_ADMISSION_PATH }, true],
    ["the ImageReview decision, without a token", { method: "POST", path: OPA_IMAGEREVIEW_PATH }, true],
    ["an undefined decision under the admission package (the 404 fault)", { method: "POST", path: "/v0/data/lab/admission/undefined_decision" }, true],
    ["the wrapper around a user's own policy", { method: "POST", path: "/v0/data/lab/byo/review" }, true],
    ["the trust list through the webhook API", { method: "POST", path: "/v0/data/lab/trust" }, false],
    ["GET of a decision path", { method: "GET", path: OPA_ADMISSION_PATH }, false],
    ["PUT of the trust list without a token", { method: "PUT", path: OPA_TRUST_DATA_PATH }, false],
    ["PUT of the trust list with a wrong token", { method: "PUT", path: OPA_TRUST_DATA_PATH, identity: "guess" }, false],
    ["PUT of the trust list with the token", { method: "PUT", path: OPA_TRUST_DATA_PATH, identity: token }, true],
    ["a policy upload without a token", { method: "PUT", path: "/v1/policies/evil" }, false],
    ["/health with the token", { method: "GET", path: "/health", identity: token }, true],
    ["the root path without a token", { method: "POST", path: "/" }, false],
  ];
  it.for(cases)("%s", async ([, req, allowed], ctx) => {
    const opa = requireOpa(found, ctx);
    const input = { method: req.method, path: segments(req.path), ...(req.identity === undefined ? {} : { identity: req.identity }) };
    await writeFile(join(dir, "input.json"), JSON.stringify(input));
    const r = await tryRun(opa, ["eval", "--format", "raw", "-d", join(dir, "authz.rego"), "-i", join(dir, "input.json"), "data.system.authz.allow"], { timeoutMs: 60_000 });
    expect(r.stdout.trim(), r.stderr).toBe(String(allowed));
  });
});
