// Polling waits with explicit budgets; errors say what was awaited and for how long.
import { WaitTimeoutError } from "./errors.ts";

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** Checked before every poll: throw to stop waiting (e.g. the process exited). */
  abortIf?: () => void;
}

/** Polls `check` until it returns a value other than undefined, or the budget runs out. */
export async function waitFor<T>(target: string, check: () => Promise<T | undefined>, o: WaitOptions): Promise<T> {
  const deadline = performance.now() + o.timeoutMs;
  let last: unknown;
  for (;;) {
    o.signal?.throwIfAborted();
    o.abortIf?.();
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (performance.now() >= deadline) {
      throw new WaitTimeoutError(target, o.timeoutMs, last instanceof Error ? `last error: ${last.message}` : undefined);
    }
    await sleep(o.intervalMs ?? 100, o.signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
