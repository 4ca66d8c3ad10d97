// `imagepolicy-lab run` end to end, in-process, against a real local control plane: a wrong
// expectation exits 1 with expected vs observed in every report; an invalid file exits 2 before
// anything starts, naming file, line and field.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureIO } from "../../test/cli-in-process.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./main.ts";
import { comparisonRows, parseComparisonJson } from "../report/comparison.ts";
import { scenarioMechanisms } from "../scenario/for-mechanism.ts";
import { loadScenarios, resolveScenarioArgs } from "../scenario/load.ts";


const WRONG = `apiVersion: imagepolicy-lab.dev/v1alpha1
kind: Scenario
name: deliberately-wrong
description: Expects an untrusted image to be admitted, which a correct plugin and backend never do.
profile: { defaultAllow: false, allowTTL: -1, denyTTL: -1, retryBackoff: 100 }
backend: { trust: [trusted.example] }
steps:
  - createPod: { name: wrong, images: [evil.example/app:1] }
    expect: { allowed: true, backendCalls: 1 }
`;

const INVALID = `apiVersion: imagepolicy-lab.dev/v1alpha1
kind: Scenario
name: invalid-one
description: has a misspelled expectation
steps:
  - createPod: { images: [trusted.example/app:1] }
    expect:
      allowed: true
      backendCals: 1
`;

describe("imagepolicy-lab run", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ipl-run-test-"));
    await writeFile(join(dir, "wrong.yaml"), WRONG);
    await writeFile(join(dir, "invalid.yaml"), INVALID);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("exits 2 for an invalid scenario file, naming file, line and field, and starts nothing", async () => {
    const io = captureIO(dir, { ...process.env, CI: "true" });
    const code = await run(["run", "--provider", "local", "invalid.yaml"], io);
    expect(code).toBe(2);
    expect(io.err()).toContain('invalid.yaml:9: steps.0.expect.backendCals: unknown field "backendCals"');
    expect(io.err()).not.toContain("start etcd");
  });

  it("exits 1 when behavior differs, and every report shows expected vs observed", async () => {
    const io = captureIO(dir, { ...process.env, CI: "true" });
    const code = await run(["run", "--provider", "local", "--report-dir", "reports", "wrong.yaml"], io);
    expect(code, io.err()).toBe(1);
    expect(io.out()).toMatch(/deliberately-wrong/);
    const report = JSON.parse(await readFile(join(dir, "reports", "report.json"), "utf8"));
    const check = report.scenarios[0].steps[0].checks.find((c: { what: string }) => c.what === "allowed");
    expect(check).toMatchObject({ expected: "allowed", observed: "denied (403)", ok: false });
    const junit = await readFile(join(dir, "reports", "junit.xml"), "utf8");
    expect(junit).toMatch(/<failure[^>]*>/);
    expect(junit).toContain("denied (403)");
    expect(await readFile(join(dir, "reports", "report.html"), "utf8")).toContain("deliberately-wrong");
  });

  it("--mechanism all: the shared scenarios under each mechanism, compared in every report format", async () => {
    const shared = (await loadScenarios(await resolveScenarioArgs([]))).filter((x) => scenarioMechanisms(x.doc).length > 1 && !x.doc.slow).map((x) => x.doc.name);
    expect(shared.length).toBeGreaterThanOrEqual(15);
    const io = captureIO(dir, { ...process.env, CI: "true" });
    const code = await run(["run", "--provider", "local", "--mechanism", "all", "--report-dir", "compare", ...shared], io);
    expect(code, `${io.out()}\n${io.err()}`).toBe(0);
    // At 120 columns a title wider than its column is shown by its name (ValidatingAdmissionPolicy → vap).
    expect(io.out()).toMatch(/scenario\s+ImagePolicyWebhook\s+validating webhook\s+(ValidatingAdmissionPolicy|vap)\s+OPA/);

    const doc = parseComparisonJson(await readFile(join(dir, "compare", "comparison.json"), "utf8"));
    expect(doc.runs.map((r) => r.mechanism)).toEqual(["imagepolicywebhook", "webhook", "vap", "opa"]);
    const rows = comparisonRows(doc);
    expect(rows.filter((r) => r.shared).length).toBeGreaterThanOrEqual(15);
    const cells = (name: string) => Object.fromEntries(rows.find((r) => r.name === name)!.cells.map((c) => [c.mechanism, c]));
    // Measured, not assumed: where a Deployment with an untrusted image is refused differs by mechanism.
    const deploy = cells("deployment-pods-refused");
    expect(deploy.imagepolicywebhook).toMatchObject({ applicable: true, verdict: "pass", codes: [201, 201] });
    expect(deploy.webhook).toMatchObject({ applicable: true, verdict: "pass", codes: [403, 403] });
    expect(deploy.vap).toMatchObject({ applicable: true, verdict: "pass", codes: [403, 403] });
    expect(deploy.vap).not.toHaveProperty("backendCalls");
    expect(deploy.opa).toMatchObject({ applicable: true, verdict: "pass", codes: [403, 403] });
    expect(deploy.opa).not.toHaveProperty("backendCalls");
    // A failing backend: 403 after 5 calls for the plugin, 500 after 1 for a webhook, nothing to fail for VAP.
    const failing = cells("fail-closed-http-500");
    expect(failing.imagepolicywebhook).toMatchObject({ codes: [403], backendCalls: 5 });
    expect(failing.webhook).toMatchObject({ codes: [500], backendCalls: 1 });
    expect(failing.vap).toMatchObject({ applicable: false });
    expect(failing.opa).toMatchObject({ applicable: false });
    // OPA down (its process stopped) under failurePolicy Fail: 500, as a webhook whose backend refuses.
    const down = cells("fail-closed-connection-refused");
    expect(down.webhook).toMatchObject({ verdict: "pass", codes: [500] });
    expect(down.opa).toMatchObject({ verdict: "pass", codes: [500] });

    const junit = await readFile(join(dir, "compare", "junit.xml"), "utf8");
    expect([...junit.matchAll(/<testsuite [^>]*name="([^"]+)"/g)].map((m) => m[1])).toEqual(expect.arrayContaining(["imagepolicywebhook", "webhook", "vap", "opa"]));
    expect(await readFile(join(dir, "compare", "comparison.html"), "utf8")).toContain("deployment-pods-refused");
    for (const m of ["imagepolicywebhook", "webhook", "vap", "opa"]) {
      expect(JSON.parse(await readFile(join(dir, "compare", m, "report.json"), "utf8")).mechanism).toBe(m);
    }
  }, 900_000);
});
