// Compares the admission mechanisms on the local provider and writes bench/results/mechanisms.md:
//   npx tsx bench/mechanism-bench.ts [--creates 200] [--no-comparison] [--no-write]
// (a) per-create latency: --creates server-side dry-run pod creates (one trusted image, unique names)
//     against a lab of each mechanism, measured from sending the request to its answer; and the same
//     creates in kube-system of the VAP lab, which no mechanism there covers (the baseline: an
//     apiserver admitting a pod with no image check). "Adds" = median minus the baseline's median.
//     ImagePolicyWebhook runs with allowTTL -1 (no cache), so every create asks the backend, as with
//     a webhook; with its cache on, repeats of one spec cost nothing (scenario backend-latency).
// (b) the comparison: `run --mechanism all` over the catalog's shared scenarios (those that apply to
//     more than one mechanism), wall time per mechanism and in total.
// Sequential on purpose: the machine this targets has 2 cores.
import { writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api } from "@kubernetes/client-node";
import { DEFAULT_K8S_VERSION } from "../harness/src/binaries/index.ts";
import { startLab } from "../harness/src/lab/lab.ts";
import { MECHANISM_NAMES, MECHANISM_TITLES, type MechanismName } from "../harness/src/mechanism/names.ts";
import { DEFAULT_PROFILE } from "../harness/src/profile/profile.ts";
import { LocalProvider } from "../harness/src/providers/local/local-provider.ts";
import { latencyStats } from "../harness/src/report/comparison.ts";
import { forMechanism, scenarioMechanisms } from "../harness/src/scenario/for-mechanism.ts";
import { apiOutcome, podManifest } from "../harness/src/scenario/k8s-actions.ts";
import { loadScenarios, resolveScenarioArgs } from "../harness/src/scenario/load.ts";
import { planByProfile, runScenarios } from "../harness/src/scenario/runner.ts";
import { trustPolicy } from "../webhook-stub/src/policy.ts";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(REPO, "bench/results/mechanisms.md");
const args = process.argv.slice(2);
const at = args.indexOf("--creates");
const CREATES = at >= 0 ? Number(args[at + 1]) : 200;
const COMPARISON = !args.includes("--no-comparison");
const WRITE = !args.includes("--no-write");
const log = (m: string) => process.stderr.write(`[mechanism-bench] ${m}\n`);
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Dry-run creates of one trusted pod; every answer must be an admission, or the figure means nothing. */
async function creates(core: CoreV1Api, namespace: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await apiOutcome(() => core.createNamespacedPodWithHttpInfo({ namespace, dryRun: "All", body: podManifest({ name: `bench-${i}`, images: ["trusted.example/app:1"] }) }));
    if (!r.allowed) throw new Error(`create ${i} in ${namespace} was refused (${r.code}): ${r.message}`);
    out.push(r.durationMs);
  }
  return out;
}

const BASELINE_LABEL = "baseline (no image check: kube-system under VAP)";
const latency: { label: string; samples: number[] }[] = [];
for (const mechanism of MECHANISM_NAMES) {
  log(`${mechanism}: ${CREATES} dry-run creates`);
  const lab = await startLab({ provider: new LocalProvider(), mechanism, policy: { ...trustPolicy(["trusted.example", "registry.k8s.io"]) }, profile: { ...DEFAULT_PROFILE, allowTTL: -1, denyTTL: -1 } });
  try {
    const core = lab.kubeConfig().makeApiClient(CoreV1Api);
    await creates(core, "default", 20); // warm-up: connections, informers, the stub's JIT
    latency.push({ label: MECHANISM_TITLES[mechanism], samples: await creates(core, "default", CREATES) });
    if (mechanism === "vap") {
      await creates(core, "kube-system", 20);
      latency.push({ label: BASELINE_LABEL, samples: await creates(core, "kube-system", CREATES) });
    }
  } finally {
    await lab.stop();
  }
}
const baseline = latencyStats(latency.find((l) => l.label === BASELINE_LABEL)!.samples)!;

const comparison: { mechanism: MechanismName; scenarios: number; labStartMs: number; wallMs: number; pass: number; total: number }[] = [];
let comparisonWallMs = 0;
if (COMPARISON) {
  const all = await loadScenarios(await resolveScenarioArgs([]));
  const shared = all.filter((s) => scenarioMechanisms(s.doc).length > 1);
  const t0 = performance.now();
  for (const mechanism of MECHANISM_NAMES) {
    const scenarios = shared.filter((s) => forMechanism(s.doc, mechanism));
    log(`comparison, ${mechanism}: ${scenarios.length} scenarios`);
    const m0 = performance.now();
    const lab = await startLab({ provider: new LocalProvider(), mechanism, profile: planByProfile(scenarios)[0]!.profile });
    const labStartMs = performance.now() - m0;
    try {
      const report = await runScenarios({ lab, scenarios, labStartMs });
      comparison.push({ mechanism, scenarios: scenarios.length, labStartMs, wallMs: performance.now() - m0, pass: report.totals.pass, total: report.scenarios.length });
    } finally {
      await lab.stop();
    }
  }
  comparisonWallMs = performance.now() - t0;
}

const lines = [
  "# Admission mechanisms benchmark",
  "",
  `\`npx tsx bench/mechanism-bench.ts\` (bench/mechanism-bench.ts), ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}.`,
  "",
  `- Machine: nproc ${availableParallelism()}, ${cpus()[0]?.model.trim() ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.versions.node}; Kubernetes ${DEFAULT_K8S_VERSION}; local provider.`,
  `- Load average after (1/5/15 min): ${loadavg().map((l) => l.toFixed(2)).join(" / ")}.`,
  `- Per-create latency: ${CREATES} server-side dry-run pod creates per row after 20 warm-up creates, one trusted image, measured by the client from request to answer. ImagePolicyWebhook with allowTTL/denyTTL -1 (every create asks the backend, as a webhook does).`,
  "",
  "| Mechanism | median | p99 | adds (median − baseline median) |",
  "| --- | --- | --- | --- |",
  ...latency.map(({ label, samples }) => {
    const s = latencyStats(samples)!;
    return `| ${label} | ${ms(s.median)} | ${s.p99 === undefined ? "—" : ms(s.p99)} | ${label.startsWith("baseline") ? "—" : ms(s.median - baseline.median)} |`;
  }),
  "",
];
if (COMPARISON) {
  lines.push(
    `Comparison run (the catalog's scenarios shared by more than one mechanism, one lab per mechanism, as \`run --mechanism all\` does): **${(comparisonWallMs / 1000).toFixed(1)} s** wall in total.`,
    "",
    "| Mechanism | scenarios | passed | lab start | wall (start + scenarios + stop) |",
    "| --- | --- | --- | --- | --- |",
    ...comparison.map((c) => `| ${MECHANISM_TITLES[c.mechanism]} | ${c.scenarios} | ${c.pass}/${c.total} | ${(c.labStartMs / 1000).toFixed(1)} s | ${(c.wallMs / 1000).toFixed(1)} s |`),
    "",
  );
}
const text = lines.join("\n");
process.stdout.write(`${text}\n`);
if (WRITE) {
  await writeFile(RESULTS, text);
  log(`wrote ${RESULTS}`);
}
