// "Ready means ready": right after `up` returns, a pod create in kube-system (and kube-public, and
// default) reaches the backend instead of failing with `serviceaccount "default" not found`. Ten
// labs in a row on the local provider, because the race it guards against is a matter of seconds.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dryRunPod, labKubeConfig, runCli } from "../local/test-support.ts";
import { USER_NAMESPACES } from "./user-ready.ts";

describe("up is ready for pods in every user namespace", () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("10 times out of 10, a pod create right after `up` reaches the backend in default, kube-system and kube-public", async () => {
    for (let i = 0; i < 10; i++) {
      const dir = await mkdtemp(join(tmpdir(), "iplab-ready-"));
      dirs.push(dir);
      const stateDir = join(dir, "lab");
      const up = await runCli(["up", "--provider", "local", "--state-dir", stateDir]);
      try {
        expect(up.code, up.stderr).toBe(0);
        const kc = labKubeConfig(stateDir);
        for (const namespace of USER_NAMESPACES) {
          const r = await dryRunPod(kc, { name: `x${i}`, namespace, image: `registry.k8s.io/pause:3.10-${namespace}` });
          expect(r.message, `lab ${i}, ${namespace}`).not.toMatch(/serviceaccount/i);
        }
        const journal = await runCli(["stub", "journal", "--state-dir", stateDir, "--json"]);
        const seen = (JSON.parse(journal.stdout) as { entries: Array<{ namespace: string }> }).entries.map((e) => e.namespace);
        expect(seen, `lab ${i}: namespaces the backend was asked about`).toEqual(expect.arrayContaining([...USER_NAMESPACES]));
      } finally {
        const down = await runCli(["down", "--state-dir", stateDir]);
        expect(down.code, down.stderr).toBe(0);
      }
    }
  }, 600_000);
});
