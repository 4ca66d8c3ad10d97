// A cross-process lock file, so two lab processes never build or download the same release at once:
// the second waits and then finds the first one's result in the cache. The file is created complete
// (written aside, then hard-linked into place, which fails if it exists), so a reader never sees an
// empty lock. A lock whose holder died on this host is taken over.
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { setTimeout as sleepTimer } from "node:timers/promises";
import { WaitTimeoutError } from "../util/errors.ts";

export interface LockHolder {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  since: string;
  /** What the holder is doing, e.g. "building Kubernetes v1.36.1". */
  purpose: string;
}

export interface LockOptions {
  /** Written into the lock so a waiting process can say what it waits for. */
  purpose: string;
  /** Give up waiting after this long; default 2_700_000 (45 min: a cold build on 2 cores takes ~10). */
  timeoutMs?: number;
  /** Poll interval while waiting; default 1_000. */
  pollMs?: number;
  signal?: AbortSignal;
  /** Called on each poll while another process holds the lock. */
  onWait?: (holder: LockHolder | undefined, waitedMs: number) => void;
  /** Injected for tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface HeldLock {
  /** Whether we had to wait for another process first (then re-check the cache). */
  readonly waited: boolean;
  release(): Promise<void>;
}

/** Takes the lock at `path`, waiting while a live process holds it. */
export async function acquireLock(path: string, options: LockOptions): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? 2_700_000;
  const pollMs = options.pollMs ?? 1_000;
  const sleep = options.sleep ?? ((ms, signal) => sleepTimer(ms, undefined, { signal }));
  const now = options.now ?? Date.now;
  const me: LockHolder = { pid: process.pid, hostname: hostname(), since: new Date(now()).toISOString(), purpose: options.purpose };
  const started = now();
  let waited = false;
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    options.signal?.throwIfAborted();
    if (await tryCreate(path, me)) {
      let released = false;
      return {
        waited,
        async release() {
          if (released) return;
          released = true;
          // Only remove the lock if it is still ours (a takeover after a false stale guess is possible in theory).
          const holder = await readHolder(path);
          if (holder && holder.pid === me.pid && holder.hostname === me.hostname && holder.since === me.since) {
            await rm(path, { force: true });
          }
        },
      };
    }
    const holder = await readHolder(path);
    if (holder && isStale(holder)) {
      await rm(path, { force: true });
      continue;
    }
    const waitedMs = now() - started;
    if (waitedMs >= timeoutMs) {
      throw new WaitTimeoutError(
        `lock ${path}`,
        timeoutMs,
        holder ? `held by pid ${holder.pid} on ${holder.hostname} since ${holder.since} (${holder.purpose})` : "holder unknown",
      );
    }
    waited = true;
    options.onWait?.(holder, waitedMs);
    await sleep(pollMs, options.signal);
  }
}

async function tryCreate(path: string, me: LockHolder): Promise<boolean> {
  const tmp = `${path}.${me.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, JSON.stringify(me));
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

/** A holder on this host whose process is gone; holders on other hosts (shared cache) are trusted. */
function isStale(holder: LockHolder): boolean {
  if (holder.hostname !== hostname() || !Number.isInteger(holder.pid)) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
