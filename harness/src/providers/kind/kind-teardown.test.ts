// The one kind teardown path with a fake kind binary (a shell script) and no docker: what it runs,
// what it reports, that a second run is a no-op, and that a failure is named while the rest still goes.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_PROFILE } from "../../profile/profile.ts";
import type { LabState } from "../lab-state.ts";
import { kindRecord, removeKindLab } from "./kind-teardown.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kind-teardown-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A kind that knows one cluster until it is deleted; `failDelete` makes the delete fail. */
async function fakeKind(cluster: string, o: { failDelete?: boolean } = {}): Promise<string> {
  const path = join(dir, "kind");
  await writeFile(
    path,
    `#!/bin/sh
echo "$*" >> "${dir}/argv.log"
case "$1" in
  get) [ -e "${dir}/deleted" ] || echo "${cluster}";;
  delete) ${o.failDelete ? `echo "ERROR: failed to delete cluster: permission denied" >&2; exit 1` : `touch "${dir}/deleted"`};;
esac
`,
    { mode: 0o755 },
  );
  return path;
}

async function labFiles(): Promise<string> {
  const stateDir = join(dir, "state");
  await mkdir(join(stateDir, "admission"), { recursive: true });
  await mkdir(join(stateDir, "logs"), { recursive: true });
  await writeFile(join(stateDir, "admission", "admission-config.yaml"), "x");
  await writeFile(join(stateDir, "kubeconfig"), "x");
  return stateDir;
}

describe("removeKindLab", () => {
  it("deletes the cluster and the lab's files, reports what existed, and is a no-op the second time", async () => {
    const kind = await fakeKind("iplab-abc123");
    const stateDir = await labFiles();
    // A network nobody has (not created by this lab, no label to find): left alone without a word.
    const parts = { clusterName: "iplab-abc123", network: { name: "iplab-teardown-test-no-such-network", created: false }, stateDir };
    expect(await removeKindLab(parts, { kind: async () => kind })).toEqual(["kind cluster iplab-abc123"]);
    expect(existsSync(join(stateDir, "admission"))).toBe(false);
    expect(existsSync(join(stateDir, "kubeconfig"))).toBe(false);
    expect(existsSync(join(stateDir, "logs")), "logs stay for the post-mortem").toBe(true);
    expect(await removeKindLab(parts, { kind: async () => kind })).toEqual([]);
    expect((await readFile(join(dir, "argv.log"), "utf8")).trim().split("\n")).toEqual([
      "get clusters",
      "delete cluster --name iplab-abc123",
      "get clusters",
      "delete cluster --name iplab-abc123",
    ]);
  });

  it("names a failed delete with kind's own words, and still removes the files", async () => {
    const kind = await fakeKind("iplab-abc123", { failDelete: true });
    const stateDir = await labFiles();
    const err = await removeKindLab({ clusterName: "iplab-abc123", stateDir }, { kind: async () => kind }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).message).toMatch(/iplab-abc123.*failed to delete kind cluster iplab-abc123: ERROR: failed to delete cluster: permission denied/);
    expect(existsSync(join(stateDir, "kubeconfig"))).toBe(false);
  });

  it("says which cluster it could not delete when there is no kind binary", async () => {
    const err = await removeKindLab({ clusterName: "iplab-abc123" }, {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot delete kind cluster iplab-abc123/);
  });
});

describe("kindRecord", () => {
  const base: LabState = { provider: "kind", stateDir: "/s", k8sVersion: "1.36.1", kubeconfig: "", server: "", profile: DEFAULT_PROFILE, createdAt: "now" };

  it("reads a state file of the previous version (container id under stub)", () => {
    const old = { ...base, stub: { controlUrl: "", reviewUrl: "", tokenFile: "", caFile: "", containerId: "c0ffee" }, kind: { clusterName: "iplab-1", networkCreated: true, networkName: "kind" } };
    expect(kindRecord(old)).toEqual({ clusterName: "iplab-1", networkCreated: true, networkName: "kind", stubContainerId: "c0ffee" });
  });

  it("prefers the provider's own record", () => {
    expect(kindRecord({ ...base, kind: { stubContainerId: "new" } })).toEqual({ stubContainerId: "new" });
  });
});
