// Logging and progress reach the library through these interfaces; the default does nothing, and the
// CLI supplies terminal renderers. No module-level singletons.

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };

/** Long work reports here: a named task starts, updates its status line, and ends. */
export interface Progress {
  start(task: string): ProgressTask;
}

export interface ProgressTask {
  update(status: string): void;
  succeed(detail?: string): void;
  fail(detail?: string): void;
}

export const silentProgress: Progress = {
  start: () => ({ update() {}, succeed() {}, fail() {} }),
};

/** Runs `fn` as a progress task: succeed with elapsed time, or fail and rethrow. */
export async function task<T>(progress: Progress | undefined, name: string, fn: (t: ProgressTask) => Promise<T>): Promise<T> {
  const t = (progress ?? silentProgress).start(name);
  const started = performance.now();
  try {
    const result = await fn(t);
    t.succeed(`${((performance.now() - started) / 1000).toFixed(1)}s`);
    return result;
  } catch (err) {
    t.fail(err instanceof Error ? err.message.split("\n")[0] : String(err));
    throw err;
  }
}
