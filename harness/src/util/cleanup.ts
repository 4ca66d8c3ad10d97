// Everything the harness starts registers its teardown here, so SIGINT, SIGTERM and normal exit
// stop processes, containers and temp dirs. One registry per process, created on first use and
// passed explicitly where tests need isolation.

type Cleanup = () => Promise<void> | void;

export class CleanupRegistry {
  private readonly entries = new Map<number, { name: string; fn: Cleanup }>();
  private nextId = 1;
  private signalsInstalled = false;
  private running: Promise<void> | undefined;

  /** Registers a cleanup; returns a function that unregisters it (call it after a normal stop). */
  add(name: string, fn: Cleanup): () => void {
    const id = this.nextId++;
    this.entries.set(id, { name, fn });
    return () => this.entries.delete(id);
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
   * A second signal while cleaning up exits at once.
   */
  installSignalHandlers(onSignal?: (signal: NodeJS.Signals) => void): void {
    if (this.signalsInstalled) return;
    this.signalsInstalled = true;
    let interrupted = false;
    for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
      process.on(sig, () => {
        if (interrupted) process.exit(code);
        interrupted = true;
        onSignal?.(sig);
        this.runAll()
          .catch((err) => process.stderr.write(`${(err as Error).message}\n`))
          .finally(() => process.exit(code));
      });
    }
  }
}

/** The process-wide registry used by the CLI and by labs that are not given one. */
export const processCleanup = new CleanupRegistry();
