// Every request the review endpoint received, in a bounded ring. Conformance scenarios assert on it
// (call counts, gaps between retries, forwarded annotations), so sequence numbers never repeat, even
// across a reset, and a caller can take a mark and later ask only for what came after it.
// Bounded twice: by entries and by (estimated) bytes, because one review may carry up to the body
// limit in image names; the oldest entries go first and are counted in `counters.dropped`.
import type { AdmissionSummary, Counters, JournalEntry, JournalQuery, JournalSnapshot } from "./types.ts";

/** Default ring size: far above what a scenario produces, small enough to stay a few MB. */
export const DEFAULT_JOURNAL_CAPACITY = 10_000;
/**
 * Default byte budget (estimated, see `entryBytes`): 10,000 ordinary entries take about 9 MiB, while
 * reviews of 1 MiB full of long unique image names take about 2 MiB each. 16 MiB keeps every ordinary
 * entry the count allows, and took 30-45 MB off the stub's peak RSS under a stream of 1 MB reviews
 * compared with 32 MiB (bench/stub-soak.ts).
 */
export const DEFAULT_JOURNAL_MAX_BYTES = 16 * 1_048_576;
/** A reason longer than this is cut when an entry alone would not fit the byte budget. */
const OVERSIZE_REASON_CHARS = 4_096;
/**
 * An AdmissionReview summary field (uid, name, user, …) longer than this is cut in such an entry:
 * real ones are names of at most 253 characters, and all six cut stay far below MIN_MAX_BYTES.
 */
const OVERSIZE_ADMISSION_FIELD_CHARS = 1_024;

/** What the server knows when it records a request; seq, time and atMs are filled in here. */
export type JournalRecord = Omit<JournalEntry, "seq" | "time" | "atMs">;

export interface JournalClock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic ms. */
  monotonic(): number;
}

export interface JournalOptions {
  /** Most entries kept. Default DEFAULT_JOURNAL_CAPACITY (10,000). */
  capacity?: number;
  /** Most estimated bytes kept (see `entryBytes`). Default DEFAULT_JOURNAL_MAX_BYTES (16 MiB). */
  maxBytes?: number;
  clock?: JournalClock;
}

const systemClock: JournalClock = { now: () => Date.now(), monotonic: () => performance.now() };

export class Journal {
  readonly #capacity: number;
  readonly #maxBytes: number;
  readonly #clock: JournalClock;
  readonly #startedMs: number;
  /** Ring buffer of entries and their estimated sizes; `#head` is the oldest slot. */
  #ring: (JournalEntry | undefined)[];
  #sizes: number[];
  #head = 0;
  #size = 0;
  #bytes = 0;
  #lastSeq = 0;
  #counters: Counters = zeroCounters();

  constructor(options: JournalOptions = {}) {
    this.#capacity = options.capacity ?? DEFAULT_JOURNAL_CAPACITY;
    this.#maxBytes = options.maxBytes ?? DEFAULT_JOURNAL_MAX_BYTES;
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) throw new RangeError(`journal capacity must be a positive integer, got ${this.#capacity}`);
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < MIN_MAX_BYTES) {
      throw new RangeError(`journal maxBytes must be an integer of at least ${MIN_MAX_BYTES}, got ${this.#maxBytes}`);
    }
    this.#clock = options.clock ?? systemClock;
    this.#startedMs = this.#clock.monotonic();
    this.#ring = new Array(this.#capacity);
    this.#sizes = new Array(this.#capacity).fill(0);
  }

  /** Milliseconds since the journal (the stub) started, on the monotonic clock. */
  elapsedMs(): number {
    return this.#clock.monotonic() - this.#startedMs;
  }

  /**
   * Records a request and returns the stored entry. The server may still update `status` and
   * `latencyMs` on it until the response finishes (a hanging request shows status 0 meanwhile).
   * Older entries are dropped until the new one fits both limits; an entry too big to fit on its
   * own is stored without its images and annotations (counted in `imagesOmitted` and
   * `annotationsOmitted`) and with its reason (and AdmissionReview summary fields) cut.
   */
  record(rec: JournalRecord, receivedAtMs = this.elapsedMs()): JournalEntry {
    let entry: JournalEntry = {
      seq: ++this.#lastSeq,
      time: new Date(this.#clock.now() - (this.elapsedMs() - receivedAtMs)).toISOString(),
      atMs: round(receivedAtMs),
      ...rec,
    };
    let bytes = entryBytes(entry);
    if (bytes > this.#maxBytes) {
      entry = shrink(entry);
      bytes = entryBytes(entry);
    }
    while (this.#size > 0 && (this.#size === this.#capacity || this.#bytes + bytes > this.#maxBytes)) this.#dropOldest();
    const slot = (this.#head + this.#size) % this.#capacity;
    this.#ring[slot] = entry;
    this.#sizes[slot] = bytes;
    this.#size++;
    this.#bytes += bytes;
    this.#counters.requests++;
    this.#counters[COUNTER_OF[entry.outcome]]++;
    return entry;
  }

  #dropOldest(): void {
    this.#bytes -= this.#sizes[this.#head]!;
    this.#ring[this.#head] = undefined;
    this.#sizes[this.#head] = 0;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size--;
    this.#counters.dropped++;
  }

  /** Entries with seq > `since` (oldest first), counters since the last reset, and the highest seq. */
  snapshot(query: JournalQuery = {}): JournalSnapshot {
    const since = query.since ?? 0;
    const entries: JournalEntry[] = [];
    for (let i = 0; i < this.#size; i++) {
      const e = this.#ring[(this.#head + i) % this.#capacity]!;
      if (e.seq > since) entries.push(copy(e));
    }
    return { entries, counters: { ...this.#counters }, lastSeq: this.#lastSeq, retained: { entries: this.#size, bytes: this.#bytes } };
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Drops all entries and zeroes the counters; sequence numbers continue. */
  reset(): void {
    this.#ring = new Array(this.#capacity);
    this.#sizes = new Array(this.#capacity).fill(0);
    this.#head = 0;
    this.#size = 0;
    this.#bytes = 0;
    this.#counters = zeroCounters();
  }
}

/** The smallest byte budget accepted: room for a few entries with a cut reason. */
export const MIN_MAX_BYTES = 65_536;

const COUNTER_OF = { allowed: "allowed", denied: "denied", fault: "faults", invalid: "invalid" } as const;

/** Fixed cost of an entry object with its numbers and short fields. */
const ENTRY_OVERHEAD_BYTES = 256;
/** Cost of one string besides its characters (V8 header, pointer to it). */
const STRING_OVERHEAD_BYTES = 32;
/** Fixed cost of an AdmissionReview summary object (its boolean and the object itself). */
const ADMISSION_OVERHEAD_BYTES = 64;

/**
 * An upper estimate of the memory an entry holds: V8 stores a string in 1 or 2 bytes per UTF-16 unit,
 * so count 2, plus per-string and per-entry overhead. Linear in the entry's size.
 */
export function entryBytes(e: JournalEntry): number {
  const s = (v: string | undefined) => (v === undefined ? 0 : STRING_OVERHEAD_BYTES + 2 * v.length);
  let n = ENTRY_OVERHEAD_BYTES + s(e.time) + s(e.method) + s(e.url) + s(e.namespace) + s(e.reason) + s(e.fault) + s(e.review);
  const a = e.admission;
  if (a) n += ADMISSION_OVERHEAD_BYTES + s(a.uid) + s(a.kind) + s(a.resource) + s(a.operation) + s(a.name) + s(a.user);
  for (const image of e.images) n += s(image);
  for (const [k, v] of Object.entries(e.annotations)) n += s(k) + s(v);
  if (e.auditAnnotations) for (const [k, v] of Object.entries(e.auditAnnotations)) n += s(k) + s(v);
  return n;
}

// What is kept of an entry that alone exceeds the byte budget: everything but the bulky lists.
function shrink(e: JournalEntry): JournalEntry {
  const reason =
    e.reason !== undefined && e.reason.length > OVERSIZE_REASON_CHARS
      ? `${e.reason.slice(0, OVERSIZE_REASON_CHARS)}… (${e.reason.length - OVERSIZE_REASON_CHARS} more characters not kept)`
      : e.reason;
  const annotations = Object.keys(e.annotations).length;
  return {
    ...e,
    images: [],
    imagesOmitted: (e.imagesOmitted ?? 0) + e.images.length,
    annotations: {},
    ...(annotations ? { annotationsOmitted: annotations } : {}),
    ...(reason !== undefined ? { reason } : {}),
    url: e.url.length > OVERSIZE_REASON_CHARS ? e.url.slice(0, OVERSIZE_REASON_CHARS) : e.url,
    ...(e.admission ? { admission: shrinkAdmission(e.admission) } : {}),
  };
}

function shrinkAdmission(a: AdmissionSummary): AdmissionSummary {
  const cut = (v: string) => (v.length > OVERSIZE_ADMISSION_FIELD_CHARS ? v.slice(0, OVERSIZE_ADMISSION_FIELD_CHARS) : v);
  return {
    uid: cut(a.uid),
    kind: cut(a.kind),
    resource: cut(a.resource),
    operation: cut(a.operation),
    ...(a.name !== undefined ? { name: cut(a.name) } : {}),
    dryRun: a.dryRun,
    ...(a.user !== undefined ? { user: cut(a.user) } : {}),
  };
}

function zeroCounters(): Counters {
  return { requests: 0, allowed: 0, denied: 0, faults: 0, invalid: 0, dropped: 0 };
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
    ...(e.admission ? { admission: { ...e.admission } } : {}),
  };
}
