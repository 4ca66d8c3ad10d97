// Runs binary resolution once and prints what happened, with plain line-per-event progress (fit for
// logs): `npx tsx bench/provision-binaries.ts [--k8s-version 1.36.1]`. Used for bench/results/provision.md.
import { execa } from "execa";
import { resolveBinaries } from "../harness/src/binaries/index.ts";
import type { Logger, Progress } from "../harness/src/util/logger.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--k8s-version");
const k8sVersion = i >= 0 ? args[i + 1] : undefined;

const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
const logger: Logger = {
  info: (m) => console.log(`${stamp()} info  ${m}`),
  warn: (m) => console.log(`${stamp()} warn  ${m}`),
  debug: (m) => (process.env.DEBUG ? console.log(`${stamp()} debug ${m}`) : undefined),
};
// Status updates arrive every second; print one every 15 s so the log stays readable.
const progress: Progress = {
  start(name) {
    console.log(`${stamp()} start ${name}`);
    let last = 0;
    return {
      update(status) {
        if (performance.now() - last < 15_000) return;
        last = performance.now();
        console.log(`${stamp()}   ... ${name}: ${status}`);
      },
      succeed: (d) => console.log(`${stamp()} ok    ${name}${d ? ` (${d})` : ""}`),
      fail: (d) => console.log(`${stamp()} FAIL  ${name}${d ? `: ${d}` : ""}`),
    };
  },
};

const controller = new AbortController();
process.once("SIGINT", () => controller.abort());
try {
  const r0 = performance.now();
  const bins = await resolveBinaries({ ...(k8sVersion ? { k8sVersion } : {}), progress, logger, signal: controller.signal });
  console.log(`${stamp()} resolveBinaries took ${((performance.now() - r0) / 1000).toFixed(2)}s`);
  console.log(`${stamp()} resolved Kubernetes ${bins.version} (etcd ${bins.etcdVersion}) from: ${bins.source}`);
  console.log("attempts:\n" + bins.attempts.map((a) => `  - ${a}`).join("\n"));
  for (const [name, path] of [["kube-apiserver", bins.kubeApiserver], ["kube-controller-manager", bins.kubeControllerManager], ["etcd", bins.etcd]] as const) {
    const r = await execa(path, ["--version"], { reject: false, all: true });
    console.log(`${name}: ${path}\n  ${(r.all ?? "").trim().split("\n").join("\n  ")}`);
  }
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(2)}s`);
} catch (err) {
  console.error(`${stamp()} ERROR: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
