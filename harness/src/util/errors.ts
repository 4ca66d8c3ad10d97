// The few error types the library throws. Callers branch on `instanceof` and fields, never on text;
// the CLI maps them to exit codes in one place (cli/exit-codes.ts).

/** Base class: every error the library means to throw. `cause` carries the lower layer's error. */
export class LabError extends Error {
  override name = "LabError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One problem in a config or scenario file: where it is and what was expected. */
export interface ConfigIssue {
  /** File the problem is in, or a label such as `--allow-ttl` for command-line input. */
  file: string;
  /** 1-based line, when the source is a file whose position is known. */
  line?: number;
  /** Dot path of the field, e.g. `steps.2.expect.backendCalls`. Empty for the document itself. */
  path: string;
  message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line ? `${issue.file}:${issue.line}` : issue.file;
  return `${where}: ${issue.path ? `${issue.path}: ` : ""}${issue.message}`;
}

/** Invalid input (profile, policy, scenario). Nothing was started. */
export class ConfigError extends LabError {
  override name = "ConfigError";
  constructor(
    readonly issues: ConfigIssue[],
    summary = "invalid configuration",
  ) {
    super(`${summary}:\n${issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`);
  }
}

/** A command we ran failed; keeps argv and output so the CLI can show them. */
export class CommandError extends LabError {
  override name = "CommandError";
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly output: string,
    readonly shortMessage: string,
  ) {
    super(`${shortMessage}\n${output.trim().split("\n").slice(-30).join("\n")}`);
  }
}

/** A wait ran out of budget; names what was awaited and for how long. */
export class WaitTimeoutError extends LabError {
  override name = "WaitTimeoutError";
  constructor(
    readonly target: string,
    readonly budgetMs: number,
    detail?: string,
  ) {
    super(`${target} not ready within ${budgetMs}ms${detail ? `: ${detail}` : ""}`);
  }
}

/** A process of ours exited while we waited for it. */
export class ProcessExitedError extends LabError {
  override name = "ProcessExitedError";
  constructor(
    readonly component: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly logTail: string,
  ) {
    super(
      `${component} exited (${signal ? `signal ${signal}` : `code ${exitCode}`}) before it was ready; last log lines:\n${logTail}`,
    );
  }
}

/** A provider cannot run on this machine; `reasons` says each thing that is missing and how to fix it. */
export class ProviderUnavailableError extends LabError {
  override name = "ProviderUnavailableError";
  constructor(
    readonly provider: string,
    readonly reasons: string[],
  ) {
    super(`provider "${provider}" is not usable here:\n${reasons.map((r) => `  - ${r}`).join("\n")}`);
  }
}

/** Binaries could not be found or made; `attempts` lists every place tried. */
export class BinariesUnavailableError extends LabError {
  override name = "BinariesUnavailableError";
  constructor(
    readonly attempts: string[],
    readonly hint: string,
  ) {
    super(`could not find or build the Kubernetes binaries; tried:\n${attempts.map((a) => `  - ${a}`).join("\n")}\n${hint}`);
  }
}

/** Wraps a lower error with a "failed to <verb> <object>" context, keeping the cause. */
export function wrap(context: string, err: unknown): LabError {
  if (err instanceof LabError && err.message.startsWith(context)) return err;
  const inner = err instanceof Error ? err.message : String(err);
  const wrapped = new LabError(`${context}: ${inner}`, { cause: err });
  return wrapped;
}

/**
 * Teardown failures reported together: an AggregateError whose message names every part that failed,
 * because the CLI prints the message chain, not `errors`.
 */
export function partsFailed(summary: string, errors: unknown[]): AggregateError {
  const parts = errors.map((e) => {
    if (e instanceof CommandError) return [e.shortMessage, e.output.trim().split("\n").pop()].filter(Boolean).join(": ");
    return e instanceof Error ? e.message.split("\n")[0] : String(e);
  });
  return new AggregateError(errors, `${summary}: ${parts.join("; ")}`);
}
