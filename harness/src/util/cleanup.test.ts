import { describe, expect, it } from "vitest";
import { CleanupRegistry, DUPLICATE_SIGNAL_MS, type SignalHost } from "./cleanup.ts";

describe("CleanupRegistry", () => {
  it("runs cleanups newest first, awaiting each before the next", async () => {
    const r = new CleanupRegistry();
    const log: string[] = [];
    r.add("etcd", () => void log.push("etcd"));
    r.add("apiserver", async () => {
      await new Promise((res) => setTimeout(res, 5));
      log.push("apiserver");
    });
    r.add("controller-manager", () => void log.push("kcm"));
    await r.runAll();
    expect(log).toEqual(["kcm", "apiserver", "etcd"]);
    expect(r.size).toBe(0);
  });

  it("keeps going after a failure and reports every failure in one AggregateError", async () => {
    const r = new CleanupRegistry();
    const ran: string[] = [];
    const cause = new Error("boom");
    r.add("first", () => void ran.push("first"));
    r.add("second", () => {
      ran.push("second");
      throw cause;
    });
    r.add("third", async () => {
      ran.push("third");
      throw new Error("bang");
    });
    const err = await r.runAll().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ran).toEqual(["third", "second", "first"]);
    expect(err).toBeInstanceOf(AggregateError);
    const errors = (err as AggregateError).errors as Error[];
    expect(errors.map((e) => e.message)).toEqual(["cleanup third failed: bang", "cleanup second failed: boom"]);
    expect(errors[1]!.cause).toBe(cause);
    expect(r.size).toBe(0);
  });

  it("an unregistered cleanup does not run", async () => {
    const r = new CleanupRegistry();
    const ran: string[] = [];
    const offA = r.add("a", () => void ran.push("a"));
    r.add("b", () => void ran.push("b"));
    expect(r.size).toBe(2);
    offA();
    offA(); // twice is harmless
    expect(r.size).toBe(1);
    await r.runAll();
    expect(ran).toEqual(["b"]);
  });

  it("runs each cleanup once, even when runAll is called again while running or afterwards", async () => {
    const r = new CleanupRegistry();
    let calls = 0;
    r.add("slow", async () => {
      calls++;
      await new Promise((res) => setTimeout(res, 5));
    });
    await Promise.all([r.runAll(), r.runAll()]);
    await r.runAll();
    expect(calls).toBe(1);
  });

  it("can be used again after a run", async () => {
    const r = new CleanupRegistry();
    const ran: string[] = [];
    r.add("a", () => void ran.push("a"));
    await r.runAll();
    r.add("b", () => void ran.push("b"));
    await r.runAll();
    expect(ran).toEqual(["a", "b"]);
  });
});

/** A process stand-in: signals are delivered by hand, time is set by hand, exits are recorded. */
function fakeHost() {
  const handlers = new Map<string, () => void>();
  const host = {
    nowMs: 0,
    exits: [] as number[],
    on: (sig: NodeJS.Signals, h: () => void) => void handlers.set(sig, h),
    exit: (code: number) => void host.exits.push(code),
    now: () => host.nowMs,
    stderr: () => {},
    send: (sig: NodeJS.Signals) => handlers.get(sig)!(),
  };
  return host satisfies SignalHost;
}

describe("signal handlers", () => {
  it("a Ctrl-C delivered twice at once (terminal + npm/run-ts forwarding) still runs every cleanup before exiting 130", async () => {
    const r = new CleanupRegistry();
    const host = fakeHost();
    let release!: () => void;
    const ran: string[] = [];
    r.add("apiserver", () => new Promise<void>((res) => (release = () => (ran.push("apiserver"), res()))));
    r.installSignalHandlers(undefined, host);
    expect(r.interrupted).toBeUndefined();
    host.send("SIGINT");
    expect(r.interrupted).toBe("SIGINT");
    host.nowMs = 5;
    host.send("SIGINT");
    host.send("SIGTERM");
    expect(host.exits).toEqual([]);
    release();
    await new Promise((res) => setTimeout(res, 0));
    expect(ran).toEqual(["apiserver"]);
    expect(host.exits).toEqual([130]);
  });

  it("a second signal after the duplicate window exits at once, with its own code", () => {
    const r = new CleanupRegistry();
    const host = fakeHost();
    r.add("hangs", () => new Promise<void>(() => {}));
    r.installSignalHandlers(undefined, host);
    host.send("SIGINT");
    host.nowMs = DUPLICATE_SIGNAL_MS;
    host.send("SIGTERM");
    expect(host.exits).toEqual([143]);
  });
});

describe("own: a teardown shared by stop() and signals", () => {
  it("runAll during a stop waits for that same run to finish, and it runs once", async () => {
    const registry = new CleanupRegistry();
    let runs = 0;
    let finish!: () => void;
    const { stop } = registry.own("lab", async () => {
      runs++;
      await new Promise<void>((r) => (finish = r));
    });
    const first = stop();
    let signalDone = false;
    const viaSignal = registry.runAll().then(() => (signalDone = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(signalDone, "runAll returned while the teardown was still running").toBe(false);
    finish();
    await Promise.all([first, viaSignal]);
    expect(runs).toBe(1);
    expect(registry.size).toBe(0);
  });

  it("release drops the entry without running it", async () => {
    const registry = new CleanupRegistry();
    let runs = 0;
    const { release } = registry.own("handed over", async () => {
      runs++;
    });
    release();
    await registry.runAll();
    expect(runs).toBe(0);
    expect(registry.size).toBe(0);
  });
});
