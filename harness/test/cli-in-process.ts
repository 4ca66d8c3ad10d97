// The CLI in-process with captured output, for tests: `run(argv, io)` from cli/main.ts with stdout
// and stderr collected as text (color escapes stripped, so text compares plainly).
import { Writable } from "node:stream";
import type { CliIO } from "../src/cli/io.ts";
import { run } from "../src/cli/main.ts";

export interface CapturedIO extends CliIO {
  out(): string;
  err(): string;
}

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

/** A CliIO that records what the command writes. `env` defaults to none at all besides NO_COLOR. */
export function captureIO(cwd: string, env: NodeJS.ProcessEnv = {}): CapturedIO {
  let out = "";
  let err = "";
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(String(chunk));
        cb();
      },
    });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    env: { NO_COLOR: "1", ...env },
    cwd,
    out: () => plain(out),
    err: () => plain(err),
  };
}

/** Runs the CLI once in `cwd`; resolves to its exit code and what it wrote. */
export async function runCliInProcess(argv: string[], o: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIO(o.cwd, o.env);
  const code = await run(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}
