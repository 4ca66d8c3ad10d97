// Nothing orphaned, nothing shared by accident:
// - a `run` killed outright (SIGKILL) mid-catalog leaves its lab running; it said where, and
//   `down --all` finds it by what runs and removes it: no process, port or key is left;
// - two `up`s started at the same moment into one empty state dir: one lab comes up, the other
//   command is refused at once with the in-use message (it used to fail after 60 s with misleading
//   certificate errors, because both passed the in-use check before either wrote its state).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { execCli, filesOutsideLogs, processesMentioning, spawnCli } from "../providers/local/test-support.ts";

describe("a state directory is claimed atomically", () => {
  let work: string | undefined;
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("of two `up`s started at once into one empty dir, one succeeds and the other is refused in under 2 s", async () => {
    work = await mkdtemp(join(tmpdir(), "iplab-claim-e2e-"));
    const stateDir = join(work, "lab");
    const children = [spawnCli(["up", "--provider", "local", "--state-dir", stateDir]), spawnCli(["up", "--provider", "local", "--state-dir", stateDir])];
    // Each command's clock starts when it has started its work (its first line, printed after the
    // provider's preflight, right before the claim), so the bound measures the refusal, not how long
    // node takes to start on a busy machine.
    const ended = children.map(async (c) => {
      let started: number | undefined;
      const seen = c.waitForStderr(/provider: /, 120_000).then(() => (started = performance.now()), () => undefined);
      const code = await c.exited;
      await seen;
      return { code, ms: started === undefined ? Number.NaN : performance.now() - started, stderr: c.output.stderr };
    });
    try {
      const results = await Promise.all(ended);
      const won = results.filter((r) => r.code === 0);
      const lost = results.filter((r) => r.code !== 0);
      expect(won, JSON.stringify(results)).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.code, lost[0]!.stderr).toBe(2);
      expect(lost[0]!.stderr).toMatch(/another imagepolicy-lab command .* is starting or running a lab in this directory/);
      // From the command's first line to its exit: the refused claim; no lab part started.
      expect(lost[0]!.ms, lost[0]!.stderr).toBeLessThan(2_000);
      expect(lost[0]!.stderr).not.toMatch(/start etcd|start the stub|ensure docker network/);
    } finally {
      const down = await execCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
    }
  }, 300_000);

  it("a `run` SIGKILLed mid-catalog says where its lab lives; `down --all` then leaves no process, port or key", async () => {
    const c = spawnCli(["run", "--provider", "local", "untrusted-image-denied", "retry-backoff-grows", "fail-closed-hang"]);
    await c.waitForStderr(/lab state: (\S+)/, 120_000);
    const stateDir = /lab state: (\S+)/.exec(c.output.stderr)![1]!;
    // Wait until scenarios are being played (the slow hang scenario keeps the run busy for 30 s).
    await new Promise<void>((resolveWait, reject) => {
      const t = setInterval(() => {
        if (/\[\d+\/3\]/.test(c.output.stdout)) {
          clearInterval(t);
          resolveWait();
        }
      }, 50);
      setTimeout(() => (clearInterval(t), reject(new Error(`no scenario started: ${c.output.stdout}${c.output.stderr}`))), 120_000);
    });
    c.child.kill("SIGKILL");
    await c.exited;
    const orphans = await processesMentioning(stateDir);
    expect(orphans.length, "the killed run's lab processes").toBeGreaterThan(0);
    const status = await execCli(["down", "--all"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(stateDir);
    expect(await processesMentioning(stateDir), "lab processes after down --all").toEqual([]);
    expect(await filesOutsideLogs(stateDir), "keys and files after down --all").toEqual([]);
    await rm(stateDir, { recursive: true, force: true });
  }, 300_000);
});
