// The shipped Rego (policies/opa/) with a real opa: `opa check --strict`, every `opa test` case, the
// Rego tests' power to fail (a policy with a known bug must fail them), and agreement with the stub:
// the same images and trust lists through OPA's two decisions and through the stub's evaluate() and
// AdmissionReview handling give the same verdicts. Skips with the reason when there is no opa and
// none can be built; with IMAGEPOLICY_LAB_OPA_TESTS=required (CI) that is a failure.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAdmissionReview } from "../../../webhook-stub/src/admission-review.ts";
import { evaluate, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { tryRun } from "../providers/kind/tools.ts";
import { OPA_POLICY_DIR, opaPolicyFiles, opaTrustDocument, type OpaTrustDocument } from "./opa-policy.ts";
import { OPA_BUILD_BUDGET_MS, opaForTests, requireOpa, type OpaForTests } from "./test-support.ts";

let found: OpaForTests | undefined;
beforeAll(async () => {
  found = await opaForTests();
}, OPA_BUILD_BUDGET_MS);

interface OpaTestResult {
  location?: { file: string; row: number };
  package: string;
  name: string;
  fail?: boolean;
  error?: { message?: string };
  skip?: boolean;
}

/** `opa test --format json` on `dir`: every result, and the output for messages. */
async function opaTest(opa: string, dir: string): Promise<{ exitCode?: number; results: OpaTestResult[]; output: string }> {
  const r = await tryRun(opa, ["test", "--format", "json", dir], { timeoutMs: 120_000 });
  let results: OpaTestResult[] = [];
  try {
    results = JSON.parse(r.stdout) as OpaTestResult[];
  } catch {
    // A load error prints no JSON; the exit code and output say what happened.
  }
  return { ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}), results, output: `${r.stdout}\n${r.stderr}` };
}

const failed = (results: OpaTestResult[]) => results.filter((t) => t.fail || t.error).map((t) => `${t.package}.${t.name}${t.error?.message ? `: ${t.error.message}` : ""}`);

describe("the shipped Rego", () => {
  it("passes opa check --strict (the OPA 1.x parser, strict mode)", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const r = await tryRun(opa, ["check", "--strict", OPA_POLICY_DIR], { timeoutMs: 60_000 });
    expect(r.stderr || r.stdout).toBe("");
    expect(r.ok).toBe(true);
  });

  it("passes every opa test case", async (ctx) => {
    const opa = requireOpa(found, ctx);
    // -v output for the log of a failing run; the JSON run decides.
    const { exitCode, results, output } = await opaTest(opa, OPA_POLICY_DIR);
    expect(failed(results), output).toEqual([]);
    expect(results.length, output).toBeGreaterThanOrEqual(45);
    expect(exitCode, output).toBe(0);
  });

  describe("the Rego tests catch the classic bugs (each mutant must fail them)", () => {
    let work: string;
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), "iplab-opa-mutant-"));
    });
    afterAll(async () => {
      await rm(work, { recursive: true, force: true });
    });

    // [name, file, text to replace, replacement, a test that must then fail]
    const mutants: [string, string, string, string, string][] = [
      ["repository prefix without a / boundary", "registry.rego", 'startswith(name, concat("", [prefix, "/"]))', "startswith(name, prefix)", "test_repository_prefix_boundaries"],
      ["registry compared without lower-casing", "registry.rego", "trusted(ref) if lower(ref.registry) in trusted_registries", "trusted(ref) if ref.registry in trusted_registries", "test_a7_upper_case_host_allowed"],
      ["init containers forgotten", "admission.rego", 'all_containers := ["containers", "initContainers", "ephemeralContainers"]', 'all_containers := ["containers", "ephemeralContainers"]', "test_untrusted_init_container_denies"],
      ["a missing trust list allows", "registry.rego", "\tnot trust_given\n", "\tfalse\n", "test_absent_trust_list_denies_everything"],
      ["a namespace's own list ignored", "registry.rego", "own := data.lab.trust_by_namespace[review_namespace]", "own := data.lab.trust", "test_a_namespace_list_replaces_the_global_one_in_that_namespace"],
    ];
    it.for(mutants)("%s", async ([, file, from, to, mustFail], ctx) => {
      const opa = requireOpa(found, ctx);
      const dir = join(work, mustFail);
      await cp(OPA_POLICY_DIR, dir, { recursive: true });
      const text = await readFile(join(dir, file), "utf8");
      expect(text, `the mutation no longer applies to ${file}; update this test`).toContain(from);
      await writeFile(join(dir, file), text.replace(from, to));
      const { exitCode, results, output } = await opaTest(opa, dir);
      expect(exitCode, output).not.toBe(0);
      expect(failed(results).some((f) => f.endsWith(mustFail) || f.includes(`.${mustFail}:`)), output).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Agreement with the stub

const HEX64 = "0123456789abcdef".repeat(4);

/** Trust lists as `--trust` entries (the vap e2e test's, plus an empty one). */
const TRUSTS: Record<string, string[]> = {
  registry: ["trusted.example"],
  "hub-repository": ["docker.io/library/nginx"],
  "hub-registry": ["docker.io"],
  mixed: ["docker.io/library/nginx", "quay.io/team", "localhost:5000", "Trusted.Example", "index.docker.io/kindest"],
  any: ["*"],
  none: [],
};

/** mechanisms.md §A7's table, the vap e2e corpus and the stub's reference tests' tricky cases. */
const CORPUS = [
  "trusted.example/app:1",
  "trusted.example/app:1.2",
  `trusted.example/team/app@sha256:${HEX64}`,
  "Trusted.Example/app",
  "TRUSTED.EXAMPLE/app",
  "Trusted.Example/App",
  "trusted.example/App:1",
  "trusted.example/app:TAG_ok",
  "trusted.example.evil.com/app",
  "trusted.example-evil/app",
  "evil.com/trusted.example/app",
  "trusted.example:443/app",
  "trusted.example",
  "trusted.example:5000",
  "localhost:5000/x",
  "localhost:5000/x:1",
  "localhost:5000",
  "localhost/x",
  "nginx",
  "nginx:1.27",
  `nginx@sha256:${HEX64}`,
  `nginx@sha256:${HEX64.toUpperCase()}`,
  `nginx@sha384:${HEX64}`,
  `nginx:1.25@sha512:${"f".repeat(128)}`,
  "library/nginx",
  "docker.io/library/nginx/extra",
  "docker.io/nginx",
  "index.docker.io/nginx",
  "index.docker.io/library/nginx:1",
  "INDEX.DOCKER.IO/nginx",
  "nginx-evil",
  "nginxx",
  "library/nginx-evil:1",
  "docker.io.evil.com/library/nginx",
  "docker.io:5000/library/nginx",
  "bitnami/redis",
  "kindest/kindnetd:v1",
  "kindest",
  "quay.io/team",
  "quay.io/team/app:1",
  "quay.io/teamevil/app",
  "QUAY.IO/team/app",
  "Quay/team/app",
  "A/b",
  "a_b.c/app",
  "[::1]:5000/x",
  "[2001:db8::1]:5000/repo:tag",
  "[2001:db8::1]",
  "[fe80::1%eth0]:5000/repo",
  "192.168.0.1",
  "192.168.0.1:8/debian",
  "test.com:tag",
  "test:5000/repo:tag",
  "lowercase:Uppercase",
  "Uppercase:tag",
  "a__b/c--d/e.f_g",
  "a___b",
  "a..b",
  "a-",
  "-docker",
  "xn--n3h.com/myimage:xn--n3h.com",
  HEX64,
  `docker.io/${HEX64}`,
  `validname@invaliddigest:${HEX64}`,
  `nginx:${"t".repeat(128)}`,
  `nginx:${"t".repeat(129)}`,
  `ex.com/${"a".repeat(248)}`,
  `ex.com/${"a".repeat(249)}`,
  `${"a/".repeat(128)}a:tag`,
  "x".repeat(2000),
  "",
  ":justtag",
  "/x",
  "x//y",
  "a.com:port/b",
  "https://github.com/docker/docker",
  "trusted.example./x",
  "nginx:1.25 ",
  "nginx\n",
  "ümlaut.example/x",
];

/**
 * Random references (seeded: reproducible): mostly well-formed ones built from hosts and paths near
 * the trust lists' boundaries, some raw strings over the characters that matter to the grammar.
 */
const RANDOM_IMAGES = fc.sample(
  fc.oneof(
    { weight: 4, arbitrary: fc
      .tuple(
        fc.oneof(
          fc.constantFrom("", "trusted.example/", "Trusted.Example/", "trusted.example:5000/", "trusted.example.evil.com/", "quay.io/", "QUAY.IO/", "localhost/", "localhost:5000/", "docker.io/", "index.docker.io/", "INDEX.DOCKER.IO/", "[::1]:5000/"),
          fc.stringMatching(/^[a-zA-Z0-9-]{1,6}(\.[a-z]{1,3})?(:[0-9]{1,4})?\/$/),
        ),
        fc.array(fc.oneof(fc.constantFrom("library", "nginx", "team", "teamevil", "kindest", "app"), fc.stringMatching(/^[a-z0-9]{1,4}([._-][a-z0-9]{1,3})?$/)), { minLength: 1, maxLength: 3 }),
        fc.constantFrom("", ":1", ":1.2", ":Tag_x", `@sha256:${HEX64}`, `:v1@sha256:${HEX64}`),
      )
      .map(([host, path, suffix]) => `${host}${path.join("/")}${suffix}`) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z0-9.:/_@-]{1,24}$/) },
  ),
  { numRuns: 400, seed: 13 },
);

interface Case {
  trust: OpaTrustDocument;
  review: unknown;
}

/** Evaluates `decision` for every case in one opa process (the trust list set per case with `with`). */
async function evalCases(opa: string, decision: string, cases: Case[]): Promise<Array<Record<string, unknown>>> {
  // `with … as c.trust` would not take (OPA 1.22.3 leaves the document undefined in an ad-hoc query); bind variables first.
  const query = `[r | some c in input.cases; t := c.trust; i := c.review; r := ${decision} with input as i with data.lab.trust as t]`;
  const args = ["eval", "--stdin-input", "--format", "json", ...(await opaPolicyFiles()).flatMap((f) => ["--data", f]), query];
  const r = await tryRun(opa, args, { input: JSON.stringify({ cases }), timeoutMs: 120_000 });
  expect(r.ok, r.stderr || r.stdout).toBe(true);
  const out = JSON.parse(r.stdout) as { result: [{ expressions: [{ value: Array<Record<string, unknown>> }] }] };
  const values = out.result[0].expressions[0].value;
  expect(values).toHaveLength(cases.length);
  return values;
}

describe("agreement with the stub", () => {
  it(`ImageReview: ${CORPUS.length} tricky and ${RANDOM_IMAGES.length} random references × ${Object.keys(TRUSTS).length} trust lists, plus multi-image reviews`, async (ctx) => {
    const opa = requireOpa(found, ctx);
    const rows: { trust: string; images: string[] }[] = [];
    for (const trust of Object.keys(TRUSTS)) {
      for (const image of [...CORPUS, ...RANDOM_IMAGES]) rows.push({ trust, images: [image] });
      // One untrusted image among trusted ones decides; order and duplicates do not matter.
      rows.push({ trust, images: ["trusted.example/a", "nginx", "trusted.example/a"] });
      rows.push({ trust, images: ["quay.io/team/a", "localhost:5000/b", "docker.io/library/nginx:1"] });
      rows.push({ trust, images: [] });
    }
    const cases = rows.map((r) => ({
      trust: opaTrustDocument(TRUSTS[r.trust]!),
      review: { apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: r.images.map((image) => ({ image })), namespace: "default" } },
    }));
    const values = await evalCases(opa, "data.lab.imagereview.review", cases);
    const mismatches: string[] = [];
    const denied = { stub: 0, opa: 0 };
    rows.forEach((row, i) => {
      const want = evaluate(trustPolicy(TRUSTS[row.trust]!), { containers: row.images.map((image) => ({ image })), namespace: "default" });
      const got = values[i] as { apiVersion: string; kind: string; status: { allowed: boolean; reason?: string } };
      expect(got.apiVersion).toBe("imagepolicy.k8s.io/v1alpha1");
      expect(got.kind).toBe("ImageReview");
      if (!want.allowed) denied.stub++;
      if (!got.status.allowed) denied.opa++;
      if (got.status.allowed !== want.allowed) {
        mismatches.push(`${row.trust} ${JSON.stringify(row.images)}: OPA ${got.status.allowed ? "allowed" : `denied (${got.status.reason})`}, stub ${want.allowed ? "allowed" : `denied (${want.reason})`}`);
      }
      // A denial names every refused image (invalid ones JSON-quoted).
      if (!got.status.allowed && row.images.length === 1 && row.images[0]!.length < 100) expect(got.status.reason).toContain(row.images[0]!.trim() === row.images[0] ? row.images[0] : "invalid image reference");
    });
    expect(mismatches).toEqual([]);
    // Both allow and deny occur, or the comparison would prove little.
    expect(denied.stub).toBeGreaterThan(rows.length / 4);
    expect(denied.stub).toBeLessThan(rows.length);
  });

  it("AdmissionReview: pods, init and ephemeral containers, the ephemeralcontainers subresource, workloads, other kinds", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const containers = (images: string[]) => images.map((image, i) => ({ name: `c${i}`, image }));
    const spec = (c: string[], init: string[] = [], eph: string[] = []) => ({
      containers: containers(c),
      ...(init.length ? { initContainers: containers(init) } : {}),
      ...(eph.length ? { ephemeralContainers: containers(eph) } : {}),
    });
    const template = (s: object) => ({ metadata: { labels: { app: "x" } }, spec: s });
    const objects: [string, string, string, (s: object) => object][] = [
      ["", "Pod", "", (s) => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: s })],
      ["", "Pod", "ephemeralcontainers", (s) => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: s })],
      ["", "Pod", "status", (s) => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: s })],
      ["", "ReplicationController", "", (s) => ({ spec: { template: template(s) } })],
      ["apps", "Deployment", "", (s) => ({ spec: { template: template(s) } })],
      ["apps", "Deployment", "scale", (s) => ({ spec: { template: template(s) } })],
      ["apps", "ReplicaSet", "", (s) => ({ spec: { template: template(s) } })],
      ["apps", "StatefulSet", "", (s) => ({ spec: { template: template(s) } })],
      ["apps", "DaemonSet", "", (s) => ({ spec: { template: template(s) } })],
      ["batch", "Job", "", (s) => ({ spec: { template: template(s) } })],
      ["batch", "CronJob", "", (s) => ({ spec: { jobTemplate: { spec: { template: template(s) } } } })],
      ["", "ConfigMap", "", () => ({ data: { image: "evil.example/x" } })],
      ["example.com", "Deployment", "", (s) => ({ spec: { template: template(s) } })],
    ];
    const specs = [
      spec(["trusted.example/app"]),
      spec(["trusted.example/app", "nginx"]),
      spec(["trusted.example/app"], ["evil.example/init"]),
      spec(["trusted.example/app"], [], ["evil.example/debug"]),
      spec(["evil.example/running"], [], ["trusted.example/debug"]),
      spec(["TRUSTED.EXAMPLE/app"], ["quay.io/team/init"], ["localhost:5000/debug"]),
      { containers: [{ name: "no-image" }] },
    ];
    const rows: { trust: string; body: Record<string, unknown> }[] = [];
    let n = 0;
    for (const trust of ["registry", "mixed", "none"]) {
      for (const [group, kind, subResource, object] of objects) {
        for (const s of specs) {
          const request = { uid: `uid-${n++}`, kind: { group, version: "v1", kind }, resource: { group, version: "v1", resource: `${kind.toLowerCase()}s` }, ...(subResource ? { subResource } : {}), namespace: "default", operation: "CREATE", object: object(s) };
          rows.push({ trust, body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request } });
        }
      }
      // DELETE: no object.
      rows.push({ trust, body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: `uid-${n++}`, kind: { group: "", version: "v1", kind: "Pod" }, namespace: "default", operation: "DELETE", object: null } } });
    }
    const values = await evalCases(opa, "data.lab.admission.review", rows.map((r) => ({ trust: opaTrustDocument(TRUSTS[r.trust]!), review: r.body })));
    const mismatches: string[] = [];
    rows.forEach((row, i) => {
      const parsed = parseAdmissionReview(Buffer.from(JSON.stringify(row.body)));
      if (!parsed.ok) throw new Error(`the stub refuses case ${i}: ${parsed.message}`);
      const want = evaluate(trustPolicy(TRUSTS[row.trust]!), parsed.spec);
      const got = values[i] as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; status?: { code: number; reason: string; message: string } } };
      expect(got.apiVersion).toBe("admission.k8s.io/v1");
      expect(got.kind).toBe("AdmissionReview");
      expect(got.response.uid).toBe((row.body.request as { uid: string }).uid);
      if (got.response.allowed) expect(got.response.status).toBeUndefined();
      else expect(got.response.status).toMatchObject({ code: 403, reason: "Forbidden" });
      if (got.response.allowed !== want.allowed) {
        mismatches.push(`${row.trust} ${JSON.stringify(row.body.request).slice(0, 300)}: OPA ${got.response.allowed ? "allowed" : `denied (${got.response.status?.message})`}, stub ${want.allowed ? "allowed" : `denied (${want.reason})`}`);
      }
    });
    expect(mismatches).toEqual([]);
  });

  it("without a trust document, OPA denies every review and says how to configure it (fail closed, visibly)", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const input = { apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: [{ image: "trusted.example/app" }] } };
    const args = ["eval", "--stdin-input", "--format", "raw", ...(await opaPolicyFiles()).flatMap((f) => ["--data", f]), "data.lab.imagereview.review"];
    const r = await tryRun(opa, args, { input: JSON.stringify(input), timeoutMs: 60_000 });
    expect(r.ok, r.stderr).toBe(true);
    expect(JSON.parse(r.stdout)).toEqual({
      apiVersion: "imagepolicy.k8s.io/v1alpha1",
      kind: "ImageReview",
      status: { allowed: false, reason: 'no trust list: PUT {"registries": [...], "repositories": [...]} to /v1/data/lab/trust (until then nothing is trusted)' },
    });
  });
});

describe("opaTrustDocument", () => {
  it("splits and normalizes --trust entries as the stub does", () => {
    expect(opaTrustDocument(["Trusted.Example", "index.docker.io", "index.docker.io/library/nginx", "quay.io/team", "docker.io/kindest"])).toEqual({
      registries: ["trusted.example", "docker.io"],
      repositories: ["docker.io/library/nginx", "quay.io/team", "docker.io/kindest"],
    });
  });
  it("refuses what the stub refuses", () => {
    expect(() => opaTrustDocument(["https://quay.io"])).toThrow(/--trust/);
  });
});
