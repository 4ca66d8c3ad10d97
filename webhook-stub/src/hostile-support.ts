// Shared by the stub's hostile-input test and the soak in `npm run bench` (bench/stub-soak.ts): the
// stub as its own process (so its RSS and open sockets are its own, read from /proc), and the attacks
// (reviews full of unique images, silent and slow connections, TCP that never starts TLS). Every
// attack targets 127.0.0.1 only and is bounded in count and time. Test-only; the library never imports it.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:https";
import { connect as tcpConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { createCA } from "../../harness/src/pki/pki.ts";
import { SERVE_CONFIG_API_VERSION, SERVE_CONFIG_KIND, STUB_NODE_FLAGS, type StubReadyFile, type StubServeConfig } from "./main.ts";
import type { StubLimits } from "./server.ts";
import { StubClient } from "./stub-client.ts";
import { reviewBody } from "./test-support.ts";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const HOST = "127.0.0.1";

/** Whether this machine has the /proc files the measurements read. */
export const HAVE_PROC = existsSync("/proc/self/fd") && existsSync("/proc/self/status");

/** The policy the attacks meet: a normal review of `trusted.example` is allowed, everything else denied. */
const POLICY_YAML = `apiVersion: imagepolicy-lab.dev/v1alpha1
kind: StubPolicy
allow:
  registries: [trusted.example]
deny:
  patterns: ["**/*-debug:*"]
`;

export interface StubProcess extends AsyncDisposable {
  readonly pid: number;
  readonly reviewUrl: string;
  readonly reviewPort: number;
  readonly caPem: string;
  readonly client: StubClient;
  /** Resident set size now, from /proc/<pid>/status. */
  rssBytes(): Promise<number>;
  /** Open socket file descriptors now, from /proc/<pid>/fd (listeners included). */
  openSockets(): Promise<number>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** What it wrote to stderr (for failure messages). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; removes its files. Idempotent. */
  stop(): Promise<void>;
}

export interface StubProcessOptions {
  limits?: Partial<StubLimits>;
  /** argv that runs the stub's `serve` (before `serve --config …`); default: this repo's main.ts through bin/run-ts.mjs, with STUB_NODE_FLAGS. */
  command?: string[];
}

/** Starts `serve` as a child process on loopback with a fresh CA; resolves once its ready file exists. */
export async function startStubProcess(o: StubProcessOptions = {}): Promise<StubProcess> {
  const dir = await mkdtemp(join(tmpdir(), "stub-hostile-"));
  const ca = await createCA("hostile-input CA");
  const server = await ca.issue({ commonName: "stub", hosts: [HOST], usage: "server" });
  await Promise.all([
    writeFile(join(dir, "tls.crt"), server.certPem),
    writeFile(join(dir, "tls.key"), server.keyPem, { mode: 0o600 }),
    writeFile(join(dir, "token"), "hostile", { mode: 0o600 }),
    writeFile(join(dir, "policy.yaml"), POLICY_YAML),
  ]);
  const config: StubServeConfig = {
    apiVersion: SERVE_CONFIG_API_VERSION,
    kind: SERVE_CONFIG_KIND,
    listen: { host: HOST, port: 0 },
    control: { host: HOST, port: 0 },
    tls: { certFile: "tls.crt", keyFile: "tls.key" },
    tokenFile: "token",
    policyFile: "policy.yaml",
    ...(o.limits ? { limits: o.limits } : {}),
  };
  await writeFile(join(dir, "config.json"), JSON.stringify(config));
  const readyFile = join(dir, "ready.json");
  const command = o.command ?? [process.execPath, ...STUB_NODE_FLAGS, join(REPO_ROOT, "bin/run-ts.mjs"), join(REPO_ROOT, "webhook-stub/src/main.ts")];
  const child: ChildProcess = spawn(command[0]!, [...command.slice(1), "serve", "--config", join(dir, "config.json"), "--ready-file", readyFile], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const deadline = performance.now() + 30_000;
    while (!existsSync(readyFile)) {
      if (child.exitCode !== null) throw new Error(`the stub exited with ${child.exitCode} before it was ready: ${stderr}`);
      if (performance.now() > deadline) throw new Error(`the stub was not ready within 30000ms: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const ready = JSON.parse(await readFile(readyFile, "utf8")) as StubReadyFile;
  const pid = child.pid!;
  return {
    pid,
    reviewUrl: ready.reviewUrl,
    reviewPort: ready.reviewPort,
    caPem: ca.certPem,
    client: new StubClient({ controlUrl: ready.controlUrl, token: "hostile", caPem: ca.certPem, timeoutMs: 30_000 }),
    rssBytes: () => rssBytes(pid),
    openSockets: () => openSockets(pid),
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

export async function openSockets(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    if (target.startsWith("socket:")) n++;
  }
  return n;
}

// ---- reviews ----

export type BigReviewKind = "many-short" | "long-names";

/**
 * A review of about 1 MB whose images are all unique and untrusted. `many-short`: ~23,000 short
 * names (over maxImagesPerReview, so refused unevaluated). `long-names`: 1,000 names of ~1,000
 * characters (at the limit, so each is parsed and refused; the journal entry is ~2 MB estimated).
 */
export function bigUniqueReview(seq: number, kind: BigReviewKind): string {
  const images: string[] = [];
  if (kind === "many-short") {
    for (let k = 0; images.length < 23_000; k++) images.push(`evil-${seq}-${k}.example/app:${k}`);
  } else {
    const path = "/abcdefghi".repeat(98);
    for (let k = 0; k < 1_000; k++) images.push(`evil-${seq}-${k}.example${path}:1`);
  }
  return reviewBody(images, "attack");
}

const SHORT_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ._";

/**
 * A review with `n` unique untrusted images named as briefly as possible, so 65,536 of them fit a
 * 1 MiB body (the CPU attack the issue describes: 64k images in one body under the size limit).
 */
export function manyImageReview(n: number): string {
  const names: string[] = [];
  for (let k = 0; names.length < n; k++) {
    let name = "";
    let v = k;
    do {
      name += SHORT_NAME_ALPHABET[v % SHORT_NAME_ALPHABET.length];
      v = Math.floor(v / SHORT_NAME_ALPHABET.length);
    } while (v > 0);
    names.push(name);
  }
  return JSON.stringify({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: names.map((image) => ({ image })), namespace: "attack" } });
}

export interface ReviewAnswer {
  status: number;
  /** The ImageReview status when the answer was one. */
  review?: { allowed: boolean; reason?: string };
  elapsedMs: number;
}

/** POSTs one review; resolves with what came back and how long it took. */
export function postReview(url: string, body: string, caPem: string, agent?: Agent, timeoutMs = 30_000): Promise<ReviewAnswer> {
  const t0 = performance.now();
  return new Promise((resolveAnswer, reject) => {
    const req = request(
      `${url}?timeout=30s`,
      { method: "POST", ca: caPem, agent: agent ?? false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let review: ReviewAnswer["review"];
          try {
            review = res.statusCode === 200 ? (JSON.parse(text) as { status: ReviewAnswer["review"] }).status : undefined;
          } catch {
            review = undefined;
          }
          resolveAnswer({ status: res.statusCode ?? 0, review, elapsedMs: performance.now() - t0 });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The review a kind cluster's apiserver would send for a trusted pod; must be allowed. */
export function normalReview(): string {
  return reviewBody(["trusted.example/team/app:1.0"], "default");
}

/** Runs `total` jobs with at most `concurrency` at a time. */
export async function pool(total: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) await job(next++);
    }),
  );
}

// ---- connections ----

/** Opens `n` TCP connections to the port and sends nothing; resolves once all are connected (or refused). */
export async function openSilent(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await pool(n, 100, async () => {
    await new Promise<void>((r) => {
      const s = tcpConnect({ host: HOST, port }, () => r());
      s.on("error", () => r());
      sockets.push(s);
    });
  });
  return sockets;
}

/** Milliseconds until the stub closed a TCP connection that never sent a byte (rejects after `budgetMs`). */
export function msUntilClosedByServer(port: number, budgetMs: number): Promise<number> {
  return new Promise((resolveMs, reject) => {
    const s = tcpConnect({ host: HOST, port });
    let t0 = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the stub kept a silent TCP connection open for ${budgetMs}ms`));
    }, budgetMs);
    s.on("connect", () => (t0 = performance.now()));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolveMs(performance.now() - t0);
    });
  });
}

export interface RawExchange {
  /** What the stub sent back before closing (status line and headers). */
  reply: string;
  /** Milliseconds from connect until the stub closed the connection. */
  closedAfterMs: number;
}

/**
 * Sends raw bytes over TLS (`chunks`, each after `gapMs`), then waits for the stub to close the
 * connection; for framing attacks and slow clients. Rejects when it stays open past `budgetMs`.
 */
export function rawTls(port: number, caPem: string, chunks: (string | Buffer)[], o: { gapMs?: number; budgetMs: number }): Promise<RawExchange> {
  return new Promise((resolveExchange, reject) => {
    let reply = "";
    const t0 = performance.now();
    const timers: NodeJS.Timeout[] = [];
    const s: TLSSocket = tlsConnect({ host: HOST, port, ca: caPem }, () => {
      chunks.forEach((c, i) =>
        timers.push(
          setTimeout(() => {
            if (s.writable) s.write(c);
          }, i * (o.gapMs ?? 0)),
        ),
      );
    });
    const budget = setTimeout(() => {
      s.destroy();
      reject(new Error(`the stub kept the connection open for ${o.budgetMs}ms; it sent: ${JSON.stringify(reply.slice(0, 200))}`));
    }, o.budgetMs);
    s.on("data", (d: Buffer) => (reply += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(budget);
      for (const t of timers) clearTimeout(t);
      resolveExchange({ reply, closedAfterMs: performance.now() - t0 });
    });
  });
}
