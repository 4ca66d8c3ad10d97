// Measures the local provider (real etcd, kube-apiserver, kube-controller-manager processes) against
// the targets of GitHub issue 2 and writes bench/results/local.md:
//   npx tsx bench/local-bench.ts [--runs 5] [--cold] [--no-catalog] [--no-write]
// (a) first provisioning of the binaries: read from bench/results/provision.md, or measured with an
//     empty temporary IMAGEPOLICY_LAB_CACHE when --cold is given (minutes: a Go build);
// (b) startLab() start-to-ready with cached binaries, --runs times;
// (c) profile switch (apiserver restart to /readyz), --runs times on one lab;
// (d) the whole catalog through runScenarios() once, with its overhead ratio
//     durationMs / unavoidableWaitMs from the RunReport.
// Runs are sequential on purpose: the machine this targets has 2 cores.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_K8S_VERSION, resolveBinaries } from "../harness/src/binaries/index.ts";
import { startLab, type StartedLab } from "../harness/src/lab/lab.ts";
import { DEFAULT_PROFILE } from "../harness/src/profile/profile.ts";
import { LocalProvider } from "../harness/src/providers/local/local-provider.ts";
import { loadScenarios, resolveScenarioArgs } from "../harness/src/scenario/load.ts";
import { planByProfile, runScenarios } from "../harness/src/scenario/runner.ts";
import { CleanupRegistry } from "../harness/src/util/cleanup.ts";
import type { Progress } from "../harness/src/util/logger.ts";

const exec = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(REPO, "bench/results/local.md");
const PROVISION_MD = join(REPO, "bench/results/provision.md");

const args = process.argv.slice(2);
const runsArg = args.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(args[runsArg + 1]) : 5;
const COLD = args.includes("--cold");
const CATALOG = !args.includes("--no-catalog");
const WRITE = !args.includes("--no-write");

/** Targets from issue 2; every figure is printed next to its target. */
const TARGET = { startMs: 5_000, switchMs: 3_000, catalogMs: 90_000, ratio: 1.5 };

const log = (m: string) => process.stderr.write(`[local-bench] ${m}\n`);
const fmtMs = (v: number) => `${Math.round(v).toLocaleString("en-US")} ms`;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const stats = (xs: number[]) => `median **${fmtMs(median(xs))}** (min ${fmtMs(Math.min(...xs))}, max ${fmtMs(Math.max(...xs))}, n=${xs.length})`;
const verdict = (value: number, target: number) => (value <= target ? "met" : "**missed**");

interface Row {
  what: string;
  figure: string;
  target: string;
  status: string;
  notes: string;
}
const rows: Row[] = [];
const notes: string[] = [];

/** Progress that records each named step's duration (the breakdown of one start). */
function recordingProgress(into: Map<string, number[]>): Progress {
  return {
    start(name) {
      const t0 = performance.now();
      const done = () => into.set(name, [...(into.get(name) ?? []), performance.now() - t0]);
      return { update() {}, succeed: done, fail: done };
    },
  };
}

async function provisioning(): Promise<void> {
  if (COLD) {
    const cache = await mkdtemp(join(tmpdir(), "iplab-cold-cache-"));
    try {
      log(`(a) cold provisioning into ${cache} (a Go build; minutes)…`);
      const t0 = performance.now();
      await exec(process.execPath, [join(REPO, "bin/run-ts.mjs"), join(REPO, "bench/provision-binaries.ts")], {
        env: { ...process.env, IMAGEPOLICY_LAB_CACHE: cache },
        timeout: 3_600_000,
        maxBuffer: 64 * 2 ** 20,
      });
      const ms = performance.now() - t0;
      rows.push({ what: "First provisioning (empty binary cache)", figure: fmtMs(ms), target: "—", status: "", notes: "measured now with --cold; the Go build cache was as found (warm makes it ~15 s, empty ~5.5 min)" });
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
    return;
  }
  const text = await readFile(PROVISION_MD, "utf8").catch(() => "");
  const cold = /\*\*Cold resolve\*\*[^|]*\|\s*\*\*([^*]+)\*\*/.exec(text)?.[1];
  const warm = /Rebuild with a warm Go build cache[^|]*\|\s*([^|]+?)\s*\|/.exec(text)?.[1];
  const hit = /\*\*Cache hit\*\*\s*\|\s*([^|]+?)\s*\|/.exec(text)?.[1];
  if (!cold) {
    rows.push({ what: "First provisioning", figure: "not recorded", target: "—", status: "", notes: `no "Cold resolve" row in ${PROVISION_MD}; run with --cold` });
    return;
  }
  rows.push({ what: "First provisioning (empty binary + Go caches)", figure: cold, target: "—", status: "", notes: "from bench/results/provision.md (one-time Go build; `--cold` re-measures)" });
  if (warm) rows.push({ what: "Provisioning, warm Go build cache", figure: warm, target: "—", status: "", notes: "from bench/results/provision.md" });
  if (hit) rows.push({ what: "Binary cache hit (resolveBinaries)", figure: hit, target: "—", status: "", notes: "from bench/results/provision.md" });
}

async function binaryCheck(): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await resolveBinaries({ k8sVersion: DEFAULT_K8S_VERSION });
    times.push(performance.now() - t0);
  }
  rows.push({ what: "resolveBinaries(), cache hit (part of every start)", figure: stats(times), target: "—", status: "", notes: "manifest check of the cached set" });
}

async function startToReady(cleanup: CleanupRegistry): Promise<void> {
  const times: number[] = [];
  const steps = new Map<string, number[]>();
  const stopTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    log(`(b) start ${i + 1}/${RUNS}`);
    const t0 = performance.now();
    const lab = await startLab({ provider: new LocalProvider({ cleanup }), cleanup, progress: recordingProgress(steps) });
    times.push(performance.now() - t0);
    const t1 = performance.now();
    await lab.stop();
    stopTimes.push(performance.now() - t1);
  }
  const m = median(times);
  rows.push({ what: "startLab() start-to-ready, cached binaries", figure: stats(times), target: `≤ ${fmtMs(TARGET.startMs)}`, status: verdict(m, TARGET.startMs), notes: "stub + PKI + etcd + apiserver /readyz + controller-manager + default SA" });
  const breakdown = [...steps].map(([name, xs]) => `${name} ${fmtMs(median(xs))}`).join(", ");
  rows.push({ what: "  … median per step", figure: breakdown, target: "", status: "", notes: "" });
  rows.push({ what: "lab.stop()", figure: stats(stopTimes), target: "—", status: "", notes: "SIGTERM in order, keys removed" });
}

async function profileSwitch(cleanup: CleanupRegistry): Promise<void> {
  const lab = await startLab({ provider: new LocalProvider({ cleanup }), cleanup });
  try {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      log(`(c) switch ${i + 1}/${RUNS}`);
      // Alternate two profiles so each switch is a real change.
      const next = { ...DEFAULT_PROFILE, defaultAllow: !lab.profile.defaultAllow, allowTTL: 10 + i };
      times.push((await lab.applyProfile(next)).elapsedMs);
    }
    const m = median(times);
    rows.push({ what: "Profile switch (apiserver restart → /readyz)", figure: stats(times), target: `≤ ${fmtMs(TARGET.switchMs)}`, status: verdict(m, TARGET.switchMs), notes: "etcd and controller-manager keep running" });
  } finally {
    await lab.stop();
  }
}

async function catalog(cleanup: CleanupRegistry): Promise<void> {
  const scenarios = await loadScenarios(await resolveScenarioArgs([]));
  const groups = planByProfile(scenarios);
  log(`(d) catalog: ${scenarios.length} scenarios in ${groups.length} profiles`);
  const t0 = performance.now();
  let lab: StartedLab | undefined;
  try {
    lab = await startLab({ provider: new LocalProvider({ cleanup }), cleanup, profile: groups[0]!.profile });
    const labStartMs = performance.now() - t0;
    const report = await runScenarios({ lab, scenarios, labStartMs });
    const wall = performance.now() - t0;
    const ratio = report.durationMs / report.unavoidableWaitMs;
    const t = report.totals;
    rows.push({
      what: "Whole catalog, wall time (lab start + runScenarios)",
      figure: `**${fmtMs(wall)}**`,
      target: `≤ ${fmtMs(TARGET.catalogMs)}`,
      status: verdict(wall, TARGET.catalogMs),
      notes: `${scenarios.length} scenarios: ${t.pass} pass, ${t.fail} fail, ${t.error} error, ${t.skipped} skipped; ${report.profileSwitches.length} profile switches`,
    });
    rows.push({ what: "  … runScenarios durationMs", figure: fmtMs(report.durationMs), target: "", status: "", notes: `labStart ${fmtMs(labStartMs)}; switches ${fmtMs(report.profileSwitches.reduce((a, p) => a + p.elapsedMs, 0))} in total` });
    rows.push({
      what: "Overhead ratio durationMs / unavoidableWaitMs",
      figure: `**${ratio.toFixed(2)}** (${fmtMs(report.durationMs)} / ${fmtMs(report.unavoidableWaitMs)})`,
      target: `≤ ${TARGET.ratio}`,
      status: verdict(ratio, TARGET.ratio),
      notes: "unavoidable = profile switches + the waits scenarios ask for (cache expiry, backend delays)",
    });
    const bad = report.scenarios.filter((s) => s.verdict === "fail" || s.verdict === "error");
    if (bad.length) notes.push(`Catalog scenarios that did not pass: ${bad.map((s) => `${s.name} (${s.verdict}${s.reason ? `: ${s.reason.split("\n")[0]}` : ""})`).join("; ")}.`);
    const slowest = [...report.scenarios].sort((a, b) => b.durationMs - a.durationMs).slice(0, 5);
    notes.push(`Slowest scenarios: ${slowest.map((s) => `${s.name} ${fmtMs(s.durationMs)} (unavoidable ${fmtMs(s.unavoidableWaitMs)})`).join("; ")}.`);
  } finally {
    await lab?.stop();
  }
}

const cleanup = new CleanupRegistry();
cleanup.installSignalHandlers();
const load0 = loadavg();
const started = new Date();
const failures: string[] = [];
for (const [name, fn] of [
  ["provisioning", provisioning],
  ["binary cache check", binaryCheck],
  ["start-to-ready", () => startToReady(cleanup)],
  ["profile switch", () => profileSwitch(cleanup)],
  ...(CATALOG ? [["catalog", () => catalog(cleanup)] as const] : []),
] as const) {
  try {
    await fn();
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message.split("\n")[0]}`);
    log(`${name} failed: ${(err as Error).message}`);
  }
}
await cleanup.runAll().catch((e) => log(`cleanup: ${(e as Error).message}`));
const load1 = loadavg();

const cpuModel = cpus()[0]?.model.trim() ?? "unknown CPU";
const report = [
  "# Local provider benchmark",
  "",
  `\`npx tsx bench/local-bench.ts${COLD ? " --cold" : ""}\` (bench/local-bench.ts), ${started.toISOString().replace(/\.\d+Z$/, "Z")}.`,
  "",
  `- Machine: nproc ${availableParallelism()}, ${cpuModel}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.versions.node}; Kubernetes ${DEFAULT_K8S_VERSION}.`,
  `- Load average (1/5/15 min): ${load0.map((l) => l.toFixed(2)).join(" / ")} before, ${load1.map((l) => l.toFixed(2)).join(" / ")} after.`,
  ...notes.map((n) => `- ${n}`),
  "",
  "| What | Figure | Target | Status | Notes |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.what} | ${r.figure} | ${r.target} | ${r.status} | ${r.notes} |`),
  "",
  ...(failures.length ? ["## Not measured", "", ...failures.map((f) => `- ${f}`), ""] : []),
].join("\n");
process.stdout.write(`${report}\n`);
if (WRITE) {
  await mkdir(dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, report);
  log(`wrote ${RESULTS}`);
}
process.exitCode = failures.length ? 1 : 0;
