// `npm run bench`: the local provider, stub and kind benchmarks one after another (never in
// parallel: on a 2-core machine they would measure each other). A benchmark whose prerequisite is
// missing is skipped with the reason; each runs as its own process so one failure does not stop
// the others. Extra arguments go to local-bench (e.g. `npm run bench -- --runs 3 --no-catalog`).
//   local-bench → bench/results/local.md   stub-bench → bench/results/stub.md
//   mechanism-bench → bench/results/mechanisms.md (per-create latency and the comparison run)
//   stub-soak   → bench/results/stub-soak.md (hostile input at full size, issue 10)
//   opa-bench   → bench/results/opa.md (OPA's cold build, cache hit, its kind image and container)
//   kind-bench  → stdout only (bench/results/kind.md also holds hand measurements; run
//                 `npx tsx bench/kind-bench.ts --write` to replace it)
import { spawn, execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_K8S_VERSION, resolveBinaries } from "../harness/src/binaries/index.ts";
import { probeGo } from "../harness/src/binaries/go-build.ts";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RUN_TS = join(REPO, "bin/run-ts.mjs");
const exec = promisify(execFile);

interface Bench {
  name: string;
  file: string;
  args: string[];
  /** Undefined when the benchmark can run here, else why not and how to fix it. */
  missing(): Promise<string | undefined>;
}

const BENCHES: Bench[] = [
  {
    name: "local provider",
    file: "bench/local-bench.ts",
    args: process.argv.slice(2),
    async missing() {
      if (process.platform !== "linux" && process.platform !== "darwin") return `the local provider needs Linux or macOS, not ${process.platform}`;
      // Only binaries that are already here: a benchmark must not start a 5-minute Go build.
      try {
        await resolveBinaries({ k8sVersion: DEFAULT_K8S_VERSION, env: { ...process.env, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", IMAGEPOLICY_LAB_NO_BUILD: "1" } });
        return undefined;
      } catch (err) {
        return `no Kubernetes ${DEFAULT_K8S_VERSION} binaries in the cache or environment (run \`imagepolicy-lab binaries\` first): ${(err as Error).message.split("\n")[0]}`;
      }
    },
  },
  {
    name: "admission mechanisms",
    file: "bench/mechanism-bench.ts",
    args: [],
    // The same prerequisite as the local provider's benchmark: cached binaries, no build.
    missing: () => BENCHES[0]!.missing(),
  },
  { name: "webhook stub", file: "bench/stub-bench.ts", args: [], missing: async () => undefined },
  {
    name: "webhook stub soak",
    file: "bench/stub-soak.ts",
    args: [],
    // RSS and open sockets are read from /proc.
    missing: async () => (process.platform === "linux" ? undefined : `the soak reads /proc, which ${process.platform} does not have`),
  },
  {
    name: "OPA",
    file: "bench/opa-bench.ts",
    args: [],
    // Its cold build is what it measures, so it needs Go (and Docker for its kind rows, which it skips on its own).
    missing: async () => {
      const go = await probeGo(process.env);
      return "problem" in go ? `OPA is built from its Go module: ${go.problem}` : undefined;
    },
  },
  {
    name: "kind provider",
    file: "bench/kind-bench.ts",
    args: [],
    async missing() {
      // kind-bench starts dockerd itself when it is installed but stopped; it skips the cluster rows
      // on its own when kind or the node image is missing.
      const docker = await exec("docker", ["--version"]).then(
        () => undefined,
        () => "no docker CLI on PATH (kind needs Docker; see harness/src/providers/kind/ensure-docker.sh)",
      );
      return docker;
    },
  },
];

function runBench(b: Bench): Promise<number> {
  return new Promise((resolveExit) => {
    const child = spawn(process.execPath, [RUN_TS, join(REPO, b.file), ...b.args], { cwd: REPO, stdio: "inherit" });
    child.on("exit", (code, signal) => resolveExit(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
}

const summary: string[] = [];
let failed = false;
for (const b of BENCHES) {
  const why = await b.missing();
  if (why) {
    process.stdout.write(`\n=== ${b.name}: skipped — ${why}\n`);
    summary.push(`${b.name}: skipped (${why})`);
    continue;
  }
  process.stdout.write(`\n=== ${b.name}: ${b.file}\n`);
  const t0 = performance.now();
  const code = await runBench(b);
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  summary.push(`${b.name}: ${code === 0 ? "ok" : `exit ${code} (see its output)`} in ${secs} s`);
  if (code !== 0) failed = true;
  if (code === 130) break;
}
process.stdout.write(`\n=== summary\n${summary.map((s) => `  ${s}`).join("\n")}\n`);
process.exitCode = failed ? 1 : 0;
