// Every request the review endpoint received, in a bounded ring. Conformance scenarios assert on it
// (call counts, gaps between retries, forwarded annotations), so sequence numbers never repeat, even
// across a reset, and a caller can take a mark and later ask only for what came after it.
import type { Counters, JournalEntry, JournalQuery, JournalSnapshot } from "./types.ts";

/** Default ring size: far above what a scenario produces, small enough to stay a few MB. */
export const DEFAULT_JOURNAL_CAPACITY = 10_000;

/** What the server knows when it records a request; seq, time and atMs are filled in here. */
export type JournalRecord = Omit<JournalEntry, "seq" | "time" | "atMs">;

export interface JournalClock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic ms. */
  monotonic(): number;
}

const systemClock: JournalClock = { now: () => Date.now(), monotonic: () => performance.now() };

export class Journal {
  readonly #capacity: number;
  readonly #clock: JournalClock;
  readonly #startedMs: number;
  /** Ring buffer; `#head` is the next slot to write. */
  #ring: (JournalEntry | undefined)[];
  #head = 0;
  #size = 0;
  #lastSeq = 0;
  #counters: Counters = zeroCounters();

  constructor(options: { capacity?: number; clock?: JournalClock } = {}) {
    this.#capacity = options.capacity ?? DEFAULT_JOURNAL_CAPACITY;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) throw new RangeError(`journal capacity must be a positive integer, got ${this.#capacity}`);
    this.#clock = options.clock ?? systemClock;
    this.#startedMs = this.#clock.monotonic();
    this.#ring = new Array(this.#capacity);
  }

  /** Milliseconds since the journal (the stub) started, on the monotonic clock. */
  elapsedMs(): number {
    return this.#clock.monotonic() - this.#startedMs;
  }

  /**
   * Records a request and returns the stored entry. The server may still update `status` and
   * `latencyMs` on it until the response finishes (a hanging request shows status 0 meanwhile).
   */
  record(rec: JournalRecord, receivedAtMs = this.elapsedMs()): JournalEntry {
    const entry: JournalEntry = {
      seq: ++this.#lastSeq,
      time: new Date(this.#clock.now() - (this.elapsedMs() - receivedAtMs)).toISOString(),
      atMs: round(receivedAtMs),
      ...rec,
    };
    this.#ring[this.#head] = entry;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size = Math.min(this.#size + 1, this.#capacity);
    this.#counters.requests++;
    this.#counters[COUNTER_OF[entry.outcome]]++;
    return entry;
  }

  /** Entries with seq > `since` (oldest first), counters since the last reset, and the highest seq. */
  snapshot(query: JournalQuery = {}): JournalSnapshot {
    const since = query.since ?? 0;
    const entries: JournalEntry[] = [];
    const start = (this.#head - this.#size + this.#capacity) % this.#capacity;
    for (let i = 0; i < this.#size; i++) {
      const e = this.#ring[(start + i) % this.#capacity]!;
      if (e.seq > since) entries.push(copy(e));
    }
    return { entries, counters: { ...this.#counters }, lastSeq: this.#lastSeq };
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Drops all entries and zeroes the counters; sequence numbers continue. */
  reset(): void {
    this.#ring = new Array(this.#capacity);
    this.#head = 0;
    this.#size = 0;
    this.#counters = zeroCounters();
  }
}

const COUNTER_OF = { allowed: "allowed", denied: "denied", fault: "faults", invalid: "invalid" } as const;

function zeroCounters(): Counters {
  return { requests: 0, allowed: 0, denied: 0, faults: 0, invalid: 0 };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function copy(e: JournalEntry): JournalEntry {
  return {
    ...e,
    images: [...e.images],
    annotations: { ...e.annotations },
    ...(e.auditAnnotations ? { auditAnnotations: { ...e.auditAnnotations } } : {}),
  };
}
