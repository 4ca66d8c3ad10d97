// The kind provider's OPA container against a real Docker engine, without a cluster (the kind
// catalog plays it behind a real apiserver): it decides from the host through its loopback mapping;
// "OPA down" stops the opa process but not the container (the apiserver must see a refused
// connection on an address that still resolves); OPA comes back empty and decides again once its data
// is PUT; a policy OPA cannot load fails the start with OPA's own words and leaves no container; and
// `down` without a state file finds the container by its label.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerGate } from "../../../test/docker-gate.ts";
import { OPA_ADMISSION_PATH, opaTrustDocument } from "../../opa/index.ts";
import { OPA_BUILD_BUDGET_MS, opaForTests, requireOpa, type OpaForTests } from "../../opa/test-support.ts";
import { CleanupRegistry } from "../../util/cleanup.ts";
import { httpsRequest } from "../../util/https-get.ts";
import type { StartedBackend } from "../provider.ts";
import { KindProvider } from "./kind-provider.ts";
import { LAB_LABEL, STATE_DIR_LABEL } from "./lab-container.ts";
import { startOpaContainer, type StartedOpaContainer } from "./opa-container.ts";
import { OPA_ALIAS } from "./stub-alias.ts";
import { kindNetworkName, tryRun } from "./tools.ts";

const gate = await dockerGate();
if (!gate.on) console.warn(`opa-container.e2e: skipping: ${gate.why}`);

/** An AdmissionReview v1 for a pod create in `default` with these images. */
function podReview(images: string[]) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "6f1c2a9e-0000-4000-8000-000000000001",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: "default",
      operation: "CREATE",
      object: { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "default" }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
    },
  };
}

/** OPA's answer to a pod create, as the apiserver would get it (no token: decisions are open). */
async function decide(opa: StartedOpaContainer, images: string[]): Promise<{ status: number; allowed?: boolean }> {
  const r = await httpsRequest(`${opa.hostUrl}${OPA_ADMISSION_PATH}`, { caPem: opa.caPem }, { method: "POST", json: podReview(images), timeoutMs: 5_000 });
  return { status: r.status, allowed: r.status === 200 ? (JSON.parse(r.body) as { response?: { allowed?: boolean } }).response?.allowed : undefined };
}

async function labContainers(stateDir: string): Promise<string[]> {
  const r = await tryRun("docker", ["ps", "-a", "--filter", `label=${STATE_DIR_LABEL}=${stateDir}`, "--format", `{{.Names}} {{.Label "${LAB_LABEL}"}}`]);
  return r.stdout.split("\n").filter(Boolean);
}

describe.skipIf(!gate.on)("the OPA container on the kind network", () => {
  let found: OpaForTests | undefined;
  let stateDir: string;
  let backend: StartedBackend | undefined;
  const cleanup = new CleanupRegistry();
  const provider = new KindProvider({ cleanup });

  beforeAll(async () => {
    found = await opaForTests();
    stateDir = await mkdtemp(join(tmpdir(), "iplab-opa-container-"));
    // The stub comes first: it writes the backend certificate (with OPA's alias) that OPA serves with.
    if (found.opa) backend = await provider.startBackend({ stateDir });
  }, OPA_BUILD_BUDGET_MS);

  afterAll(async () => {
    await backend?.stop();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("decides, stops without losing its address, comes back empty, and leaves its log", async (ctx) => {
    const opaBinary = requireOpa(found, ctx);
    const opa = await startOpaContainer({ stateDir, network: kindNetworkName(), opaBinary, detached: false });
    try {
      // Without a trust document the shipped policy refuses everything; with one it decides by it.
      expect(await decide(opa, ["trusted.example/app:1"])).toEqual({ status: 200, allowed: false });
      await opa.client.put("lab/trust", opaTrustDocument(["trusted.example"]));
      expect(await decide(opa, ["trusted.example/app:1"])).toEqual({ status: 200, allowed: true });
      expect(await decide(opa, ["evil.example/app:1"])).toEqual({ status: 200, allowed: false });

      await opa.pause();
      await expect(decide(opa, ["trusted.example/app:1"])).rejects.toThrow();
      const inspect = await tryRun("docker", ["inspect", "--format", `{{.State.Running}} {{json .NetworkSettings.Networks}}`, opa.containerId]);
      expect(inspect.stdout, "the container keeps running, with its alias, while OPA is down").toMatch(/^true /);
      expect(inspect.stdout).toContain(OPA_ALIAS);
      await opa.pause(); // idempotent

      await opa.resume();
      // OPA keeps data in memory only: back without its trust list (the mechanism PUTs it again).
      expect(await decide(opa, ["trusted.example/app:1"])).toEqual({ status: 200, allowed: false });
      await opa.client.put("lab/trust", opaTrustDocument(["trusted.example"]));
      expect(await decide(opa, ["trusted.example/app:1"])).toEqual({ status: 200, allowed: true });
      // The data API wants the token.
      const anonymous = await httpsRequest(`${opa.hostUrl}/v1/data/lab/trust`, { caPem: opa.caPem }, { method: "PUT", json: { registries: ["*"], repositories: [] } });
      expect(anonymous.status).toBe(401);
    } finally {
      await opa.stop();
    }
    expect(await labContainers(stateDir), "only the stub is left").toEqual([expect.stringMatching(/ webhook-stub$/)]);
    expect(await readFile(join(stateDir, "logs", "opa.log"), "utf8")).toContain("supervisor: opa stopped");
  }, 300_000);

  it("fails to start with OPA's own words when the policy does not load, leaving no container", async (ctx) => {
    const opaBinary = requireOpa(found, ctx);
    const bad = join(stateDir, "broken.rego");
    await writeFile(bad, "package broken\n\nallow if {\n  input.x ==\n}\n");
    const userPolicy = { file: bad, v0Compatible: false, packagePath: ["broken"], rule: "allow", wrapper: "package lab.byo\n\nimport rego.v1\n\ndecision := true\n", summary: "broken" };
    await expect(startOpaContainer({ stateDir, network: kindNetworkName(), opaBinary, userPolicy, detached: false, readyTimeoutMs: 30_000 })).rejects.toThrow(/the OPA container exited \(code 1\)[\s\S]*its output:[\s\S]*rego_parse_error/);
    expect(await labContainers(stateDir)).toEqual([expect.stringMatching(/ webhook-stub$/)]);
  }, 300_000);

  it("is removed by `down` from another process, found by its label when there is no state file", async (ctx) => {
    requireOpa(found, ctx);
    const opa = await provider.startOpa({ stateDir, detached: true });
    expect(await labContainers(stateDir)).toContainEqual(expect.stringMatching(/ opa$/));
    const leftovers = await new KindProvider().findLeftovers();
    expect(leftovers.find((l) => l.stateDir === stateDir)?.parts).toContainEqual(expect.stringMatching(/^OPA container imagepolicy-lab-opa-/));
    // A detached OPA belongs to no registry of this process; `down` removes it (and the stub, also labelled).
    const removed = await new KindProvider().removeDetached({ stateDir });
    expect(removed).toContainEqual(expect.stringMatching(/^OPA container /));
    expect(await labContainers(stateDir)).toEqual([]);
    await opa.stop(); // already gone: idempotent
  }, 300_000);
});
