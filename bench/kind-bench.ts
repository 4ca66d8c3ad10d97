// Measures the kind provider's costs on this machine and prints a Markdown report:
//   npx tsx bench/kind-bench.ts [--runs 5] [--write] [--node-image-cold]
// (--write also saves bench/results/kind.md). Always: Docker engine start (ensure-docker.sh), stub
// image build (cold and cached), stub container start-to-healthy. As root with Docker: the node image
// build from cached parts (--force), and with --node-image-cold from nothing (a fresh cache root, Go
// build cache and module cache in a temp dir: every module downloaded and compiled, ~20 min on 2
// cores). Where kind and a node image are usable: cluster create, profile switch (apiserver restart)
// and the whole catalog on one cluster. Whatever is skipped is listed with the reason.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_PROFILE } from "../harness/src/profile/profile.ts";
import { startLab } from "../harness/src/lab/lab.ts";
import { buildNodeImage } from "../harness/src/node-image/build.ts";
import { loadScenarios, resolveScenarioArgs } from "../harness/src/scenario/load.ts";
import { planByProfile, runScenarios } from "../harness/src/scenario/runner.ts";
import { KindProvider } from "../harness/src/providers/kind/kind-provider.ts";
import { configureRyuk } from "../harness/src/providers/kind/lab-container.ts";
import { buildStubImage, startStubContainer } from "../harness/src/providers/kind/stub-container.ts";
import { dockerStatus, ensureNetwork, kindNetworkName, removeNetwork, tryRun } from "../harness/src/providers/kind/tools.ts";
import { CleanupRegistry } from "../harness/src/util/cleanup.ts";

const exec = promisify(execFile);
const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1]) || 5;
const write = args.includes("--write");
const nodeImageCold = args.includes("--node-image-cold");
const ENSURE = fileURLToPath(new URL("../harness/src/providers/kind/ensure-docker.sh", import.meta.url));
const RESULTS = fileURLToPath(new URL("./results/kind.md", import.meta.url));

const rows: string[] = [];
const skipped: string[] = [];
const notes: string[] = [];
const ms = (v: number) => `${Math.round(v).toLocaleString("en-US")} ms`;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${ms(s[Math.floor(s.length / 2)]!)}, min ${ms(s[0]!)}, max ${ms(s[s.length - 1]!)} (n=${s.length})`;
};
const log = (m: string) => console.error(`[kind-bench] ${m}`);

const cleanup = new CleanupRegistry();
cleanup.installSignalHandlers();
const work = await mkdtemp(join(tmpdir(), "iplab-kind-bench-"));
try {
  // 1. Docker engine.
  const before = await dockerStatus();
  let t = performance.now();
  const ensured = await exec("bash", [ENSURE], { timeout: 600_000 }).then(
    (r) => ({ ok: true, out: r.stdout.trim() }),
    (e: { stderr?: string; message: string }) => ({ ok: false, out: (e.stderr ?? e.message).trim() }),
  );
  const dockerMs = performance.now() - t;
  if (!ensured.ok) throw new Error(`no Docker engine: ${ensured.out}`);
  rows.push(`| Docker engine ready (ensure-docker.sh) | ${ms(dockerMs)} | ${before.daemon ? "was already running" : "started by the script"}: ${ensured.out} |`);
  const d = await dockerStatus();
  notes.push(`Docker ${d.serverVersion}; ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; ${new Date().toISOString().slice(0, 10)}.`);
  notes.push(await configureRyuk());

  // 2. Stub image: cold (fresh build; the content-hash tag is removed first) and cached.
  const existing = (await tryRun("docker", ["images", "-q", "imagepolicy-lab/webhook-stub"])).stdout.split("\n").filter(Boolean);
  if (existing.length) await tryRun("docker", ["rmi", "-f", ...existing]);
  t = performance.now();
  const image = await buildStubImage({ logger: { info: log, warn: log, debug: log } });
  rows.push(`| Stub image build, cold | ${ms(performance.now() - t)} | ${image} |`);
  t = performance.now();
  await buildStubImage();
  rows.push(`| Stub image build, cached (same content hash) | ${ms(performance.now() - t)} | bundle + hash only |`);
  const size = (await tryRun("docker", ["image", "inspect", "--format", "{{.Size}}", image])).stdout.trim();
  if (size) notes.push(`Stub image size: ${(Number(size) / 2 ** 20).toFixed(1)} MiB.`);

  // 3. Stub container start-to-healthy on the kind network.
  const network = kindNetworkName();
  const net = await ensureNetwork(network);
  const startMs: number[] = [];
  const totalMs: number[] = [];
  const stopMs: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const stub = await startStubContainer({ stateDir: join(work, `stub-${i}`), network, mtls: false, detached: false, image });
      const unregister = cleanup.add("bench stub", () => stub.stop());
      totalMs.push(performance.now() - t0);
      startMs.push(stub.startToHealthyMs);
      const t1 = performance.now();
      await stub.stop();
      unregister();
      stopMs.push(performance.now() - t1);
    }
  } finally {
    if (net.created) await removeNetwork(network);
  }
  rows.push(`| Stub container create → /healthz over verified TLS | ${stats(startMs)} | testcontainers start incl. file copy and wait |`);
  rows.push(`| startStubContainer() total (PKI + start) | ${stats(totalMs)} | ECDSA CA + serving cert, files, container |`);
  rows.push(`| Stub container stop + remove | ${stats(stopMs)} | |`);

  // 4. The offline node image.
  if (process.getuid?.() !== 0) skipped.push("node image build: needs root");
  else {
    const quiet = { info: log, warn: log, debug() {} };
    if (nodeImageCold) {
      const cold = await mkdtemp(join(tmpdir(), "iplab-cold-"));
      try {
        t = performance.now();
        // A throwaway tag prefix is not possible (the tag is the recipe's), so the cold build replaces
        // the current image with an identical one.
        const env = { ...process.env, IMAGEPOLICY_LAB_CACHE: join(cold, "cache"), GOCACHE: join(cold, "gocache"), GOMODCACHE: join(cold, "gomod"), GOFLAGS: "-modcacherw" };
        await buildNodeImage({ k8sVersion: "1.36.1", force: true, env, logger: quiet, cleanup });
        rows.push(`| Node image build, cold (nothing cached: every Go module downloaded and compiled, debootstrap) | ${ms(performance.now() - t)} | \`node-image build\` with empty caches |`);
      } finally {
        await rm(cold, { recursive: true, force: true });
      }
    } else skipped.push("node image build, cold: run with --node-image-cold (about 20 minutes on 2 cores)");
    t = performance.now();
    const built = await buildNodeImage({ k8sVersion: "1.36.1", force: true, logger: quiet, cleanup });
    rows.push(`| Node image build, parts cached (\`node-image build --force\`) | ${ms(performance.now() - t)} | rootfs layout, 8 OCI images, docker import, containerd import, commit |`);
    t = performance.now();
    await buildNodeImage({ k8sVersion: "1.36.1", logger: quiet, cleanup });
    rows.push(`| Node image, already current (\`node-image build\`) | ${ms(performance.now() - t)} | label check only |`);
    const size = (await tryRun("docker", ["image", "inspect", "--format", "{{.Size}}", built.tag])).stdout.trim();
    if (size) notes.push(`Node image ${built.tag}: ${(Number(size) / 2 ** 30).toFixed(2)} GiB.`);
  }

  // 5. Cluster, when kind and a node image are here.
  const provider = new KindProvider({ cleanup });
  const pre = await provider.preflight();
  if (!pre.usable) {
    skipped.push(`kind cluster create and profile switch: ${pre.reasons.join("; ")}`);
  } else {
    const dir = join(work, "cluster");
    const backend = await provider.startBackend({ stateDir: dir });
    try {
      t = performance.now();
      const cluster = await provider.start({ stateDir: dir, k8sVersion: "1.36.1", profile: { ...DEFAULT_PROFILE }, backend: backend.endpoint });
      rows.push(`| kind create cluster → node Ready + default SA | ${ms(performance.now() - t)} | target ≤ 60 s; ${pre.detail} |`);
      try {
        const switches: number[] = [];
        for (let i = 0; i < 3; i++) switches.push((await cluster.applyProfile({ ...DEFAULT_PROFILE, allowTTL: 10 + i })).elapsedMs);
        rows.push(`| Profile switch (manifest bump → new apiserver pod → /readyz) | ${stats(switches)} | target ≤ 20 s |`);
      } finally {
        t = performance.now();
        await cluster.stop();
        rows.push(`| kind delete cluster | ${ms(performance.now() - t)} | |`);
      }
    } finally {
      await backend.stop();
    }

    // 6. The whole catalog on one kind cluster, as `run --provider kind` plays it.
    const scenarios = await loadScenarios(await resolveScenarioArgs([]));
    t = performance.now();
    const lab = await startLab({ provider: new KindProvider({ cleanup }), profile: planByProfile(scenarios)[0]!.profile, cleanup });
    const labMs = performance.now() - t;
    try {
      const report = await runScenarios({ lab, scenarios });
      const passed = report.scenarios.filter((r) => r.verdict === "pass").length;
      for (const r of report.scenarios.filter((x) => x.verdict !== "pass")) notes.push(`catalog on kind: ${r.name} ${r.verdict}: ${r.reason ?? ""}`);
      rows.push(
        `| Whole catalog on kind (${scenarios.length} scenarios, ${passed} passed) | ${ms(report.durationMs)} | target ≤ 4 min; lab start ${ms(labMs)} before it; run/unavoidable-wait ratio ${(report.durationMs / report.unavoidableWaitMs).toFixed(2)} |`,
      );
    } finally {
      await lab.stop();
    }
  }
} catch (err) {
  skipped.push(`aborted: ${(err as Error).message}`);
} finally {
  await cleanup.runAll().catch((e) => log(`cleanup: ${(e as Error).message}`));
  await rm(work, { recursive: true, force: true });
}

const report = [
  "# kind provider benchmark",
  "",
  "`npx tsx bench/kind-bench.ts --write` (bench/kind-bench.ts).",
  "",
  ...notes.map((n) => `- ${n}`),
  "",
  "| What | Time | Notes |",
  "| --- | --- | --- |",
  ...rows,
  "",
  ...(skipped.length ? ["## Not measured", "", ...skipped.map((s) => `- ${s}`), ""] : []),
].join("\n");
console.log(report);
if (write) {
  await mkdir(join(RESULTS, ".."), { recursive: true });
  await writeFile(RESULTS, report);
  log(`wrote ${RESULTS}`);
}
