// OPA's cost to the lab, written to bench/results/opa.md:
//   npx tsx bench/opa-bench.ts [--no-cold] [--no-kind] [--no-write]
// (a) cold build: ensureOpa (go install of OPA's module, as `binaries --opa` and CI run it) into an
//     empty lab cache with an empty Go build cache; the Go module cache is the machine's, so module
//     downloads are not timed (a first-ever download from the proxy adds its own time).
// (b) rebuild with a warm Go build cache: another empty lab cache, the build cache of (a).
// (c) cache hit: ensureOpa finding the cached binary (`opa version` included), median of 5.
// (d) kind: the OPA image (stub image + opa + supervisor) built cold and reused, and the container's
//     start to /health answering over TLS, median of 3, on a docker network of its own.
// The per-create latency OPA adds behind a real apiserver is the mechanism benchmark's
// (bench/mechanism-bench.ts, bench/results/mechanisms.md); this file quotes that file's OPA row.
// Sequential on purpose: the machine this targets has 2 cores.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { probeGo } from "../harness/src/binaries/go-build.ts";
import { ensureOpa, OPA_MODULE, OPA_VERSION } from "../harness/src/opa/index.ts";
import { writeBackendPki } from "../harness/src/providers/common/backend-pki.ts";
import { buildOpaImage, startOpaContainer } from "../harness/src/providers/kind/opa-container.ts";
import { OPA_ALIAS } from "../harness/src/providers/kind/stub-alias.ts";
import { dockerStatus, ensureNetwork, removeNetwork, tryRun } from "../harness/src/providers/kind/tools.ts";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS = join(REPO, "bench/results/opa.md");
const args = process.argv.slice(2);
const COLD = !args.includes("--no-cold");
const KIND = !args.includes("--no-kind");
const WRITE = !args.includes("--no-write");
const log = (m: string) => process.stderr.write(`[opa-bench] ${m}\n`);
const secs = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${((ms % 60_000) / 1000).toFixed(0)} s` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

/** ensureOpa with only the lab's cache to look in (no opa on PATH, no IMAGEPOLICY_LAB_OPA). */
function isolatedEnv(cache: string, gocache: string): NodeJS.ProcessEnv {
  const { IMAGEPOLICY_LAB_OPA: _ignored, ...rest } = process.env;
  const path = (rest.PATH ?? "").split(":").filter((d) => !d.includes("imagepolicy-lab")).join(":");
  return { ...rest, PATH: path, IMAGEPOLICY_LAB_CACHE: cache, GOCACHE: gocache };
}

const rows: string[][] = [];
const notes: string[] = [];
const scratch = await mkdtemp(join(tmpdir(), "iplab-opa-bench-"));
try {
  const go = await probeGo(process.env);
  if ("problem" in go) throw new Error(`Go is needed to build OPA: ${go.problem}`);
  const gocache = join(scratch, "gocache");
  if (COLD) {
    log(`cold build of ${OPA_MODULE}@${OPA_VERSION} (empty lab cache, empty Go build cache)`);
    const [binary, cold] = await timed(() => ensureOpa({ env: isolatedEnv(join(scratch, "cache-a"), gocache) }));
    const size = (await readFile(binary)).length;
    rows.push(["cold build (empty Go build cache)", secs(cold), `${(size / 1e6).toFixed(1)} MB static binary, ${go.version}`]);
    log(`warm rebuild (empty lab cache, Go build cache of the cold build)`);
    const [, warm] = await timed(() => ensureOpa({ env: isolatedEnv(join(scratch, "cache-b"), gocache) }));
    rows.push(["rebuild with a warm Go build cache", secs(warm), "a second machine's CI with a restored Go cache"]);
  } else notes.push("Build rows left out (--no-cold).");

  const hits: number[] = [];
  for (let i = 0; i < 5; i++) hits.push((await timed(() => ensureOpa()))[1]);
  rows.push(["cache hit (ensureOpa, median of 5)", `${median(hits).toFixed(0)} ms`, "finds the binary and checks `opa version`"]);

  if (KIND && (await dockerStatus()).daemon) {
    const opaBinary = await ensureOpa();
    const tagOf = async () => buildOpaImage({ opaBinary });
    // Cold: our own image tag removed first (it is rebuilt at once); the stub base image is kept.
    const tag = await tagOf();
    await tryRun("docker", ["rmi", "-f", tag]);
    const [, coldImage] = await timed(tagOf);
    const [, reuse] = await timed(tagOf);
    rows.push(["kind: OPA image build (cold, base image present)", secs(coldImage), "stub image + opa + supervisor"]);
    rows.push(["kind: OPA image reuse", secs(reuse), "bundles the stub and hashes the opa binary to find both tags"]);
    const network = "imagepolicy-lab-opa-bench";
    const { created } = await ensureNetwork(network);
    try {
      const stateDir = join(scratch, "state");
      await writeBackendPki(stateDir, [OPA_ALIAS, "127.0.0.1", "localhost"], false);
      const starts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [opa, ms] = await timed(() => startOpaContainer({ stateDir, network, opaBinary, detached: false }));
        starts.push(ms);
        await opa.stop();
      }
      rows.push(["kind: OPA container start to /health (median of 3)", secs(median(starts)), `runs: ${starts.map((s) => secs(s)).join(", ")}`]);
    } finally {
      if (created) await removeNetwork(network);
    }
  } else notes.push(KIND ? "kind rows left out: no Docker engine answers." : "kind rows left out (--no-kind).");
} finally {
  await rm(scratch, { recursive: true, force: true });
}

// The per-create latency row of the mechanism benchmark, quoted as recorded there.
const mechanisms = await readFile(join(REPO, "bench/results/mechanisms.md"), "utf8").catch(() => "");
const opaRow = mechanisms.split("\n").find((l) => /^\|\s*OPA/.test(l));
const baseRow = mechanisms.split("\n").find((l) => /^\|\s*baseline/.test(l));

const cpu = cpus()[0]?.model ?? "unknown CPU";
const header = `${availableParallelism()} vCPU (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GB, load ${loadavg()
  .map((l) => l.toFixed(2))
  .join(" ")} at the end, ${new Date().toISOString().slice(0, 10)}`;
const md = `# OPA in the lab: build, start-up, per-create cost

Measured by \`npx tsx bench/opa-bench.ts\` on ${header}. OPA ${OPA_VERSION} built from its Go module
(\`CGO_ENABLED=0 go install ${OPA_MODULE}@${OPA_VERSION}\`, what \`imagepolicy-lab binaries --opa\` and CI run).

| What | Time | Notes |
| --- | ---: | --- |
${rows.map((r) => `| ${r.join(" | ")} |`).join("\n")}

${notes.join("\n")}

## Per-create latency OPA adds (from bench/results/mechanisms.md)

Server-side dry-run pod creates against the local provider's apiserver, OPA behind a
ValidatingWebhookConfiguration (bench/mechanism-bench.ts):

${opaRow && baseRow ? `| Mechanism | median | p99 | adds (median − baseline median) |\n| --- | --- | --- | --- |\n${opaRow}\n${baseRow}` : "(bench/results/mechanisms.md has no OPA row yet: run bench/mechanism-bench.ts)"}
`;
process.stdout.write(`\n${md}\n`);
if (WRITE) {
  await writeFile(RESULTS, md);
  log(`wrote ${RESULTS}`);
}
