import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { forMechanism, scenarioMechanisms } from "./for-mechanism.ts";
import { CATALOG_DIR, loadScenarioFile, loadScenarios, resolveScenarioArgs } from "./load.ts";

const VALID = fileURLToPath(new URL("./testdata/valid-mechanisms.yaml", import.meta.url));

describe("forMechanism: a scenario as one mechanism plays it", async () => {
  const { doc } = await loadScenarioFile(VALID);

  it("ImagePolicyWebhook: every step that names it, the shared expectations only", () => {
    const v = forMechanism(doc, "imagepolicywebhook")!;
    expect(v.steps).toHaveLength(3);
    expect(v.steps[0]!.expect).toEqual({ allowed: true, backendCalls: 0 });
    expect(v.steps[2]!.expect).toEqual({ allowed: false, code: 403, message: "prevented" });
  });

  it("webhook: its own fields replace the shared ones, and null drops one", () => {
    const v = forMechanism(doc, "webhook")!;
    expect(v.steps[0]!.expect).toEqual({ allowed: false, code: 403, backendCalls: 1 });
    expect(v.steps[2]!.expect).toEqual({ allowed: false, code: 500 });
    expect(v.steps).toHaveLength(4);
  });

  it("vap: steps for other mechanisms are not played, and no expectation reads a backend", () => {
    const v = forMechanism(doc, "vap")!;
    expect(v.steps.map((s) => Object.keys(s).find((k) => k.startsWith("create") || k === "setBackend"))).toEqual(["createDeployment"]);
    expect(v.steps[0]!.expect).toEqual({ allowed: false, code: 403 });
  });

  it("opa: its own expectations, its own steps, and no expectation reads the stub's journal", () => {
    const v = forMechanism(doc, "opa")!;
    expect(v.steps.map((s) => Object.keys(s).find((k) => k.startsWith("create") || k === "setBackend"))).toEqual(["createDeployment", "setBackend"]);
    expect(v.steps[0]!.expect).toEqual({ allowed: false, code: 403, message: 'admission webhook "opa.imagepolicy-lab.dev" denied the request' });
  });

  it("a scenario without `mechanisms:` applies to ImagePolicyWebhook only", async () => {
    const { doc: plain } = await loadScenarioFile(fileURLToPath(new URL("./testdata/valid-minimal.yaml", import.meta.url)));
    expect(scenarioMechanisms(plain)).toEqual(["imagepolicywebhook"]);
    expect(forMechanism(plain, "webhook")).toBeUndefined();
    expect(forMechanism(plain, "imagepolicywebhook")).toEqual(plain);
  });
});

describe("the catalog across mechanisms", async () => {
  const all = await loadScenarios(await resolveScenarioArgs([], CATALOG_DIR));
  const count = (m: Parameters<typeof forMechanism>[1]) => all.filter((s) => forMechanism(s.doc, m)).length;

  it("shares at least 15 scenarios between ImagePolicyWebhook and the others, and 10 with all four", () => {
    const shared = all.filter((s) => scenarioMechanisms(s.doc).length > 1);
    expect(shared.length).toBeGreaterThanOrEqual(15);
    expect(all.filter((s) => scenarioMechanisms(s.doc).length === 4).length).toBeGreaterThanOrEqual(10);
    // Every scenario applies to ImagePolicyWebhook but those about OPA alone (its process, its data).
    expect(count("imagepolicywebhook")).toBe(all.filter((s) => scenarioMechanisms(s.doc).join() !== "opa").length);
    expect(count("webhook")).toBeGreaterThan(count("vap"));
    expect(count("opa")).toBeGreaterThan(count("vap"));
  });
});
