// `serve`: the stub as a standalone process, for the CLI (`imagepolicy-lab stub serve`) and the
// container image. Reads one JSON config file, writes an optional ready file, stops cleanly on
// SIGTERM/SIGINT. Only the entry guard at the bottom touches process exit codes.
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { ConfigError } from "../../harness/src/util/errors.ts";
import type { Logger } from "../../harness/src/util/logger.ts";
import { readYamlSource } from "../../harness/src/util/yaml-source.ts";
import { loadPolicyFile } from "./policy.ts";
import { schemaIssues } from "./schema-issues.ts";
import { DEFAULT_ADMISSION_PATH, DEFAULT_REVIEW_PATH, DEFAULT_STUB_LIMITS, startStub, type StartedStub } from "./server.ts";
import { MIN_MAX_BYTES } from "./journal.ts";

/**
 * Node flags for a stub process (the container's ENTRYPOINT in webhook-stub/Dockerfile carries the
 * same, and a test keeps them equal). V8's young generation grows to 64 MB by default; every review
 * of up to 1 MiB leaves a few MB of short-lived objects behind, and with the default the stub's RSS
 * settled near 350 MB under a stream of such reviews, against about 240 MB with 2 MB semi-spaces, at
 * the same throughput (bench/stub-soak.ts measures it).
 */
export const STUB_NODE_FLAGS: readonly string[] = Object.freeze(["--max-semi-space-size=2"]);

export const SERVE_CONFIG_API_VERSION = "imagepolicy-lab.dev/v1alpha1";
export const SERVE_CONFIG_KIND = "StubServeConfig";

const portField = z.number().int().min(0).max(65_535);
const positive = z.number().int().positive();
const D = DEFAULT_STUB_LIMITS;

/** `limits`: what one client can make the stub hold or do (server.ts StubLimits has each default's reason). */
const LimitsSchema = z
  .strictObject({
    maxBodyBytes: positive.default(D.maxBodyBytes).describe("Largest accepted request body in bytes; larger gets 413."),
    maxPendingBodyBytes: positive.default(D.maxPendingBodyBytes).describe("Most request-body bytes held at once across connections; more gets 429."),
    maxImagesPerReview: positive.default(D.maxImagesPerReview).describe("A review listing more images is denied unevaluated."),
    maxConnections: positive.default(D.maxConnections).describe("Most open connections on the review port; more are closed at once."),
    handshakeTimeoutMs: positive.default(D.handshakeTimeoutMs).describe("TLS handshakes not finished within this are dropped."),
    headersTimeoutMs: positive.default(D.headersTimeoutMs).describe("Request headers must arrive within this (408 and close)."),
    requestTimeoutMs: positive.default(D.requestTimeoutMs).describe("The whole request must arrive within this (408 and close)."),
    journalMaxEntries: positive.default(D.journalMaxEntries).describe("Most journal entries kept; oldest dropped first."),
    journalMaxBytes: z.number().int().min(MIN_MAX_BYTES).default(D.journalMaxBytes).describe("Most journal bytes kept (estimated); oldest dropped first."),
  })
  .refine((l) => l.headersTimeoutMs <= l.requestTimeoutMs, { path: ["headersTimeoutMs"], message: "must not exceed requestTimeoutMs" })
  .refine((l) => l.maxPendingBodyBytes >= l.maxBodyBytes, { path: ["maxPendingBodyBytes"], message: "must be at least maxBodyBytes" })
  .prefault({});

/** The `--config` file (JSON; relative paths are resolved against the file's directory). */
const ServeConfigSchema = z.strictObject({
  apiVersion: z.literal(SERVE_CONFIG_API_VERSION),
  kind: z.literal(SERVE_CONFIG_KIND),
  listen: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1").describe("Review listener address; 0.0.0.0 in a container."),
      port: portField.default(8443).describe("Review port; 0 picks a free one (see the ready file)."),
      path: z.string().startsWith("/").default(DEFAULT_REVIEW_PATH),
      admissionPath: z.string().startsWith("/").default(DEFAULT_ADMISSION_PATH).describe("Validating admission webhook path (AdmissionReview v1) on the review port."),
    })
    .prefault({}),
  control: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1").describe("Control listener address; 0.0.0.0 only when a port mapping needs it."),
      port: portField.default(8444),
    })
    .prefault({}),
  tls: z.strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    clientCAFile: z.string().min(1).optional().describe("Require and verify client certificates from this CA (mTLS)."),
  }),
  tokenFile: z.string().min(1).describe("File holding the control API's bearer token."),
  policyFile: z.string().min(1).optional().describe("StubPolicy YAML; default: DEFAULT_POLICY."),
  fault: z.string().optional().describe("Initial fault spec; default healthy."),
  limits: LimitsSchema,
});

/** What the harness writes to the `--config` file. */
export type StubServeConfig = z.input<typeof ServeConfigSchema>;

/** Contents of the `--ready-file`, written once both ports listen. */
export interface StubReadyFile {
  reviewUrl: string;
  /** The validating admission webhook's URL (same port as reviewUrl). */
  admissionUrl: string;
  reviewPort: number;
  controlUrl: string;
  controlPort: number;
  pid: number;
}

export interface ServeIo {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Stops the stub when aborted; default: SIGTERM or SIGINT. */
  signal?: AbortSignal;
}

const USAGE = `usage: serve --config FILE [--ready-file FILE] [--verbose]

Runs the ImagePolicyWebhook stub (and its validating admission webhook) until SIGTERM or SIGINT.
  --config FILE      JSON StubServeConfig (apiVersion ${SERVE_CONFIG_API_VERSION}, kind ${SERVE_CONFIG_KIND})
  --ready-file FILE  write {reviewUrl, admissionUrl, controlUrl, reviewPort, controlPort, pid} once listening; removed on exit
  --verbose          log TLS handshake failures and other debug detail to stderr
`;

interface ServeArgs {
  config: string;
  readyFile?: string;
  verbose: boolean;
}

/** Parses argv (an optional leading `serve` is skipped); returns a usage message on error. */
export function parseServeArgs(argv: string[]): ServeArgs | { help: true } | { error: string } {
  const args = argv[0] === "serve" ? argv.slice(1) : [...argv];
  let config: string | undefined;
  let readyFile: string | undefined;
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value`);
      return v;
    };
    try {
      if (flag === "--config") config = value();
      else if (flag === "--ready-file") readyFile = value();
      else if (flag === "--verbose" || flag === "-v") verbose = true;
      else if (flag === "--help" || flag === "-h") return { help: true };
      else return { error: `unknown argument "${a}"` };
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  if (!config) return { error: "--config is required" };
  return { config, ...(readyFile ? { readyFile } : {}), verbose };
}

/** Loads the config file and everything it points to; throws ConfigError naming file, line and field. */
export async function loadServeConfig(file: string): Promise<Parameters<typeof startStub>[0]> {
  const src = await readYamlSource(file); // JSON is YAML, and this keeps line numbers for errors
  const parsed = ServeConfigSchema.safeParse(src.value);
  if (!parsed.success) throw new ConfigError(schemaIssues(parsed.error, file, src.lineOf), `invalid stub serve config in ${file}`);
  const c = parsed.data;
  const base = dirname(resolve(file));
  const read = async (field: string, path: string) => {
    try {
      return await readFile(resolve(base, path), "utf8");
    } catch (err) {
      throw new ConfigError([{ file, line: src.lineOf(field.split(".")), path: field, message: `cannot read ${resolve(base, path)}: ${(err as Error).message}` }]);
    }
  };
  const token = (await read("tokenFile", c.tokenFile)).trim();
  if (!token) throw new ConfigError([{ file, line: src.lineOf(["tokenFile"]), path: "tokenFile", message: `${resolve(base, c.tokenFile)} is empty` }]);
  return {
    host: c.listen.host,
    port: c.listen.port,
    path: c.listen.path,
    admissionPath: c.listen.admissionPath,
    controlHost: c.control.host,
    controlPort: c.control.port,
    tls: {
      certPem: await read("tls.certFile", c.tls.certFile),
      keyPem: await read("tls.keyFile", c.tls.keyFile),
      ...(c.tls.clientCAFile ? { clientCaPem: await read("tls.clientCAFile", c.tls.clientCAFile) } : {}),
    },
    controlToken: token,
    ...(c.policyFile ? { policy: await loadPolicyFile(resolve(base, c.policyFile)) } : {}),
    ...(c.fault !== undefined ? { fault: c.fault } : {}),
    limits: c.limits,
  };
}

/** Runs `serve`; resolves with the exit code (0 after a clean stop, 2 for bad arguments or config, 1 otherwise). */
export async function serveMain(argv: string[], io: ServeIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const args = parseServeArgs(argv);
  if ("help" in args) {
    stdout.write(USAGE);
    return 0;
  }
  if ("error" in args) {
    stderr.write(`imagepolicy-lab stub: ${args.error}\n${USAGE}`);
    return 2;
  }
  const logger: Logger = {
    info: (m) => stderr.write(`${m}\n`),
    warn: (m) => stderr.write(`warning: ${m}\n`),
    debug: (m) => args.verbose && stderr.write(`${m}\n`),
  };
  let stub: StartedStub;
  try {
    stub = await startStub({ ...(await loadServeConfig(args.config)), logger });
  } catch (err) {
    stderr.write(`imagepolicy-lab stub: failed to start: ${(err as Error).message}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
  try {
    if (args.readyFile) await writeReadyFile(args.readyFile, stub);
    logger.info(`imagepolicy-lab stub: serving reviews at ${stub.reviewUrl} and ${stub.admissionUrl}, control at ${stub.controlUrl} (pid ${process.pid})`);
    await stopRequested(io.signal);
    logger.info("imagepolicy-lab stub: stopping");
    return 0;
  } catch (err) {
    stderr.write(`imagepolicy-lab stub: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await stub.stop();
    if (args.readyFile) await rm(args.readyFile, { force: true });
  }
}

// Written to a temporary name and renamed, so a watcher never reads half a file.
async function writeReadyFile(file: string, stub: StartedStub): Promise<void> {
  const ready: StubReadyFile = {
    reviewUrl: stub.reviewUrl,
    admissionUrl: stub.admissionUrl,
    reviewPort: stub.reviewPort,
    controlUrl: stub.controlUrl,
    controlPort: stub.controlPort,
    pid: process.pid,
  };
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(ready, null, 2)}\n`);
  await rename(tmp, file);
}

function stopRequested(signal?: AbortSignal): Promise<void> {
  if (signal) {
    return signal.aborted ? Promise.resolve() : new Promise((r) => signal.addEventListener("abort", () => r(), { once: true }));
  }
  return new Promise((r) => {
    const onSignal = () => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      r();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

// Entry guard: runs when this file (or the esbuild bundle made from it, see build-context.ts) is the
// process's main script. Anything that bundles this module into another entry must not keep it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await serveMain(process.argv.slice(2));
}
