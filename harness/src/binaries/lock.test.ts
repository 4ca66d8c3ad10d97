import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WaitTimeoutError } from "../util/errors.ts";
import { acquireLock } from "./lock.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ipl-lock-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("acquireLock", () => {
  it("lets one holder in at a time and hands over on release", async () => {
    const path = join(dir, "sub", "v1.lock");
    const first = await acquireLock(path, { purpose: "first" });
    expect(first.waited).toBe(false);
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid, purpose: "first" });
    const waits: number[] = [];
    const second = acquireLock(path, { purpose: "second", pollMs: 5, onWait: (_h, ms) => waits.push(ms) });
    await new Promise((r) => setTimeout(r, 30));
    await first.release();
    await first.release(); // idempotent
    const held = await second;
    expect(held.waited).toBe(true);
    expect(waits.length).toBeGreaterThan(0);
    await held.release();
  });

  it("takes over a lock whose process on this host is gone", async () => {
    const sub = execa("true");
    const { pid } = sub;
    await sub;
    const path = join(dir, "v1.lock");
    await writeFile(path, JSON.stringify({ pid, hostname: hostname(), since: "2020-01-01T00:00:00Z", purpose: "crashed" }));
    const held = await acquireLock(path, { purpose: "after crash", timeoutMs: 0 });
    expect(held.waited).toBe(false);
    await held.release();
  });

  it("gives up after its budget, naming the holder", async () => {
    const path = join(dir, "v1.lock");
    await writeFile(path, JSON.stringify({ pid: process.pid, hostname: "other-host", since: "2020-01-01T00:00:00Z", purpose: "building" }));
    let now = 0;
    const err = await acquireLock(path, { purpose: "x", timeoutMs: 10_000, now: () => now, sleep: async (ms) => void (now += ms) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect((err as WaitTimeoutError).budgetMs).toBe(10_000);
    expect((err as WaitTimeoutError).message).toContain("held by pid");
  });
});
