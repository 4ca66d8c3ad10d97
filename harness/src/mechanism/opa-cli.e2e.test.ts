// `up --mechanism opa` on the local provider, end to end: a real `opa run --server` with the shipped
// Rego answers the apiserver's webhook calls (denials name OPA's webhook), its data API refuses
// anyone without the lab's token, `stub set --trust` changes OPA's list live, and `down`, Ctrl-C
// during `up` and a failed start leave no OPA process and no key behind; a user's own (mistaken)
// Rego is played as it is. The kind provider refuses the mechanism before anything starts.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { startLab } from "../lab/lab.ts";
import { OPA_ADMISSION_PATH } from "../opa/index.ts";
import { readLabState } from "../providers/lab-state.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { dryRunPod, filesOutsideLogs, labKubeConfig, pidRunning, processesMentioning, REPO_ROOT, runCli, spawnCli } from "../providers/local/test-support.ts";
import { apiOutcome, podManifest } from "../scenario/k8s-actions.ts";
import type { ClusterProvider } from "../providers/provider.ts";
import { httpsRequest } from "../util/https-get.ts";

describe("up --mechanism opa", () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const newStateDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "iplab-opa-"));
    dirs.push(dir);
    return join(dir, "lab");
  };
  const expectNothingLeft = async (stateDir: string) => {
    expect(await processesMentioning(stateDir), "processes whose command line names the state dir").toEqual([]);
    expect(await filesOutsideLogs(stateDir), "files left outside logs/").toEqual([]);
  };

  it("OPA refuses with its webhook's name, keeps its data behind the token, takes `stub set --trust` live, and `down` stops it", async () => {
    const stateDir = await newStateDir();
    const up = await runCli(["up", "--provider", "local", "--mechanism", "opa", "--trust", "trusted.example", "--state-dir", stateDir]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain("(local, Kubernetes");
      expect(up.stdout).toMatch(/OPA\)\./);
      expect(up.stdout).toMatch(/webhook opa\.imagepolicy-lab\.dev\), failurePolicy=Fail/);

      const state = (await readLabState(stateDir))!;
      expect(state.mechanism).toBe("opa");
      const opaPid = state.local!.opaPid!;
      expect(await pidRunning(opaPid)).toBe(true);
      const opaCmd = (await processesMentioning(stateDir)).find((p) => p.pid === opaPid)!.cmdline;
      expect(opaCmd).toMatch(/opa run --server --addr 127\.0\.0\.1:\d+ --tls-cert-file \S+\/backend\/tls\.crt .*--authentication=token --authorization=basic --skip-version-check/);

      const kc = labKubeConfig(stateDir);
      expect((await dryRunPod(kc, { name: "ok", image: "trusted.example/app:1" })).allowed).toBe(true);
      const refused = await dryRunPod(kc, { name: "evil", image: "evil.example/app:1" });
      expect(refused).toMatchObject({ allowed: false, code: 403 });
      expect(refused.message).toBe('admission webhook "opa.imagepolicy-lab.dev" denied the request: untrusted image(s): evil.example/app:1 (trusted registries [trusted.example], repositories [])');

      // Decisions are open (the apiserver has no token); the data API is not.
      const caPem = await readFile(state.opa!.caFile, "utf8");
      const put = await httpsRequest(`${state.opa!.url}/v1/data/lab/trust`, { caPem }, { method: "PUT", json: { registries: ["*"], repositories: [] } });
      expect(put.status).toBe(401);
      const decision = await httpsRequest(`${state.opa!.url}${OPA_ADMISSION_PATH}`, { caPem }, { method: "POST", json: { request: { uid: "u", kind: { group: "", kind: "Pod" }, namespace: "default", object: { spec: { containers: [{ image: "evil.example/x" }] } } } } });
      expect(decision.status).toBe(200);
      expect(JSON.parse(decision.body)).toMatchObject({ kind: "AdmissionReview", response: { uid: "u", allowed: false, status: { code: 403 } } });

      const set = await runCli(["stub", "set", "--state-dir", stateDir, "--trust", "evil.example"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toMatch(/opa: data\.lab\.trust: registries=\[evil\.example\] repositories=\[\]/);
      // No sleep: the command returns once the apiserver's calls to OPA show the new list.
      expect((await dryRunPod(kc, { name: "evil2", image: "evil.example/app:1" })).allowed).toBe(true);
      expect((await dryRunPod(kc, { name: "ok2", image: "trusted.example/app:1" })).allowed).toBe(false);

      const fault = await runCli(["stub", "set", "--state-dir", stateDir, "--fault", "status:500"]);
      expect(fault.code).toBe(2);
      expect(fault.stderr).toContain("this lab's mechanism is opa");
    } finally {
      const down = await runCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/opa \(pid \d+\)/);
    }
    await expectNothingLeft(stateDir);
    expect(await readFile(join(stateDir, "logs", "opa.log"), "utf8").then(() => true)).toBe(true);
  }, 240_000);

  it("SIGINT during `up --mechanism opa` exits 130 and leaves no OPA (nor any other) process and no key", async () => {
    const stateDir = await newStateDir();
    const c = spawnCli(["up", "--provider", "local", "--mechanism", "opa", "--state-dir", stateDir]);
    // OPA starts before the control plane: by now it runs.
    await c.waitForStderr(/start kube-apiserver/, 180_000);
    expect((await processesMentioning(stateDir)).some((p) => /\bopa run --server\b/.test(p.cmdline)), "OPA running when SIGINT is sent").toBe(true);
    c.child.kill("SIGINT");
    expect(await c.exited, c.output.stderr).toBe(130);
    await expectNothingLeft(stateDir);
  }, 240_000);

  it("a start that fails after OPA started stops OPA again", async () => {
    const stateDir = await newStateDir();
    const local = new LocalProvider();
    // The local provider, except that its control plane never comes up.
    const failing: ClusterProvider = {
      name: "local",
      preflight: () => local.preflight(),
      startBackend: (o) => local.startBackend(o),
      startOpa: (o) => local.startOpa(o),
      start: async () => {
        expect((await processesMentioning(stateDir)).some((p) => /\bopa run --server\b/.test(p.cmdline)), "OPA runs when the cluster start fails").toBe(true);
        throw new Error("the control plane did not start (on purpose)");
      },
      removeDetached: (o) => local.removeDetached(o),
      findLeftovers: () => local.findLeftovers(),
    };
    await expect(startLab({ provider: failing, mechanism: "opa", stateDir, detached: true })).rejects.toThrow("on purpose");
    await expectNothingLeft(stateDir);
  }, 120_000);

  // Issue 13 item 5: a policy with the classic mistakes (harness/src/opa/testdata/mistaken.rego, v0
  // Rego reading Gatekeeper's input), played through the lab: what users would really see.
  it("a mistaken policy (`--policy mistaken.rego`): loaded with --v0-compatible, it refuses trusted, untrusted and mixed pods alike, fail-closed and fail-open", async () => {
    const mistaken = join(REPO_ROOT, "harness/src/opa/testdata/mistaken.rego");
    const denial = `admission webhook "opa.imagepolicy-lab.dev" denied the request: data.cluster.images.permitted is not true (your policy ${mistaken})`;
    const pods = { trusted: ["registry.corp.example/app:1"], untrusted: ["evil.example/app:1"], mixed: ["registry.corp.example/app:1", "evil.example/app:1"] };
    const verdicts = async (kc: KubeConfig) => {
      const core = kc.makeApiClient(CoreV1Api);
      const out: Record<string, { allowed: boolean; code?: number; message?: string }> = {};
      for (const [name, images] of Object.entries(pods)) {
        const r = await apiOutcome(() => core.createNamespacedPodWithHttpInfo({ namespace: "default", dryRun: "All", body: podManifest({ name, images }) }));
        out[name] = { allowed: r.allowed, code: r.code, message: r.message };
      }
      return out;
    };
    const allRefused = { trusted: { allowed: false, code: 403, message: denial }, untrusted: { allowed: false, code: 403, message: denial }, mixed: { allowed: false, code: 403, message: denial } };

    // Fail-closed, through the CLI as a user runs it.
    const stateDir = await newStateDir();
    const up = await runCli(["up", "--provider", "local", "--mechanism", "opa", "--policy", mistaken, "--state-dir", stateDir]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain("/v0/data/lab/byo/review (your policy");
      expect(up.stdout).toContain("v0 Rego, which OPA 1.x refuses: loaded with --v0-compatible");
      expect(await verdicts(labKubeConfig(stateDir))).toEqual(allRefused);
    } finally {
      expect((await runCli(["down", "--state-dir", stateDir])).code).toBe(0);
    }
    await expectNothingLeft(stateDir);

    // Fail-open changes nothing while OPA answers (a denial is no failure); with OPA down, everything gets in.
    const lab = await startLab({ provider: new LocalProvider(), mechanism: "opa", opaPolicyFile: mistaken, profile: { defaultAllow: true } });
    try {
      expect(await verdicts(lab.kubeConfig())).toEqual(allRefused);
      await lab.mechanism.setFault!("refuse");
      const open = await verdicts(lab.kubeConfig());
      expect(Object.values(open).map((v) => [v.allowed, v.code])).toEqual([
        [true, 201],
        [true, 201],
        [true, 201],
      ]);
    } finally {
      await lab.stop();
    }

    // `run --policy`: the catalog shows it — the untrusted image is refused (for the wrong reason), the trusted one too.
    const run = await runCli(["run", "--provider", "local", "--mechanism", "opa", "--policy", mistaken, "untrusted-image-denied", "trusted-image-allowed"]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(/✗ trusted-image-allowed/);
  }, 300_000);
});
