import { describe, expect, it } from "vitest";
import { entryBytes, Journal, MIN_MAX_BYTES, type JournalRecord } from "./journal.ts";

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
    expect(s.counters).toEqual({ requests: 5, allowed: 1, denied: 2, faults: 1, invalid: 1, dropped: 0 });
  });

  it("keeps only the newest `capacity` entries", () => {
    const j = new Journal({ capacity: 3 });
    for (let i = 0; i < 7; i++) j.record(rec("allowed", `x.io/a:${i}`));
    const s = j.snapshot();
    expect(s.entries.map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(s.entries.map((e) => e.images[0])).toEqual(["x.io/a:4", "x.io/a:5", "x.io/a:6"]);
    expect(s.counters.requests).toBe(7);
    expect(s.counters.dropped).toBe(4);
    expect(s.retained.entries).toBe(3);
  });

  it("keeps only as many bytes as allowed, dropping the oldest first and counting them", () => {
    const j = new Journal({ maxBytes: MIN_MAX_BYTES });
    // Each entry carries ~8 KB of image names: about 4 fit in 64 KiB.
    const big = (i: number): JournalRecord => ({ ...rec("denied"), images: Array.from({ length: 100 }, (_, k) => `x.io/${"a".repeat(30)}-${i}-${k}:1`) });
    for (let i = 0; i < 50; i++) j.record(big(i));
    const s = j.snapshot();
    expect(s.retained.bytes).toBeLessThanOrEqual(MIN_MAX_BYTES);
    expect(s.retained.bytes).toBe(s.entries.reduce((n, e) => n + entryBytes(e), 0));
    expect(s.entries.length).toBeGreaterThan(1);
    expect(s.entries.at(-1)!.seq).toBe(50);
    expect(s.counters).toMatchObject({ requests: 50, dropped: 50 - s.entries.length });
    // Oldest dropped first: what is kept is the newest run of seqs.
    expect(s.entries.map((e) => e.seq)).toEqual(Array.from({ length: s.entries.length }, (_, i) => 51 - s.entries.length + i));
  });

  it("stores an entry too big for the budget without its lists, counting what was left out", () => {
    const j = new Journal({ maxBytes: MIN_MAX_BYTES });
    j.record(rec("allowed"));
    const images = Array.from({ length: 2_000 }, (_, k) => `x.io/img-${k}:1`);
    const e = j.record({ ...rec("denied"), images, annotations: { "a.image-policy.k8s.io/x": "1" }, reason: "r".repeat(100_000) });
    expect(e).toMatchObject({ images: [], imagesOmitted: 2_000, annotations: {}, annotationsOmitted: 1 });
    expect(e.reason).toMatch(/^r{4096}… \(95904 more characters not kept\)$/);
    const s = j.snapshot();
    expect(s.retained.bytes).toBeLessThanOrEqual(MIN_MAX_BYTES);
    expect(s.entries.map((x) => x.seq)).toEqual([1, 2]);
  });

  it("counts an AdmissionReview's fields in the byte estimate and cuts them in an oversize entry", () => {
    const admission = { uid: "u-1", kind: "Pod", resource: "pods", operation: "CREATE", name: "web", dryRun: false, user: "alice" };
    const plain = entryBytes({ ...rec("allowed"), seq: 1, time: "t", atMs: 0 });
    const withAdmission = entryBytes({ ...rec("allowed"), review: "AdmissionReview", admission, seq: 1, time: "t", atMs: 0 });
    expect(withAdmission).toBeGreaterThan(plain + 2 * "AdmissionReview".length + 2 * "u-1PodpodsCREATEwebalice".length);
    const j = new Journal({ maxBytes: MIN_MAX_BYTES });
    const e = j.record({ ...rec("denied"), review: "AdmissionReview", admission: { ...admission, uid: "u".repeat(100_000), user: "a".repeat(100_000) } });
    expect(e.admission).toMatchObject({ uid: "u".repeat(1_024), user: "a".repeat(1_024), kind: "Pod", name: "web", dryRun: false });
    expect(j.snapshot().retained.bytes).toBeLessThanOrEqual(MIN_MAX_BYTES);
    j.snapshot().entries[0]!.admission!.uid = "mutated";
    expect(j.snapshot().entries[0]!.admission!.uid).toBe("u".repeat(1_024));
  });

  it("costs time linear in the entry size", () => {
    const j = new Journal();
    const images = Array.from({ length: 50_000 }, (_, k) => `x.io/img-${k}:1`);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) j.record({ ...rec("denied"), images });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it("reset clears entries and counters but seq keeps increasing", () => {
    const j = new Journal();
    j.record(rec("allowed"));
    j.record(rec("denied"));
    j.reset();
    expect(j.snapshot()).toEqual({ entries: [], counters: { requests: 0, allowed: 0, denied: 0, faults: 0, invalid: 0, dropped: 0 }, lastSeq: 2, retained: { entries: 0, bytes: 0 } });
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
    expect(() => new Journal({ maxBytes: 1_000 })).toThrow(RangeError);
  });
});
