import { describe, expect, it } from "vitest";
import { Journal, type JournalRecord } from "./journal.ts";

function fakeClock() {
  let mono = 1_000;
  return {
    clock: { now: () => Date.UTC(2026, 0, 1) + mono, monotonic: () => mono },
    advance: (ms: number) => (mono += ms),
  };
}

const rec = (outcome: JournalRecord["outcome"], image = "x.io/a:1"): JournalRecord => ({
  method: "POST",
  url: "/review?timeout=30s",
  images: [image],
  namespace: "default",
  annotations: {},
  outcome,
  status: 200,
  latencyMs: 0,
});

describe("Journal", () => {
  it("numbers entries from 1 and stamps time and atMs from the clocks", () => {
    const { clock, advance } = fakeClock();
    const j = new Journal({ clock });
    advance(250);
    const e = j.record(rec("allowed"));
    expect(e).toMatchObject({ seq: 1, atMs: 250, time: "2026-01-01T00:00:01.250Z" });
    expect(j.record(rec("denied")).seq).toBe(2);
  });

  it("queries since a mark and counts by outcome", () => {
    const j = new Journal();
    for (const o of ["allowed", "denied", "denied", "fault", "invalid"] as const) j.record(rec(o));
    const s = j.snapshot({ since: 3 });
    expect(s.entries.map((e) => e.seq)).toEqual([4, 5]);
    expect(s.lastSeq).toBe(5);
    expect(s.counters).toEqual({ requests: 5, allowed: 1, denied: 2, faults: 1, invalid: 1 });
  });

  it("keeps only the newest `capacity` entries", () => {
    const j = new Journal({ capacity: 3 });
    for (let i = 0; i < 7; i++) j.record(rec("allowed", `x.io/a:${i}`));
    const s = j.snapshot();
    expect(s.entries.map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(s.entries.map((e) => e.images[0])).toEqual(["x.io/a:4", "x.io/a:5", "x.io/a:6"]);
    expect(s.counters.requests).toBe(7);
  });

  it("reset clears entries and counters but seq keeps increasing", () => {
    const j = new Journal();
    j.record(rec("allowed"));
    j.record(rec("denied"));
    j.reset();
    expect(j.snapshot()).toEqual({ entries: [], counters: { requests: 0, allowed: 0, denied: 0, faults: 0, invalid: 0 }, lastSeq: 2 });
    expect(j.record(rec("allowed")).seq).toBe(3);
  });

  it("snapshots are copies, but the stored entry can still be completed by the server", () => {
    const j = new Journal();
    const e = j.record({ ...rec("fault"), status: 0 });
    const before = j.snapshot().entries[0]!;
    before.images.push("mutated");
    e.latencyMs = 42;
    const after = j.snapshot().entries[0]!;
    expect(after.images).toEqual(["x.io/a:1"]);
    expect(after.latencyMs).toBe(42);
  });

  it("refuses a bad capacity", () => {
    expect(() => new Journal({ capacity: 0 })).toThrow(RangeError);
  });
});
