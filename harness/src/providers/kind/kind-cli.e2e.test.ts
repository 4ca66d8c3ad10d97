// The kind lab as a user drives it, through the real CLI in a child process: `up --provider kind`,
// a refused image with the backend's reason, a broken backend seen through the journal, `down`; and
// Ctrl-C or SIGKILL during `up --mechanism opa` (the stub and OPA containers exist by then). After
// each: no container, kind cluster or network of the lab is left.
//
// Runs where Docker, kind and a node image are usable (the same gate as the kind catalog); elsewhere
// it is skipped with the reason, and with IMAGEPOLICY_LAB_KIND_TESTS=required (CI) that is a failure.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerGate, kindTestsRequired } from "../../../test/docker-gate.ts";
import { createCA } from "../../pki/pki.ts";
import { dryRunPod, execCli, filesOutsideLogs, labKubeConfig, pollFor, spawnCli, type CliChild } from "../local/test-support.ts";
import { KindProvider } from "./kind-provider.ts";
import { findKind, kindNetworkName, tryRun } from "./tools.ts";

const gate = await dockerGate();
const pre = gate.on ? await new KindProvider().preflight() : undefined;
const skip = !gate.on ? gate.why : pre && !pre.usable ? pre.reasons.join("; ") : undefined;
if (skip && kindTestsRequired()) throw new Error(`IMAGEPOLICY_LAB_KIND_TESTS=required, but the kind CLI tests cannot run here: ${skip}`);
if (skip) console.warn(`kind-cli.e2e: skipped: ${skip}`);

async function labContainers(stateDir: string): Promise<string> {
  return (await tryRun("docker", ["ps", "-a", "--filter", `label=imagepolicy-lab.dev/state-dir=${stateDir}`, "--format", "{{.Names}}"])).stdout.trim();
}

/** `up` under the opa mechanism: OPA's container starts before kind creates the cluster. */
const OPA_UP = ["--mechanism", "opa"];

async function kindClusters(): Promise<string[]> {
  const kind = await findKind("v0.32.0");
  if (!kind.found) return [];
  return (await tryRun(kind.found.path, ["get", "clusters"])).stdout.split("\n").filter((l) => l.startsWith("iplab-"));
}

/**
 * `up --provider kind` as a child process, returned once kind has created this lab's node container,
 * so an interrupt then has something real to undo.
 */
async function upUntilNodeExists(stateDir: string, extra: string[] = []): Promise<CliChild> {
  const c = spawnCli(["up", "--provider", "kind", "--state-dir", stateDir, ...extra]);
  await c.waitForStderr(/kind create cluster iplab-/, 300_000);
  const cluster = /kind create cluster (iplab-[0-9a-f]{6})/.exec(c.output.stderr)![1]!;
  await pollFor(`the node container of ${cluster}`, async () => ((await tryRun("docker", ["ps", "-q", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`])).stdout.trim() || undefined), 120_000);
  return c;
}

describe.skipIf(skip !== undefined)("kind lab through the CLI", () => {
  let work: string;
  let networkExisted = false;
  const clustersBefore: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "iplab-kind-cli-"));
    networkExisted = (await tryRun("docker", ["network", "inspect", kindNetworkName()])).ok;
    clustersBefore.push(...(await kindClusters()));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function expectNothingLeft(stateDir: string): Promise<void> {
    expect(await labContainers(stateDir), "stub or node containers of the lab").toBe("");
    expect(await kindClusters(), "kind clusters").toEqual(clustersBefore);
    if (!networkExisted) expect((await tryRun("docker", ["network", "inspect", kindNetworkName()])).ok, "the kind network the lab created").toBe(false);
    expect(await filesOutsideLogs(stateDir), "files left outside logs/").toEqual([]);
  }

  it("up, a refused image with the backend's reason, a 500ing backend asked 5 times, down", async () => {
    const stateDir = join(work, "lab");
    const up = await execCli(["up", "--provider", "kind", "--state-dir", stateDir], 600_000);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toMatch(/kind node image: /);
      const kc = labKubeConfig(stateDir);
      const refused = await dryRunPod(kc, { name: "x", image: "nginx" });
      expect(refused).toMatchObject({ allowed: false, code: 403 });
      expect(refused.message).toMatch(/image policy webhook backend denied one or more images: docker\.io\/library\/nginx:latest \(from "nginx"\): registry docker\.io not in allow\.registries/);

      expect((await execCli(["stub", "journal", "--state-dir", stateDir, "--reset"])).code).toBe(0);
      const set = await execCli(["stub", "set", "--state-dir", stateDir, "--fault", "status:500"]);
      expect(set.code, set.stderr).toBe(0);
      // An image no earlier create used, so the plugin's cache cannot answer for the backend.
      const broken = await dryRunPod(kc, { name: "y", image: "registry.k8s.io/pause:3.10.2" });
      expect(broken).toMatchObject({ allowed: false, code: 403 });
      expect(broken.message).toMatch(/has prevented the request from succeeding/);
      const journal = await execCli(["stub", "journal", "--state-dir", stateDir, "--json"]);
      const entries = (JSON.parse(journal.stdout) as { entries: Array<{ images: string[]; status: number }> }).entries.filter((e) => e.images.includes("registry.k8s.io/pause:3.10.2"));
      expect(entries.map((e) => e.status)).toEqual([500, 500, 500, 500, 500]);
    } finally {
      const down = await execCli(["down", "--state-dir", stateDir], 300_000);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/kind cluster iplab-/);
    }
    await expectNothingLeft(stateDir);
    const again = await execCli(["down", "--state-dir", stateDir]);
    expect(again.code, again.stderr).toBe(0);
  });

  it("a lab with --backend-url (no stub container) is tied to its state dir through its node's admission mount, for `down --all`", async () => {
    const stateDir = join(work, "external");
    // Fail open: nothing answers at the URL, and the cluster's own pods must still be admitted.
    const ca = join(work, "external-ca.crt");
    await writeFile(ca, (await createCA("a backend nobody runs")).certPem);
    const up = await execCli(["up", "--provider", "kind", "--state-dir", stateDir, "--backend-url", "https://127.0.0.1:1/review", "--backend-ca", ca, "--default-allow", "true"], 600_000);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(await labContainers(stateDir), "no stub container").toBe("");
      // What `down --all` works from (not run here: it would stop every other lab on the machine).
      const mine = (await new KindProvider().findLeftovers()).find((l) => l.stateDir === stateDir);
      expect(mine?.parts).toEqual([expect.stringMatching(/^kind cluster iplab-[0-9a-f]{6}$/)]);
    } finally {
      const down = await execCli(["down", "--state-dir", stateDir], 300_000);
      expect(down.code, down.stderr).toBe(0);
    }
    await expectNothingLeft(stateDir);
  });

  it("SIGINT during `up --mechanism opa` (while kind creates the cluster) exits 130 and leaves nothing, OPA's container included", async () => {
    const stateDir = join(work, "interrupted");
    const c = await upUntilNodeExists(stateDir, OPA_UP);
    expect(await labContainers(stateDir), "the stub and OPA run when SIGINT is sent").toMatch(/imagepolicy-lab-opa-/);
    c.child.kill("SIGINT");
    const code = await c.exited;
    expect(code, c.output.stderr).toBe(130);
    expect(c.output.stderr).toContain("SIGINT: stopping everything this command started");
    await expectNothingLeft(stateDir);
  });

  it("after `up --mechanism opa` is killed outright (SIGKILL) while kind creates the cluster, `down` still removes the cluster, the stub, OPA and the network", async () => {
    const stateDir = join(work, "killed");
    const c = await upUntilNodeExists(stateDir, OPA_UP);
    // No handler runs on SIGKILL: only the state file knows the cluster kind is still creating.
    c.child.kill("SIGKILL");
    await c.exited;
    expect(await kindClusters(), "the orphaned cluster").not.toEqual(clustersBefore);
    const down = await execCli(["down", "--state-dir", stateDir], 300_000);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/kind cluster iplab-/);
    expect(down.stdout).toMatch(/OPA container /);
    await expectNothingLeft(stateDir);
  });
});
