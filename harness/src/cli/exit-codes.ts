// The one place errors become exit codes and messages.
import pc from "picocolors";
import { CommandError, LabError } from "../util/errors.ts";
import type { CliIO } from "./io.ts";

export const EXIT = { ok: 0, differs: 1, labFailed: 2 } as const;

/** Prints an error chain on one line per layer and returns the exit code. */
export function reportError(io: CliIO, err: unknown, verbose = false): number {
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`${pc.red("ERROR:")} ${message}\n`);
  let cause = err instanceof Error ? err.cause : undefined;
  while (cause instanceof Error) {
    if (!message.includes(cause.message)) io.stderr.write(`  caused by: ${cause.message}\n`);
    if (cause instanceof CommandError) io.stderr.write(`  command: ${cause.argv.join(" ")}\n`);
    cause = cause.cause;
  }
  if (verbose && err instanceof Error && err.stack) io.stderr.write(pc.dim(`${err.stack}\n`));
  // ConfigError is a LabError too: every error means the lab could not run; only a foreign one is a surprise.
  if (!(err instanceof LabError) && !verbose) io.stderr.write(pc.dim("(an unexpected error; run with -v for the stack)\n"));
  return EXIT.labFailed;
}
