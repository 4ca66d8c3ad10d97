// A user's own Rego as the lab plays it (`--mechanism opa --policy my.rego`), with a real opa: which
// parser loads it, which rule decides, and what the wrapper answers for it (`opa eval` with
// --v0-compatible where the lab would use it). Skips without opa like the other OPA tests.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tryRun } from "../providers/kind/tools.ts";
import { ConfigError } from "../util/errors.ts";
import { OPA_BYO_PROBE_ANNOTATION, OPA_BYO_PROBE_MESSAGE, prepareUserPolicy, type UserRegoPolicy } from "./byo-policy.ts";
import { OPA_BUILD_BUDGET_MS, opaForTests, requireOpa, type OpaForTests } from "./test-support.ts";

const MISTAKEN = fileURLToPath(new URL("./testdata/mistaken.rego", import.meta.url));

let found: OpaForTests | undefined;
let dir: string;
beforeAll(async () => {
  found = await opaForTests();
  dir = await mkdtemp(join(tmpdir(), "iplab-byo-test-"));
}, OPA_BUILD_BUDGET_MS);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The wrapper's AdmissionReview response for `input`, evaluated as `opa run` would load the policy. */
async function respond(opa: string, p: UserRegoPolicy, input: unknown): Promise<{ allowed: boolean; status?: { code: number; message: string } }> {
  await writeFile(join(dir, "wrapper.rego"), p.wrapper);
  await writeFile(join(dir, "input.json"), JSON.stringify(input));
  const r = await tryRun(opa, ["eval", "--format", "raw", ...(p.v0Compatible ? ["--v0-compatible"] : []), "-d", p.file, "-d", join(dir, "wrapper.rego"), "-i", join(dir, "input.json"), "data.lab.byo.review.response"], { timeoutMs: 60_000 });
  expect(r.ok, r.stderr).toBe(true);
  return JSON.parse(r.stdout) as { allowed: boolean; status?: { code: number; message: string } };
}

const admissionReview = (images: string[], annotations?: Record<string, string>) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: { uid: "u1", kind: { group: "", kind: "Pod" }, namespace: "default", object: { metadata: { name: "p", annotations }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } } },
});

describe("prepareUserPolicy", () => {
  it("the mistaken fixture: v0 Rego, loaded with --v0-compatible, its `permitted` rule decides", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const p = await prepareUserPolicy({ opa, file: MISTAKEN });
    expect(p).toMatchObject({ v0Compatible: true, packagePath: ["cluster", "images"], rule: "permitted" });
    expect(p.summary).toContain("loaded with --v0-compatible");
    // An AdmissionReview puts the pod at request.object; the rule reads Gatekeeper's input.review, so
    // it is never true: trusted, untrusted and mixed pods are all denied.
    for (const images of [["registry.corp.example/app:1"], ["evil.example/app:1"], ["registry.corp.example/app:1", "evil.example/app:1"]]) {
      expect(await respond(opa, p, admissionReview(images))).toEqual({
        uid: "u1",
        allowed: false,
        status: { code: 403, reason: "Forbidden", message: `data.cluster.images.permitted is not true (your policy ${MISTAKEN})` },
      });
    }
    // Fed Gatekeeper's shape, the prefix rule admits the attacker's registry and one trusted container admits the pod.
    const gatekeeper = (images: string[]) => ({ review: { object: { spec: { containers: images.map((image) => ({ image })) } } } });
    expect((await respond(opa, p, gatekeeper(["registry.corp.example.attacker.net/x"]))).allowed).toBe(true);
    expect((await respond(opa, p, gatekeeper(["registry.corp.example/app", "evil.example/x"]))).allowed).toBe(true);
    // The lab's probe is refused whatever the policy says.
    expect((await respond(opa, p, admissionReview(["x"], { [OPA_BYO_PROBE_ANNOTATION]: "1" }))).status?.message).toBe(OPA_BYO_PROBE_MESSAGE);
  });

  it("a v1 policy loads as it is", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const file = join(dir, "v1.rego");
    await writeFile(file, 'package my.images\n\ndefault allow := false\n\nallow if every c in input.request.object.spec.containers { startswith(c.image, "trusted.example/") }\n');
    const p = await prepareUserPolicy({ opa, file });
    expect(p).toMatchObject({ v0Compatible: false, packagePath: ["my", "images"], rule: "allow" });
    expect((await respond(opa, p, admissionReview(["trusted.example/a"]))).allowed).toBe(true);
    expect((await respond(opa, p, admissionReview(["trusted.example/a", "evil.example/b"]))).allowed).toBe(false);
  });

  it("refuses a policy without an allow-like rule, and one no parser accepts, naming the file", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const noAllow = join(dir, "deny.rego");
    await writeFile(noAllow, 'package my.deny\n\nviolation contains "x" if input.x\n');
    const e1 = await prepareUserPolicy({ opa, file: noAllow }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConfigError);
    expect((e1 as ConfigError).issues[0]).toMatchObject({ file: noAllow, path: "--policy" });
    expect((e1 as ConfigError).issues[0]!.message).toMatch(/no allow-like boolean rule .* rules found: violation/);
    const broken = join(dir, "broken.rego");
    await writeFile(broken, "package x\n\nallow {{\n");
    const e2 = await prepareUserPolicy({ opa, file: broken }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ConfigError);
    expect((e2 as ConfigError).issues[0]!.message).toMatch(/neither OPA's v1 nor its v0 parser accepts it/);
  });
});
