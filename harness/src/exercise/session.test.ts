import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { StubControl, StubPolicy } from "../../../webhook-stub/src/types.ts";
import { ConfigError } from "../util/errors.ts";
import { applyEdits } from "./session.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function lab(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "iplab-exercise-edits-"));
  dirs.push(d);
  await mkdir(join(d, "admission"));
  await mkdir(join(d, "manifests"));
  await writeFile(join(d, "admission", "admission-config.yaml"), `kubeConfigFile: ${d}/admission/imagepolicy.kubeconfig\ndefaultAllow: true\n`);
  await writeFile(join(d, "manifests", "kube-apiserver.yaml"), "command:\n  - kube-apiserver\n");
  return d;
}

/** A stub that records what it was told. */
function recordingStub(): StubControl & { policies: StubPolicy[]; faults: string[] } {
  const policies: StubPolicy[] = [];
  const faults: string[] = [];
  return {
    policies,
    faults,
    setPolicy: async (p) => void policies.push(p),
    setFault: async (f) => void faults.push(String(f)),
    setScope: async () => {},
    status: async () => ({}) as never,
    journal: async () => ({}) as never,
    resetJournal: async () => {},
  };
}

describe("applyEdits", () => {
  it("replaces text once, with {{stateDir}} filled in, and touches the manifest", async () => {
    const d = await lab();
    const before = (await stat(join(d, "manifests", "kube-apiserver.yaml"))).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await applyEdits(d, [{ file: "admission/admission-config.yaml", replace: "kubeConfigFile: {{stateDir}}/admission/", with: "kubeConfigFile: /elsewhere/" }, { restartApiserver: true }], recordingStub());
    expect(await readFile(join(d, "admission", "admission-config.yaml"), "utf8")).toBe("kubeConfigFile: /elsewhere/imagepolicy.kubeconfig\ndefaultAllow: true\n");
    expect((await stat(join(d, "manifests", "kube-apiserver.yaml"))).mtimeMs).toBeGreaterThan(before);
  });

  it("refuses an edit whose text is not there exactly once, changing nothing", async () => {
    const d = await lab();
    const err = await applyEdits(d, [{ file: "admission/admission-config.yaml", replace: "defaultAllow: false", with: "x" }], recordingStub()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]!.message).toMatch(/occurs 0 times, expected once/);
    expect(await readFile(join(d, "admission", "admission-config.yaml"), "utf8")).toContain("defaultAllow: true");
  });

  it("sets the stub's trust list (keeping the system namespaces' rules) and fault", async () => {
    const d = await lab();
    const stub = recordingStub();
    await applyEdits(d, [{ stub: { trust: ["ghcr.io/acme"], fault: "status:500" } }], stub);
    expect(stub.policies[0]!.allowRepositories).toEqual(["ghcr.io/acme"]);
    expect(Object.keys(stub.policies[0]!.namespaces ?? {})).toContain("kube-system");
    expect(stub.faults).toEqual(["status:500"]);
  });
});
