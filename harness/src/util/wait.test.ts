import { describe, expect, it } from "vitest";
import { WaitTimeoutError } from "./errors.ts";
import { sleep, waitFor } from "./wait.ts";

describe("waitFor", () => {
  it("returns the first value other than undefined, polling at the interval", async () => {
    let calls = 0;
    const value = await waitFor("thing", async () => (++calls >= 3 ? `ready after ${calls}` : undefined), { timeoutMs: 5_000, intervalMs: 1 });
    expect(value).toBe("ready after 3");
    expect(calls).toBe(3);
  });

  it("treats falsy values other than undefined as ready", async () => {
    expect(await waitFor("zero", async () => 0, { timeoutMs: 100 })).toBe(0);
    expect(await waitFor("false", async () => false, { timeoutMs: 100 })).toBe(false);
    expect(await waitFor("null", async () => null, { timeoutMs: 100 })).toBe(null);
  });

  it("throws WaitTimeoutError naming the target and the budget", async () => {
    const started = performance.now();
    const err = await waitFor("kube-apiserver /readyz", async () => undefined, { timeoutMs: 30, intervalMs: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err).toMatchObject({ target: "kube-apiserver /readyz", budgetMs: 30, message: "kube-apiserver /readyz not ready within 30ms" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
  });

  it("keeps polling through errors and reports the last one on timeout", async () => {
    let calls = 0;
    const err = await waitFor(
      "port 6443",
      async () => {
        throw new Error(`ECONNREFUSED #${++calls}`);
      },
      { timeoutMs: 20, intervalMs: 2 },
    ).catch((e: unknown) => e);
    expect(calls).toBeGreaterThan(1);
    expect((err as WaitTimeoutError).message).toBe(`port 6443 not ready within 20ms: last error: ECONNREFUSED #${calls}`);
  });

  it("forgets an earlier error once a poll succeeds without a value", async () => {
    let calls = 0;
    const err = await waitFor(
      "x",
      async () => {
        if (++calls === 1) throw new Error("early");
        return undefined;
      },
      { timeoutMs: 15, intervalMs: 2 },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("x not ready within 15ms");
  });

  it("stops at once when abortIf throws (e.g. the process exited)", async () => {
    let checks = 0;
    const exited = new Error("etcd exited");
    const err = await waitFor("etcd", async () => (checks++, undefined), {
      timeoutMs: 10_000,
      intervalMs: 1,
      abortIf: () => {
        if (checks >= 2) throw exited;
      },
    }).catch((e: unknown) => e);
    expect(err).toBe(exited);
    expect(checks).toBe(2);
  });

  it("stops when the signal aborts, with the signal's reason", async () => {
    const ac = new AbortController();
    const reason = new Error("interrupted");
    setTimeout(() => ac.abort(reason), 5);
    const err = await waitFor("y", async () => undefined, { timeoutMs: 10_000, intervalMs: 1_000, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBe(reason);
  });
});

describe("sleep", () => {
  it("resolves after the time", async () => {
    const t0 = performance.now();
    await sleep(10);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(9);
  });

  it("rejects at once with an already-aborted signal, and early when aborted while sleeping", async () => {
    await expect(sleep(10_000, AbortSignal.abort(new Error("already")))).rejects.toThrow("already");
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error("now"));
    await expect(p).rejects.toThrow("now");
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
