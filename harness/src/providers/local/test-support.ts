// Helpers for the local provider's end-to-end tests: run the CLI in-process or as a real child
// process, find processes of a lab by its state dir, list what a state dir still holds, and ask the
// apiserver for a server-side dry-run pod create. Test-only; nothing in the library imports this.
import { spawn, type ChildProcess } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiException, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { runCliInProcess } from "../../../test/cli-in-process.ts";
import { createCA } from "../../pki/pki.ts";
import { observedStatus, statusMessage } from "../../scenario/k8s-actions.ts";
import { freePort } from "../../util/ports.ts";
import { sleep } from "../../util/wait.ts";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../../../../", import.meta.url)));
const CLI = join(REPO_ROOT, "bin/imagepolicy-lab.mjs");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process (the `run(argv, io)` entry), capturing its output. */
export function runCli(argv: string[]): Promise<CliResult> {
  return runCliInProcess(argv, { cwd: REPO_ROOT, env: { ...process.env, CI: "1" } });
}

/** The admin kubeconfig a lab started with `--state-dir DIR` writes (`DIR/kubeconfig`). */
export function labKubeConfig(stateDir: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(join(stateDir, "kubeconfig"));
  return kc;
}

export interface CliChild {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  /** Resolves with the exit code (128+n for a signal) once the process has exited. */
  readonly exited: Promise<number>;
  /** Resolves when stderr matches `re`; rejects when the process exits first or the budget runs out. */
  waitForStderr(re: RegExp, timeoutMs: number): Promise<void>;
}

/** Runs `node bin/imagepolicy-lab.mjs ARGS` as a real child process, the way a user does. */
export function spawnCli(argv: string[]): CliChild {
  const child = spawn(process.execPath, [CLI, ...argv], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: "1", CI: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (output.stdout += String(d)));
  child.stderr!.on("data", (d) => (output.stderr += String(d)));
  const SIGNALS: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  const exited = new Promise<number>((resolveExit) => child.on("close", (code, signal) => resolveExit(code ?? 128 + (SIGNALS[signal ?? ""] ?? 0))));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    output,
    exited,
    async waitForStderr(re, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (!re.test(output.stderr)) {
        if (done) throw new Error(`the CLI exited before stderr matched ${re}; stderr:\n${output.stderr}`);
        if (performance.now() > deadline) throw new Error(`stderr did not match ${re} within ${timeoutMs}ms; stderr:\n${output.stderr}`);
        await sleep(20);
      }
    },
  };
}

/** Runs the CLI as a child process to completion. */
export async function execCli(argv: string[], timeoutMs = 180_000): Promise<CliResult> {
  const c = spawnCli(argv);
  const timer = setTimeout(() => c.child.kill("SIGKILL"), timeoutMs);
  const code = await c.exited.finally(() => clearTimeout(timer));
  return { code, ...c.output };
}

/** Every process (other than this one) whose command line mentions `marker`, e.g. a lab's state dir. */
export async function processesMentioning(marker: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    // Zombies have an empty cmdline; they no longer run anything.
    if (cmdline.includes(marker)) found.push({ pid, cmdline: cmdline.split("\0").join(" ").trim() });
  }
  return found;
}

/** Whether a process with this pid exists and is not a zombie. */
export async function pidRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!stat) return false;
  // Field 3 (after the parenthesised command name) is the state; Z is a zombie.
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

/** Files under `dir` outside logs/, as relative paths: what a stopped lab must not leave behind. */
export async function filesOutsideLogs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((p) => p !== "logs" && !p.startsWith(`logs/`))
    .sort();
}

/** A loopback port nobody listens on (allocated, then released). */
export async function closedPort(): Promise<number> {
  return freePort();
}

/** Writes a throwaway CA certificate (for `--backend-ca` of a backend that never answers). */
export async function writeSomeCa(dir: string): Promise<string> {
  const ca = await createCA("imagepolicy-lab e2e unreachable backend CA");
  const file = join(dir, "unreachable-backend-ca.crt");
  await writeFile(file, ca.certPem);
  return file;
}

export interface DryRunOutcome {
  allowed: boolean;
  /** The HTTP status received; undefined when none was observed. */
  code: number | undefined;
  message: string;
}

/** A server-side dry-run pod create: runs admission (ImagePolicyWebhook included), stores nothing. */
export async function dryRunPod(kc: KubeConfig, o: { name: string; image: string; namespace?: string }): Promise<DryRunOutcome> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    const res = await core.createNamespacedPodWithHttpInfo({
      namespace: o.namespace ?? "default",
      dryRun: "All",
      body: { metadata: { name: o.name }, spec: { containers: [{ name: "c", image: o.image }] } },
    });
    return { allowed: true, code: observedStatus(res.httpStatusCode), message: "" };
  } catch (err) {
    if (err instanceof ApiException) return { allowed: false, code: observedStatus(err.code), message: statusMessage(err.body) };
    throw err;
  }
}

/** Polls `check` until it returns a value, or throws naming `what` and the budget. */
export async function pollFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs}ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(intervalMs);
  }
}
