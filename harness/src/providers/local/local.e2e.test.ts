// End-to-end tests of the local provider against real etcd, kube-apiserver and
// kube-controller-manager processes (GitHub issue 2, "Must show"): fail-closed and fail-open with an
// unreachable backend, the apiserver's own error for a TTL forced past lint, controllers at work,
// `up`/`down` as a user runs them, Ctrl-C during `up`, and a profile switch that restarts only the
// apiserver. After every lab: none of its processes run and its state dir holds no keys.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLab, type StartedLab } from "../../lab/lab.ts";
import { httpsGet } from "../../util/https-get.ts";
import { readLabState } from "../lab-state.ts";
import { LocalProvider } from "./local-provider.ts";
import { closedPort, dryRunPod, execCli, filesOutsideLogs, labKubeConfig, pidRunning, pollFor, processesMentioning, runCli, spawnCli, writeSomeCa } from "./test-support.ts";

const workDirs: string[] = [];
async function workDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "iplab-local-e2e-"));
  workDirs.push(d);
  return d;
}

afterAll(async () => {
  // A failed test must not leave processes behind for the next one (or the lead's catalog run).
  for (const d of workDirs) {
    for (const p of await processesMentioning(d)) process.kill(p.pid, "SIGKILL");
    await rm(d, { recursive: true, force: true });
  }
});

/** What `down` and a failed start must guarantee: nothing of the lab runs, no keys on disk. */
async function expectNothingLeft(stateDir: string): Promise<void> {
  expect(await processesMentioning(stateDir), "processes whose command line names the state dir").toEqual([]);
  expect(await filesOutsideLogs(stateDir), "files left outside logs/").toEqual([]);
}

const pidsByName = async (stateDir: string) => Object.fromEntries((await readLabState(stateDir))!.local!.processes!.map((p) => [p.name, p.pid]));

describe("a local lab whose backend refuses connections", () => {
  let work: string;
  let lab: StartedLab;
  let port: number;

  beforeAll(async () => {
    work = await workDir();
    port = await closedPort();
    const caPem = await readFile(await writeSomeCa(work), "utf8");
    lab = await startLab({
      provider: new LocalProvider(),
      stateDir: join(work, "lab"),
      profile: { defaultAllow: false },
      externalBackend: { url: `https://127.0.0.1:${port}/review`, caPem },
    });
  });

  afterAll(async () => {
    await lab?.stop();
    if (lab) await expectNothingLeft(lab.stateDir);
  });

  it("fails closed: defaultAllow false refuses a pod with the connection error", async () => {
    const out = await dryRunPod(lab.kubeConfig(), { name: "fail-closed", image: "registry.k8s.io/pause:3.10" });
    expect(out.allowed).toBe(false);
    expect(out.code).toBe(403);
    expect(out.message).toMatch(new RegExp(`^pods "fail-closed" is forbidden: Post "https://127\\.0\\.0\\.1:${port}/review[^"]*": dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused$`));
  });

  it("keeps etcd's trust apart: etcd refuses the admin's and the controller-manager's certificates, the apiserver refuses etcd's", async () => {
    const pkiDir = join(lab.stateDir, "pki");
    const pem = (name: string) => readFile(join(pkiDir, name), "utf8");
    const pair = async (base: string) => ({ certPem: await pem(`${base}.crt`), keyPem: await pem(`${base}.key`) });
    const etcdPid = (await pidsByName(lab.stateDir)).etcd!;
    const cmdline = (await readFile(`/proc/${etcdPid}/cmdline`, "utf8")).split("\0");
    const etcdUrl = `${cmdline.find((a) => a.startsWith("--listen-client-urls="))!.split("=")[1]}/health`;
    const failure = (p: Promise<{ status: number }>) =>
      p.then(
        (r) => `answered HTTP ${r.status}`,
        (e: NodeJS.ErrnoException) => `${e.code ?? ""} ${e.message}`,
      );
    const etcdCa = await pem("etcd-ca.crt");
    expect((await httpsGet(etcdUrl, { caPem: etcdCa, ...(await pair("apiserver-etcd-client")) })).status).toBe(200);
    for (const who of ["admin", "controller-manager"]) {
      expect(await failure(httpsGet(etcdUrl, { caPem: etcdCa, ...(await pair(who)) })), who).toMatch(/UNKNOWN_CA|unknown ca|ECONNRESET/i);
    }
    // The apiserver does not know etcd's CA: an etcd certificate is anonymous there, and anonymous is refused.
    const server = lab.kubeConfig().getCurrentCluster()!.server;
    const clusterCa = await pem("ca.crt");
    for (const base of ["apiserver-etcd-client", "etcd"]) {
      const r = await httpsGet(`${server}/api/v1/namespaces/default/pods`, { caPem: clusterCa, ...(await pair(base)) }).catch((e: Error) => ({ status: 0, body: e.message }));
      expect(r.status, `${base}: ${r.body}`).toBe(401);
    }
    expect((await httpsGet(`${server}/api/v1/namespaces/default/pods`, { caPem: clusterCa, ...(await pair("admin")) })).status).toBe(200);
  });

  it("accepts a Deployment, and kube-controller-manager creates its ReplicaSet", async () => {
    const apps = lab.kubeConfig().makeApiClient(AppsV1Api);
    const labels = { app: "e2e-deploy" };
    await apps.createNamespacedDeployment({
      namespace: "default",
      body: {
        metadata: { name: "e2e-deploy", labels },
        spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] } } },
      },
    });
    const rs = await pollFor(
      "a ReplicaSet owned by deployment e2e-deploy",
      async () => (await apps.listNamespacedReplicaSet({ namespace: "default", labelSelector: "app=e2e-deploy" })).items.find((r) => r.metadata?.ownerReferences?.some((o) => o.kind === "Deployment" && o.name === "e2e-deploy")),
      60_000,
    );
    expect(rs.metadata?.name).toMatch(/^e2e-deploy-/);
  });

  it("a profile switch restarts the apiserver and the controller-manager, not etcd, and the new profile takes effect", async () => {
    const before = await pidsByName(lab.stateDir);
    const sw = await lab.applyProfile({ ...lab.profile, defaultAllow: true });
    const after = await pidsByName(lab.stateDir);
    console.info(`profile switch took ${Math.round(sw.elapsedMs)} ms`);

    expect(after.etcd).toBe(before.etcd);
    // A new controller-manager lists at once; the old one's watches would return only after a backoff.
    expect(after["kube-controller-manager"]).not.toBe(before["kube-controller-manager"]);
    expect(after["kube-apiserver"]).not.toBe(before["kube-apiserver"]);
    expect(await pidRunning(before["kube-apiserver"]!)).toBe(false);
    for (const pid of Object.values(after)) expect(await pidRunning(pid)).toBe(true);

    expect(lab.profile.defaultAllow).toBe(true);
    const out = await dryRunPod(lab.kubeConfig(), { name: "fail-open", image: "docker.io/library/nginx:1.25" });
    expect(out, out.message).toMatchObject({ allowed: true, code: 201 });
  });
});

describe("the CLI against real processes", () => {
  it("fails open: `up --backend-url <closed port> --default-allow true` admits a pod", async () => {
    const work = await workDir();
    const stateDir = join(work, "lab");
    const port = await closedPort();
    const ca = await writeSomeCa(work);
    const up = await runCli(["up", "--provider", "local", "--state-dir", stateDir, "--backend-url", `https://127.0.0.1:${port}/review`, "--backend-ca", ca, "--default-allow", "true"]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain(`backend:    https://127.0.0.1:${port}/review`);
      const kc = labKubeConfig(stateDir);
      const out = await dryRunPod(kc, { name: "fail-open", image: "docker.io/library/nginx:1.25" });
      expect(out, out.message).toMatchObject({ allowed: true, code: 201 });
    } finally {
      const down = await runCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
    }
    await expectNothingLeft(stateDir);
  });

  it("lint refuses an out-of-range TTL and names the flag", async () => {
    const r = await runCli(["lint", "--allow-ttl", "3600"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--allow-ttl");
  });

  it("forced past lint, the apiserver's own error reaches the user, promptly, and nothing is left", async () => {
    const stateDir = join(await workDir(), "lab");
    const t0 = performance.now();
    const r = await runCli(["up", "--provider", "local", "--state-dir", stateDir, "--skip-lint", "--allow-ttl", "3600"]);
    const elapsedMs = performance.now() - t0;
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain("valid value is between 1s and 30m0s, got 1h0m0s");
    // The apiserver exits within a second or two; waiting out the 60 s readiness budget would hide that.
    expect(elapsedMs).toBeLessThan(30_000);
    await expectNothingLeft(stateDir);
  });

  it("`up` then `down` as child processes: the lab works, then nothing of it is left; `down` twice is fine", async () => {
    const stateDir = join(await workDir(), "lab");
    const up = await execCli(["up", "--provider", "local", "--state-dir", stateDir, "--trust", "registry.k8s.io"]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/Lab ready in [\d.]+s \(local, Kubernetes /);
    const state = (await readLabState(stateDir))!;
    const pids = [...state.local!.processes!.map((p) => p.pid), state.local!.stubPid!];
    expect(state.local!.processes!.map((p) => p.name)).toEqual(["etcd", "kube-apiserver", "kube-controller-manager"]);
    // `up` has exited, yet its lab runs on.
    for (const pid of pids) expect(await pidRunning(pid), `pid ${pid}`).toBe(true);
    try {
      const kc = labKubeConfig(stateDir);
      expect(await dryRunPod(kc, { name: "trusted", image: "registry.k8s.io/pause:3.10" })).toMatchObject({ allowed: true });
      const denied = await dryRunPod(kc, { name: "untrusted", image: "docker.io/library/nginx:1.25" });
      expect(denied.code).toBe(403);
      expect(denied.message).toContain('pods "untrusted" is forbidden: image policy webhook backend denied one or more images');

      const set = await execCli(["stub", "set", "--state-dir", stateDir, "--trust", "trusted.example"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toContain("trusted.example");
      expect(await dryRunPod(kc, { name: "now-trusted", image: "trusted.example/app:1.0" })).toMatchObject({ allowed: true });
      // Another tag: pause:3.10's allow is cached by the apiserver for allowTTL (300 s by default).
      expect(await dryRunPod(kc, { name: "no-longer", image: "registry.k8s.io/pause:3.9" })).toMatchObject({ allowed: false, code: 403 });

      const journal = await execCli(["stub", "journal", "--state-dir", stateDir, "--json"]);
      expect(journal.code, journal.stderr).toBe(0);
      const entries = (JSON.parse(journal.stdout) as { entries: { images: string[]; outcome: string }[] }).entries;
      expect(entries).toContainEqual(expect.objectContaining({ images: ["trusted.example/app:1.0"], outcome: "allowed" }));
      expect(entries).toContainEqual(expect.objectContaining({ images: ["docker.io/library/nginx:1.25"], outcome: "denied" }));
    } finally {
      const down = await execCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/stopped: .*kube-apiserver/);
    }
    for (const pid of pids) expect(await pidRunning(pid), `pid ${pid} after down`).toBe(false);
    await expectNothingLeft(stateDir);

    const again = await execCli(["down", "--state-dir", stateDir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("no lab in");
  });

  it("SIGINT during `up` exits 130 and leaves no process and no key behind", async () => {
    const stateDir = join(await workDir(), "lab");
    const c = spawnCli(["up", "--provider", "local", "--state-dir", stateDir]);
    await c.waitForStderr(/start kube-apiserver/, 180_000);
    expect((await processesMentioning(stateDir)).filter((p) => p.pid !== c.child.pid), "lab processes running when SIGINT is sent").not.toEqual([]);
    c.child.kill("SIGINT");
    const code = await c.exited;
    expect(code, c.output.stderr).toBe(130);
    expect(c.output.stderr).toContain("SIGINT: stopping everything this command started");
    await expectNothingLeft(stateDir);
  });

  it("SIGHUP when the terminal is gone (writes fail with EPIPE) still stops everything", async () => {
    const stateDir = join(await workDir(), "lab");
    const c = spawnCli(["up", "--provider", "local", "--state-dir", stateDir]);
    await c.waitForStderr(/start kube-apiserver/, 180_000);
    // What a closed terminal does: the output goes away, then SIGHUP arrives. Every later write of
    // the cleanup's progress fails; that must not cut the cleanup short.
    c.child.stdout!.destroy();
    c.child.stderr!.destroy();
    c.child.kill("SIGHUP");
    await c.exited;
    await pollFor("the lab's processes to be gone", async () => ((await processesMentioning(stateDir)).length === 0 ? true : undefined), 30_000);
    await expectNothingLeft(stateDir);
  });

  it("after `up` is killed outright (SIGKILL) mid-start, `down` still finds and stops every process", async () => {
    const stateDir = join(await workDir(), "lab");
    const c = spawnCli(["up", "--provider", "local", "--state-dir", stateDir]);
    await c.waitForStderr(/start kube-apiserver/, 180_000);
    // No handler runs on SIGKILL: the lab's processes are orphaned, only the state file knows them.
    c.child.kill("SIGKILL");
    await c.exited;
    const orphans = (await processesMentioning(stateDir)).filter((p) => p.pid !== c.child.pid);
    expect(orphans, "orphaned lab processes after SIGKILL").not.toEqual([]);
    const down = await execCli(["down", "--state-dir", stateDir]);
    expect(down.code, down.stderr).toBe(0);
    await expectNothingLeft(stateDir);
  });
});
