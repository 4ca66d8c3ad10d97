// Webhook stub benchmark: reviews/s and latency over keep-alive HTTPS on loopback.
//   npx tsx bench/stub-bench.ts
// The stub runs as its own process (the esbuild bundle the container uses) pinned to CPU 0 with
// taskset when available; this process generates load from CPU 1. The load generator speaks
// HTTP/1.1 over raw TLS sockets (one request in flight per connection, like Go's transport without
// pipelining) because node:https's client would cost more CPU than the server under test.
// Results go to stdout and bench/results/stub.md. Bounded: about 20 s in total.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { createCA } from "../harness/src/pki/pki.ts";
import { prepareStubImageContext } from "../webhook-stub/build-context.ts";
import { STUB_NODE_FLAGS, type StubReadyFile, type StubServeConfig } from "../webhook-stub/src/main.ts";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const TARGET_RPS = 10_000;
const TARGET_P99_MS = 5;
const FIXED_RATE = 1_000;

const WARMUP_MS = 1_500;
const MAX_PHASE_MS = 4_000;
const FIXED_PHASE_MS = 5_000;
const CONCURRENCY = [8, 32];

// The body kube-apiserver 1.28 sends (spec §5), alternating an allowed and a denied pod so both
// evaluation paths run; the policy also has a deny pattern and namespace rules.
const BODIES = [
  ["registry.k8s.io/pause:3.9"],
  ["docker.io/library/nginx:1.25", "registry.k8s.io/e2e-test-images/agnhost:2.45"],
  ["trusted.example/team/app@sha256:" + "ab".repeat(32)],
  ["nginx"],
].map((images) =>
  JSON.stringify({
    kind: "ImageReview",
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    metadata: { creationTimestamp: null },
    spec: { containers: images.map((image) => ({ image })), namespace: "default" },
    status: { allowed: false },
  }),
);

const POLICY_YAML = `apiVersion: imagepolicy-lab.dev/v1alpha1
kind: StubPolicy
allow:
  registries: [registry.k8s.io, trusted.example]
  repositories: [docker.io/kindest]
deny:
  patterns: ["**/*-debug:*"]
namespaces:
  kube-system:
    allow:
      registries: ["*"]
auditAnnotations:
  checked-by: imagepolicy-lab-stub
`;

interface Connection {
  socket: TLSSocket;
  busy: boolean;
  buf: Buffer;
  onDone?: () => void;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function cpuTicks(pid: number): number {
  // utime + stime, in clock ticks (fields 14 and 15 of /proc/<pid>/stat).
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

const CLK_TCK = 100;

async function main(): Promise<void> {
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), "stub-bench-"));
  let child: ChildProcess | undefined;
  const lines: string[] = [];
  const out = (s = "") => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  try {
    const ca = await createCA("bench CA");
    const server = await ca.issue({ commonName: "stub", hosts: ["127.0.0.1"], usage: "server" });
    await writeFile(join(work, "tls.crt"), server.certPem);
    await writeFile(join(work, "tls.key"), server.keyPem);
    await writeFile(join(work, "token"), "bench");
    await writeFile(join(work, "policy.yaml"), POLICY_YAML);
    const config: StubServeConfig = {
      apiVersion: "imagepolicy-lab.dev/v1alpha1",
      kind: "StubServeConfig",
      listen: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      tls: { certFile: "tls.crt", keyFile: "tls.key" },
      tokenFile: "token",
      policyFile: "policy.yaml",
    };
    await writeFile(join(work, "config.json"), JSON.stringify(config));
    const ctx = await prepareStubImageContext(join(work, "context"), { offline: false });

    const nodeBin = existsSync(join(REPO, "node_modules/node/bin/node")) ? join(REPO, "node_modules/node/bin/node") : process.execPath;
    const logicalCpus = availableParallelism();
    const haveTaskset = logicalCpus >= 2 && hasTaskset();
    // STUB_BENCH_PROFILE=DIR writes a V8 CPU profile of the stub there (open it in Chrome DevTools).
    const profile = process.env.STUB_BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${resolve(process.env.STUB_BENCH_PROFILE)}`] : [];
    // The flags the container's ENTRYPOINT uses, so this measures the stub as it ships.
    const stubArgv = [nodeBin, ...STUB_NODE_FLAGS, ...profile, ctx.bundle, "serve", "--config", join(work, "config.json"), "--ready-file", join(work, "ready.json")];
    const argv = haveTaskset ? ["taskset", "-c", "0", ...stubArgv] : stubArgv;
    if (haveTaskset) execFileSync("taskset", ["-cp", "1", String(process.pid)], { stdio: "ignore" });
    child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
    const c = child;
    await new Promise<void>((res, rej) => {
      let err = "";
      c.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("serving reviews at")) res();
      });
      c.once("exit", (code) => rej(new Error(`stub exited with ${code}: ${err}`)));
    });
    const ready = JSON.parse(await readFile(join(work, "ready.json"), "utf8")) as StubReadyFile;
    const port = ready.reviewPort;
    const requests = BODIES.map((b) =>
      Buffer.from(
        `POST /review?timeout=30s HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: kube-apiserver-admission\r\n` +
          `Content-Type: application/json\r\nAccept: application/json, */*\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`,
      ),
    );

    const open = (n: number) =>
      Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<Connection>((res, rej) => {
              const socket = connect({ host: "127.0.0.1", port, ca: ca.certPem, servername: undefined }, () => res(conn));
              socket.setNoDelay(true);
              const conn: Connection = { socket, busy: false, buf: Buffer.alloc(0) };
              socket.on("data", (d: Buffer) => {
                conn.buf = conn.buf.length ? Buffer.concat([conn.buf, d]) : d;
                const headEnd = conn.buf.indexOf("\r\n\r\n");
                if (headEnd === -1) return;
                const head = conn.buf.subarray(0, headEnd).toString("latin1");
                if (!head.startsWith("HTTP/1.1 200")) throw new Error(`unexpected reply: ${head.split("\r\n")[0]}`);
                const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
                if (conn.buf.length < headEnd + 4 + len) return;
                conn.buf = conn.buf.subarray(headEnd + 4 + len);
                conn.busy = false;
                const done = conn.onDone;
                conn.onDone = undefined;
                done?.();
              });
              socket.once("error", rej);
            }),
        ),
      );

    let seq = 0;
    const fire = (conn: Connection, onDone: () => void) => {
      conn.busy = true;
      conn.onDone = onDone;
      conn.socket.write(requests[seq++ % requests.length]!);
    };

    // Closed loop: each connection sends its next request as soon as the previous answer arrives.
    const closedLoop = async (conns: Connection[], ms: number) => {
      const lat: number[] = [];
      const end = performance.now() + ms;
      const t0 = performance.now();
      const cpu0 = cpuTicks(c.pid!);
      await Promise.all(
        conns.map(
          (conn) =>
            new Promise<void>((res) => {
              const next = () => {
                if (performance.now() >= end) return res();
                const s = performance.now();
                fire(conn, () => {
                  lat.push(performance.now() - s);
                  next();
                });
              };
              next();
            }),
        ),
      );
      const elapsed = performance.now() - t0;
      const cpu = ((cpuTicks(c.pid!) - cpu0) / CLK_TCK / (elapsed / 1000)) * 100;
      lat.sort((a, b) => a - b);
      const cpuUsPerReview = ((cpuTicks(c.pid!) - cpu0) / CLK_TCK / lat.length) * 1e6;
      return { rps: lat.length / (elapsed / 1000), p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length, cpu, cpuUsPerReview };
    };

    // Open loop at a fixed rate; latency counts from the scheduled send time, so a stall is not hidden.
    const fixedRate = async (conns: Connection[], rate: number, ms: number) => {
      const total = Math.floor((rate * ms) / 1000);
      const fromSchedule: number[] = [];
      const fromSend: number[] = [];
      const queue: number[] = [];
      let scheduled = 0;
      const t0 = performance.now();
      const cpu0 = cpuTicks(c.pid!);
      await new Promise<void>((res) => {
        let completed = 0;
        const dispatch = () => {
          while (queue.length) {
            const conn = conns.find((x) => !x.busy);
            if (!conn) return;
            const due = queue.shift()!;
            const sentAt = performance.now();
            fire(conn, () => {
              const now = performance.now();
              fromSchedule.push(now - due);
              fromSend.push(now - sentAt);
              if (++completed === total) res();
              else dispatch();
            });
          }
        };
        const tick = () => {
          const now = performance.now();
          while (scheduled < total && t0 + (scheduled * 1000) / rate <= now) queue.push(t0 + (scheduled++ * 1000) / rate);
          dispatch();
          if (scheduled < total) setTimeout(tick, 0);
        };
        tick();
      });
      const elapsed = performance.now() - t0;
      const cpu = ((cpuTicks(c.pid!) - cpu0) / CLK_TCK / (elapsed / 1000)) * 100;
      fromSchedule.sort((a, b) => a - b);
      fromSend.sort((a, b) => a - b);
      return {
        rps: total / (elapsed / 1000),
        n: total,
        cpu,
        sched: { p50: percentile(fromSchedule, 50), p99: percentile(fromSchedule, 99), max: fromSchedule.at(-1)! },
        send: { p50: percentile(fromSend, 50), p99: percentile(fromSend, 99), max: fromSend.at(-1)! },
      };
    };

    const f = (n: number, d = 2) => n.toFixed(d);
    out(`# Webhook stub benchmark`);
    out();
    out(`- date: ${new Date().toISOString()}`);
    out(`- CPU: ${cpus()[0]?.model ?? "unknown"} (${logicalCpus} logical CPUs); load average at start ${loadavg().map((l) => l.toFixed(2)).join(", ")}`);
    out(`- stub: esbuild bundle on Node ${execFileSync(nodeBin, ["--version"]).toString().trim()} ${STUB_NODE_FLAGS.join(" ")}, ${haveTaskset ? "pinned to CPU 0 (taskset -c 0); load generator pinned to CPU 1" : "NOT pinned (taskset unavailable or one CPU)"}`);
    out(`- transport: HTTPS (TLS 1.3, ECDSA P-256), HTTP/1.1 keep-alive, one request in flight per connection, loopback`);
    out(`- request: kube-apiserver 1.28's ImageReview body, 1–2 images, allowed and denied alternating; policy with registries, repositories, a deny glob and namespace rules`);
    out();

    const warm = await open(8);
    await closedLoop(warm, WARMUP_MS);
    for (const w of warm) w.socket.destroy();

    out(`## Maximum throughput (closed loop, ${MAX_PHASE_MS / 1000} s each)`);
    out();
    out(`| connections | reviews/s | p50 ms | p99 ms | requests | stub CPU | stub CPU per review | reviews/s per dedicated core (projected) |`);
    out(`|---:|---:|---:|---:|---:|---:|---:|---:|`);
    let best = 0;
    let bestProjected = 0;
    for (const n of CONCURRENCY) {
      const conns = await open(n);
      const r = await closedLoop(conns, MAX_PHASE_MS);
      best = Math.max(best, r.rps);
      const projected = 1e6 / r.cpuUsPerReview;
      bestProjected = Math.max(bestProjected, projected);
      out(
        `| ${n} | ${Math.round(r.rps).toLocaleString("en-US")} | ${f(r.p50)} | ${f(r.p99)} | ${r.n} | ${Math.round(r.cpu)} % | ${Math.round(r.cpuUsPerReview)} µs | ${Math.round(projected).toLocaleString("en-US")} |`,
      );
      for (const x of conns) x.socket.destroy();
    }
    out();

    out(`## Fixed rate ${FIXED_RATE.toLocaleString("en-US")} reviews/s (open loop, ${FIXED_PHASE_MS / 1000} s, 8 connections)`);
    out();
    const conns = await open(8);
    const fr = await fixedRate(conns, FIXED_RATE, FIXED_PHASE_MS);
    for (const x of conns) x.socket.destroy();
    out(`| measured from | p50 ms | p99 ms | max ms |`);
    out(`|---|---:|---:|---:|`);
    out(`| scheduled send time | ${f(fr.sched.p50)} | ${f(fr.sched.p99)} | ${f(fr.sched.max)} |`);
    out(`| actual send time | ${f(fr.send.p50)} | ${f(fr.send.p99)} | ${f(fr.send.max)} |`);
    out();
    out(`achieved ${Math.round(fr.rps)} reviews/s over ${fr.n} requests; stub CPU ${Math.round(fr.cpu)} %`);
    out();
    const okRps = best >= TARGET_RPS;
    const okP99 = fr.sched.p99 < TARGET_P99_MS;
    out(`## Targets`);
    out();
    out(`- >= ${TARGET_RPS.toLocaleString("en-US")} reviews/s: ${okRps ? "met" : "MISSED"} (measured ${Math.round(best).toLocaleString("en-US")}; projected from stub CPU time per review ${Math.round(bestProjected).toLocaleString("en-US")})`);
    if (!okRps && bestProjected >= TARGET_RPS) {
      out(`  The stub was not CPU-bound (see stub CPU): the machine is shared or the load generator is the limit.`);
    }
    out(`- p99 < ${TARGET_P99_MS} ms at ${FIXED_RATE}/s (from scheduled time): ${okP99 ? "met" : "MISSED"} (${f(fr.sched.p99)} ms)`);
    out();
    out(`total bench time ${f((performance.now() - started) / 1000, 1)} s`);
    await mkdir(join(REPO, "bench", "results"), { recursive: true });
    await writeFile(join(REPO, "bench", "results", "stub.md"), `${lines.join("\n")}\n`);
    process.exitCode = okRps && okP99 ? 0 : 1;
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(work, { recursive: true, force: true });
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

await main();
