// startLab's own decisions, with a provider that starts nothing: what it refuses before anything
// is created, and that a refusal leaves no temp dir, registration or file behind.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LAB_STATE_FILE, writeLabState } from "../providers/lab-state.ts";
import type { ClusterProvider, StartedBackend, StartedCluster } from "../providers/provider.ts";
import { DEFAULT_PROFILE } from "../profile/profile.ts";
import { CleanupRegistry } from "../util/cleanup.ts";
import { ConfigError, ProviderUnavailableError } from "../util/errors.ts";
import { downLab } from "./down.ts";
import { startLab } from "./lab.ts";

/** A provider whose start methods must not be reached; it records the calls that were made. */
function inertProvider(usable: boolean): ClusterProvider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: "local",
    calls,
    preflight: async () => (usable ? { usable, reasons: [] } : { usable, reasons: ["no way"] }),
    startBackend: async () => {
      calls.push("startBackend");
      throw new Error("not expected");
    },
    start: async () => {
      calls.push("start");
      throw new Error("not expected");
    },
    removeDetached: async () => {
      calls.push("removeDetached");
      return [];
    },
    findLeftovers: async () => [],
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lab-unit-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("startLab refuses before it creates anything", () => {
  it("an unusable provider: ProviderUnavailableError, and no temp dir stays registered (or on disk)", async () => {
    const cleanup = new CleanupRegistry();
    const before = (await readdir(tmpdir())).filter((f) => f.startsWith("imagepolicy-lab-"));
    await expect(startLab({ provider: inertProvider(false), cleanup })).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(cleanup.size).toBe(0);
    const after = (await readdir(tmpdir())).filter((f) => f.startsWith("imagepolicy-lab-"));
    expect(after.filter((f) => !before.includes(f))).toEqual([]);
  });

  it("a state dir that holds another lab: ConfigError naming its state file, and the other lab's files stay", async () => {
    const provider = inertProvider(true);
    await writeLabState(dir, {
      provider: "local",
      stateDir: dir,
      k8sVersion: "1.36.1",
      kubeconfig: join(dir, "kubeconfig"),
      server: "https://127.0.0.1:1",
      profile: { ...DEFAULT_PROFILE },
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    await writeFile(join(dir, "kubeconfig"), "the running lab's\n");
    const cleanup = new CleanupRegistry();
    const err = await startLab({ provider, stateDir: dir, cleanup }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([expect.objectContaining({ file: join(dir, LAB_STATE_FILE), message: expect.stringContaining("imagepolicy-lab down --state-dir") })]);
    expect(provider.calls).toEqual([]);
    expect(cleanup.size).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(["kubeconfig", LAB_STATE_FILE]);
  });

  it("opaBackend with what it cannot go with: one ConfigError naming each, before the provider is asked anything", async () => {
    const provider = inertProvider(true);
    const cleanup = new CleanupRegistry();
    const err = await startLab({ provider, stateDir: dir, cleanup, opaBackend: true, mechanism: "webhook", mtls: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path)).toEqual(["opaBackend", "mtls", "--backend"]);
    expect((err as ConfigError).issues[2]!.message).toBe("opa: the local provider does not run OPA yet; use --provider local for --backend opa");
    expect(provider.calls).toEqual([]);
    expect(cleanup.size).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });
});

/** A provider that "starts" by writing what a real one writes, and whose stop removes nothing. */
function forgetfulProvider(): ClusterProvider {
  return {
    name: "local",
    preflight: async () => ({ usable: true, reasons: [] }),
    startBackend: async () => {
      const stop = async () => {};
      return { endpoint: { url: "https://127.0.0.1:1/review", caPem: "" }, control: {} as StartedBackend["control"], controlUrl: "", tokenFile: "", caFile: "", stop, [Symbol.asyncDispose]: stop };
    },
    start: async (o) => {
      await writeFile(join(o.stateDir, "kubeconfig"), "key material\n");
      await writeLabState(o.stateDir, { provider: "local", stateDir: o.stateDir, k8sVersion: o.k8sVersion, kubeconfig: join(o.stateDir, "kubeconfig"), server: "", profile: o.profile, createdAt: "now" });
      const stop = async () => {};
      const cluster: StartedCluster = { provider: "local", stateDir: o.stateDir, kubeconfigPath: join(o.stateDir, "kubeconfig"), profile: o.profile, applyProfile: async () => ({ elapsedMs: 0 }), logs: async () => "", stop, [Symbol.asyncDispose]: stop };
      return cluster;
    },
    removeDetached: async () => [],
    findLeftovers: async () => [],
  };
}

describe("StartedLab.stop", () => {
  it("leaves no key and no state file in a given state dir, whatever the provider removed, so the dir can hold the next lab", async () => {
    const cleanup = new CleanupRegistry();
    const lab = await startLab({ provider: forgetfulProvider(), stateDir: dir, cleanup });
    await writeFile(join(dir, "mine.txt"), "user file\n");
    await lab.stop();
    expect((await readdir(dir)).sort()).toEqual(["mine.txt"]);
    const again = await startLab({ provider: forgetfulProvider(), stateDir: dir, cleanup });
    await again.stop();
    await again.stop();
    expect(cleanup.size).toBe(0);
  });
});

describe("downLab", () => {
  it("removes the lab's files but nothing else of the directory it is pointed at", async () => {
    for (const f of ["kubeconfig", "audit-policy.yaml", "notes.txt", "go.mod"]) await writeFile(join(dir, f), "x");
    // The claim a lab makes before it starts anything: this directory was a lab's.
    await writeFile(join(dir, "lab.claim"), JSON.stringify({ pid: 2 ** 30, since: "then" }));
    const result = await downLab(dir);
    expect(result).toEqual({ found: false, stopped: [] });
    expect((await readdir(dir)).sort()).toEqual(["go.mod", "notes.txt"]);
  });

  it("touches nothing in a directory that was never a lab's (no state file, no claim)", async () => {
    for (const f of ["kubeconfig", "pki", "notes.txt"]) await writeFile(join(dir, f), "x");
    expect(await downLab(dir)).toEqual({ found: false, stopped: [] });
    expect((await readdir(dir)).sort()).toEqual(["kubeconfig", "notes.txt", "pki"]);
  });
});
