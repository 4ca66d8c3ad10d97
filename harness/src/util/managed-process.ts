// A child process we own: output to a log file, exit observed, stop = SIGTERM then SIGKILL.
// Children get their own process group so a terminal's Ctrl-C reaches only us, and our cleanup
// stops them in order (controller-manager, apiserver, etcd).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { ProcessExitedError } from "./errors.ts";
import { sleep } from "./wait.ts";

export interface ProcessSpec {
  /** Component name used in messages, e.g. "kube-apiserver". */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Survive our exit (for `up`). */
  detached?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;

  private constructor(
    readonly spec: ProcessSpec,
    child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`failed to start ${spec.name}: no pid`);
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
  }

  static async start(spec: ProcessSpec): Promise<ManagedProcess> {
    const fd = openSync(spec.logFile, "a", 0o600);
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        stdio: ["ignore", fd, fd],
        detached: true,
      });
      const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
      // `spawn` reports ENOENT/EACCES asynchronously; give it one turn to surface.
      const early = await Promise.race([spawnError, sleep(0).then(() => undefined)]);
      if (early) throw new Error(`failed to start ${spec.name} (${spec.command}): ${early.message}`);
      if (spec.detached) child.unref();
      return new ManagedProcess(spec, child);
    } finally {
      closeSync(fd);
    }
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Throws ProcessExitedError (with the log tail) if the process has exited. */
  async assertRunning(): Promise<void> {
    if (this.exitInfo) {
      throw new ProcessExitedError(this.spec.name, this.exitInfo.code, this.exitInfo.signal, await tailFile(this.spec.logFile, 25));
    }
  }

  /**
   * For `waitFor({ abortIf })`: throws at once when the process has exited, so a crash is not retried
   * until the budget runs out. The error has no log tail; callers follow up with `assertRunning`.
   */
  throwIfExited(): void {
    if (this.exitInfo) throw new ProcessExitedError(this.spec.name, this.exitInfo.code, this.exitInfo.signal, "");
  }

  /** A synchronous variant for wait loops; the log tail is read when the error is built by `assertRunning`. */
  exitedSync(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** SIGTERM, wait up to graceMs, then SIGKILL. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.signalGroup("SIGTERM");
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut && this.running) {
      this.signalGroup("SIGKILL");
      await this.exited;
    }
  }

  private signalGroup(sig: NodeJS.Signals): void {
    signalGroup(this.pid, sig);
  }
}

/** Signals a process group we started (`detached: true` makes the child its leader), else the pid alone. */
function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/** Stops a process we did not spawn in this process (e.g. `down` after `up`), checking it is ours. */
export async function stopPid(pid: number, expectInCmdline: string, graceMs = 5_000): Promise<"stopped" | "not-running" | "not-ours"> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  if (cmdline === undefined) return "not-running";
  if (!cmdline.includes(expectInCmdline)) return "not-ours";
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const kill = (sig: NodeJS.Signals) => signalGroup(pid, sig);
  kill("SIGTERM");
  const deadline = performance.now() + graceMs;
  while (alive() && performance.now() < deadline) await sleep(50);
  if (alive()) {
    kill("SIGKILL");
    while (alive()) await sleep(20);
  }
  return "stopped";
}

/** Last `lines` lines of a text file ("" when missing). Reads at most the last 64 KiB. */
export async function tailFile(file: string, lines: number): Promise<string> {
  let fh;
  try {
    fh = await open(file, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 65_536);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString("utf8").split("\n").filter(Boolean).slice(-lines).join("\n");
  } finally {
    await fh.close();
  }
}
