// Everything the harness starts registers its teardown here, so SIGINT, SIGTERM and SIGHUP stop
// processes, containers and temp dirs (a normal stop unregisters its own entry). One registry per
// process, created on first use and passed explicitly where tests need isolation.

type Cleanup = () => Promise<void> | void;

export class CleanupRegistry {
  private readonly entries = new Map<number, { name: string; fn: Cleanup }>();
  private nextId = 1;
  private signalsInstalled = false;
  private running: Promise<void> | undefined;
  private interruptedBy: NodeJS.Signals | undefined;

  /** The signal that started the cleanup, once one arrived: work failing after it was cut short on purpose. */
  get interrupted(): NodeJS.Signals | undefined {
    return this.interruptedBy;
  }

  /** Registers a cleanup; returns a function that unregisters it (call it after a normal stop). */
  add(name: string, fn: Cleanup): () => void {
    const id = this.nextId++;
    this.entries.set(id, { name, fn });
    return () => this.entries.delete(id);
  }

  /**
   * Registers a teardown and returns its `stop`, which runs it once: every caller (a handle's stop(),
   * a signal's runAll) awaits the same run, and the entry is dropped only when the run has finished,
   * so a signal that arrives during a stop waits for it instead of exiting halfway. `release` drops
   * the entry without running it (for things handed over to outlive this process).
   */
  own(name: string, teardown: () => Promise<void>): { stop: () => Promise<void>; release: () => void } {
    let run: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (run ??= (async () => {
        try {
          await teardown();
        } finally {
          release();
        }
      })());
    const release = this.add(name, stop);
    return { stop, release };
  }

  get size(): number {
    return this.entries.size;
  }

  /** Runs every registered cleanup, newest first; collects failures instead of stopping at one. */
  async runAll(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      const errors: unknown[] = [];
      for (const [id, { name, fn }] of [...this.entries].reverse()) {
        this.entries.delete(id);
        try {
          await fn();
        } catch (err) {
          errors.push(new Error(`cleanup ${name} failed: ${(err as Error).message}`, { cause: err }));
        }
      }
      if (errors.length) throw new AggregateError(errors, "some cleanups failed");
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Installs SIGINT/SIGTERM/SIGHUP handlers that run every cleanup and then exit with 128+signal.
   * One Ctrl-C often arrives more than once: the terminal signals the whole process group, and
   * `npm run` and bin/run-ts.mjs forward the signal again. Repeats within DUPLICATE_SIGNAL_MS of
   * the first are treated as that same interrupt; a signal after that exits at once.
   */
  installSignalHandlers(onSignal?: (signal: NodeJS.Signals) => void, host: SignalHost = defaultSignalHost): void {
    if (this.signalsInstalled) return;
    this.signalsInstalled = true;
    let firstAt: number | undefined;
    for (const [sig, code] of Object.entries(SIGNAL_EXIT_CODES) as Array<[NodeJS.Signals, number]>) {
      host.on(sig, () => {
        if (firstAt !== undefined) {
          if (host.now() - firstAt >= DUPLICATE_SIGNAL_MS) host.exit(code);
          return;
        }
        firstAt = host.now();
        this.interruptedBy = sig;
        onSignal?.(sig);
        this.runAll()
          .catch((err) => host.stderr((err as Error).message))
          .finally(() => host.exit(code));
      });
    }
  }
}

/** The signals the CLI handles, and the exit code each ends the process with (128 + signal number). */
export const SIGNAL_EXIT_CODES = Object.freeze({ SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const);

/** How long after a signal a repeat counts as the same interrupt (see installSignalHandlers). */
export const DUPLICATE_SIGNAL_MS = 1_000;

/** What the signal handlers need from the process; injected by tests. */
export interface SignalHost {
  on(signal: NodeJS.Signals, handler: () => void): void;
  exit(code: number): void;
  now(): number;
  stderr(line: string): void;
}

const defaultSignalHost: SignalHost = {
  on: (signal, handler) => void process.on(signal, handler),
  exit: (code) => process.exit(code),
  now: () => performance.now(),
  stderr: (line) => void process.stderr.write(`${line}\n`),
};

/** The process-wide registry used by the CLI and by labs that are not given one. */
export const processCleanup = new CleanupRegistry();
