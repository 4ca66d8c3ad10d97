// End-to-end tests of the kind provider against a real Docker engine.
//
// Gate: IMAGEPOLICY_LAB_DOCKER_TESTS=1 runs the docker part (and fails if no engine can be made
// usable), =0 skips it. Unset: on when CI=true or a Docker engine already answers, else skipped with a
// printed reason. When on, ensure-docker.sh installs/starts dockerd if needed.
//
// (a) docker part: the `kind` network, the stub image (offline variant when no base image can be
//     pulled), the stub container on that network, and proof that another container on the network
//     reaches it by its alias over TLS verified with the lab CA; then full cleanup.
// (b) cluster part: runs only when kind v0.32.0 and the pinned node image are present; otherwise it is
//     skipped with the preflight's reasons.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ApiException, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_PROFILE } from "../../profile/profile.ts";
import { CleanupRegistry } from "../../util/cleanup.ts";
import type { StartedBackend, StartedCluster } from "../provider.ts";
import { KindProvider } from "./kind-provider.ts";
import { STUB_ALIAS, STUB_REVIEW_PORT } from "./stub-container.ts";
import { kindNetworkName, tryRun } from "./tools.ts";
import { dockerGate, kindTestsRequired } from "../../../test/docker-gate.ts";
import { readLabState } from "../lab-state.ts";
import { dryRunPod } from "../local/test-support.ts";
import { APISERVER_MANIFEST, nodeExec, RESTART_ANNOTATION, runningContainer } from "./kind-node.ts";

const exec = promisify(execFile);
const ENSURE_DOCKER = fileURLToPath(new URL("./ensure-docker.sh", import.meta.url));

/**
 * A real program standing in for kind v0.32.0: records argv and stdin and fails `create` like kind
 * does; `delete` takes `deleteSeconds` and then leaves a `deleted` marker.
 */
async function writeFakeKind(dir: string, o: { deleteSeconds?: number } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const fake = join(dir, "kind");
  await writeFile(
    fake,
    `#!/bin/sh
echo "$*" >> "${dir}/argv.log"
case "$1" in
  version) echo "kind v0.32.0 go1.26.8 linux/amd64";;
  create) cat > "${dir}/stdin.yaml"; echo "Creating cluster \"$4\" ..." >&2; echo " ✓ Ensuring node image (kindest/node:v1.36.1) 🖼" >&2; echo "ERROR: failed to create cluster: failed to init node with kubeadm" >&2; exit 1;;
  export) mkdir -p "$3"; echo "$3";;
  delete) sleep ${o.deleteSeconds ?? 0}; touch "${dir}/deleted";;
esac
`,
    { mode: 0o755 },
  );
  return fake;
}

const gate = await dockerGate();
if (!gate.on) console.warn(`kind.e2e: skipping the docker tests: ${gate.why}`);

describe.skipIf(!gate.on)("kind provider against Docker", () => {
  const cleanup = new CleanupRegistry();
  const provider = new KindProvider({ cleanup });
  let stateDir: string;
  let clusterSkip: string | undefined;
  let networkExisted = false;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const t0 = performance.now();
    const { stdout } = await exec("bash", [ENSURE_DOCKER], { timeout: 600_000 });
    timings.ensureDockerMs = performance.now() - t0;
    console.info(`kind.e2e: ${stdout.trim()} (${gate.why})`);
    networkExisted = (await tryRun("docker", ["network", "inspect", kindNetworkName()])).ok;
    stateDir = await mkdtemp(join(tmpdir(), "iplab-kind-e2e-"));
    const pre = await provider.preflight();
    if (!pre.usable) {
      clusterSkip = pre.reasons.join("; ");
      console.warn(`kind.e2e: skipping the cluster tests: ${clusterSkip}`);
    }
  });

  afterAll(async () => {
    await cleanup.runAll();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    console.info(`kind.e2e timings: ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  it("starts the stub on the kind network, reachable by its alias over verified TLS from another container, then removes everything", async () => {
    const t0 = performance.now();
    const backend = await provider.startBackend({ stateDir: join(stateDir, "stub-only") });
    timings.startBackendMs = performance.now() - t0;
    let goneAfterSecondStop = false;
    // The provider's own record of where its backend runs (the state file's `kind` block).
    const containerId = backend.record!.kind!.stubContainerId!;
    try {
      const network = kindNetworkName();
      expect((await tryRun("docker", ["network", "inspect", network])).ok).toBe(true);
      expect(backend.endpoint.url).toBe(`https://${STUB_ALIAS}:${STUB_REVIEW_PORT}/review`);
      expect(backend.controlUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      // The control port is published on loopback only.
      const ports = await tryRun("docker", ["port", containerId]);
      expect(ports.stdout).toMatch(/-> 127\.0\.0\.1:\d+/);
      expect(ports.stdout).not.toMatch(/0\.0\.0\.0/);

      // A second container from the same image, on the same network, with only the CA: an HTTPS
      // review by DNS alias, certificate verified (rejectUnauthorized is Node's default).
      const image = (await tryRun("docker", ["inspect", "--format", "{{.Config.Image}}", containerId])).stdout.trim();
      const entrypoint = JSON.parse((await tryRun("docker", ["image", "inspect", "--format", "{{json .Config.Entrypoint}}", image])).stdout) as string[] | null;
      const nodeBin = entrypoint?.find((p) => /(^|\/)node$/.test(p)) ?? "/usr/local/bin/node";
      const review = { apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: [{ image: "evil.example/x:1" }], namespace: "default" } };
      const script = `
        const https = require("node:https");
        const body = JSON.stringify(${JSON.stringify(review)});
        const req = https.request({ host: "${STUB_ALIAS}", port: ${STUB_REVIEW_PORT}, path: "/review", method: "POST",
          ca: process.env.CA, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
          let d = ""; res.on("data", (c) => d += c); res.on("end", () => { console.log(JSON.stringify({ status: res.statusCode, body: d })); });
        });
        req.on("error", (e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exitCode = 1; });
        req.end(body);`;
      const caPem = backend.endpoint.caPem;
      await backend.control.resetJournal();
      const r = await tryRun("docker", ["run", "--rm", "--network", network, "-e", `CA=${caPem}`, "--entrypoint", nodeBin, image, "-e", script], { timeoutMs: 60_000 });
      expect(r.stderr).toBe("");
      const answer = JSON.parse(r.stdout.trim().split("\n").pop()!) as { status: number; body: string };
      expect(answer.status).toBe(200);
      const status = JSON.parse(answer.body).status as { allowed: boolean; reason?: string };
      expect(status.allowed).toBe(false);
      // And the stub's journal, read through the loopback control port, saw exactly that request.
      const journal = await backend.control.journal();
      expect(journal.entries.map((e) => [e.images, e.outcome])).toEqual([[["evil.example/x:1"], "denied"]]);

      // The same name with a CA the stub's certificate does not chain to is refused.
      const other = await tryRun("docker", ["run", "--rm", "--network", network, "-e", "CA=", "--entrypoint", nodeBin, image, "-e", script], { timeoutMs: 60_000 });
      expect(other.stdout).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify|UNABLE_TO_GET_ISSUER/i);
    } finally {
      const first = backend.stop();
      await backend.stop(); // a second, concurrent call waits for the first
      goneAfterSecondStop = !(await tryRun("docker", ["inspect", "--type=container", containerId])).ok;
      await first;
      await backend.stop(); // idempotent
    }
    expect(goneAfterSecondStop).toBe(true);
    // The host copies of the serving key and the control token go with the container.
    expect(existsSync(join(stateDir, "stub-only", "backend"))).toBe(false);
    const left = await tryRun("docker", ["ps", "-aq", "--filter", `label=imagepolicy-lab.dev/state-dir=${join(stateDir, "stub-only")}`]);
    expect(left.stdout.trim()).toBe("");
    if (!networkExisted) expect((await tryRun("docker", ["network", "inspect", kindNetworkName()])).ok).toBe(false);
  });

  it("a failed `kind create` (fake kind binary) forwards progress, exports logs, deletes the cluster and says so", async () => {
    const dir = join(stateDir, "fake-kind");
    const fake = await writeFakeKind(dir);
    const updates: string[] = [];
    const warnings: string[] = [];
    // An explicit image: kind is fake, so no image needs to exist (nothing would boot it).
    const fakeProvider = new KindProvider({ cleanup, kindPath: fake, nodeImage: "example.invalid/kind-node:fake" });
    const sizeBefore = cleanup.size;
    let err: unknown;
    try {
      await fakeProvider.start({
        stateDir: join(dir, "state"),
        k8sVersion: "1.36.1",
        profile: { ...DEFAULT_PROFILE },
        backend: { url: `https://${STUB_ALIAS}:${STUB_REVIEW_PORT}/review`, caPem: "CA" },
        logger: { info() {}, debug() {}, warn: (m) => warnings.push(m) },
        progress: { start: () => ({ update: (s) => updates.push(s), succeed() {}, fail() {} }) },
      });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/failed to start the kind cluster \(removed; logs in .*\): .*failed to init node with kubeadm/s);
    expect(updates).toContain("✓ Ensuring node image (kindest/node:v1.36.1) 🖼");
    const argv = (await readFile(join(dir, "argv.log"), "utf8")).trim().split("\n");
    const name = /--name (iplab-[0-9a-f]{6})/.exec(argv.find((a) => a.startsWith("create"))!)![1]!;
    expect(argv.filter((a) => !a.startsWith("version"))).toEqual([
      expect.stringMatching(new RegExp(`^create cluster --name ${name} --image example\\.invalid/kind-node:fake --config - --kubeconfig .*/kubeconfig --retain$`)),
      `export logs ${join(dir, "state", "logs", "kind")} --name ${name}`,
      // The teardown `down` uses too (kind-teardown.ts): it asks which clusters exist, to report only those.
      "get clusters",
      `delete cluster --name ${name}`,
    ]);
    // kind got the rendered config on stdin, with the absolute admission dir of this lab.
    expect(await readFile(join(dir, "stdin.yaml"), "utf8")).toContain(`hostPath: ${join(dir, "state", "admission")}`);
    expect(warnings.join("\n")).toMatch(/kind logs of the failed cluster are in/);
    expect(cleanup.size).toBe(sizeBefore);
  });

  it("a cleanup run (Ctrl-C) during a failed start's teardown waits for `kind delete` to finish", async () => {
    const dir = join(stateDir, "fake-kind-slow-delete");
    const fake = await writeFakeKind(dir, { deleteSeconds: 1 });
    // An explicit image: kind is fake, so no image needs to exist (nothing would boot it).
    const fakeProvider = new KindProvider({ cleanup, kindPath: fake, nodeImage: "example.invalid/kind-node:fake" });
    const starting = fakeProvider
      .start({ stateDir: join(dir, "state"), k8sVersion: "1.36.1", profile: { ...DEFAULT_PROFILE }, backend: { url: `https://${STUB_ALIAS}:${STUB_REVIEW_PORT}/review`, caPem: "CA" } })
      .catch((e: unknown) => e);
    const argvLog = join(dir, "argv.log");
    const deleteStarted = async () => existsSync(argvLog) && (await readFile(argvLog, "utf8")).includes("delete cluster");
    for (const t0 = performance.now(); !(await deleteStarted()); ) {
      if (performance.now() - t0 > 30_000) throw new Error("the fake kind never saw `delete cluster`");
      await new Promise((r) => setTimeout(r, 20));
    }
    await cleanup.runAll();
    expect(existsSync(join(dir, "deleted"))).toBe(true);
    expect(await starting).toBeInstanceOf(Error);
  });

  it("a kind cluster denies an untrusted pod; a profile switch restarts the apiserver's static pod and takes effect (fail-open admits)", async (ctx) => {
    if (clusterSkip) {
      if (kindTestsRequired()) throw new Error(`IMAGEPOLICY_LAB_KIND_TESTS=required, but: ${clusterSkip}`);
      console.warn(`kind.e2e: cluster test skipped: ${clusterSkip}`);
      ctx.skip(clusterSkip);
      return;
    }
    const dir = join(stateDir, "cluster");
    let backend: StartedBackend | undefined;
    let cluster: StartedCluster | undefined;
    try {
      backend = await provider.startBackend({ stateDir: dir });
      const t0 = performance.now();
      cluster = await provider.start({ stateDir: dir, k8sVersion: "1.36.1", profile: { ...DEFAULT_PROFILE, allowTTL: -1, denyTTL: -1 }, backend: backend.endpoint });
      timings.clusterCreateMs = performance.now() - t0;
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfigPath);
      const denied = await dryRunPod(kc, { name: "probe-denied", image: "evil.example/x:1" });
      expect(denied).toMatchObject({ allowed: false, code: 403 });
      expect(denied.message).toMatch(/image policy webhook backend denied one or more images/);
      expect(await dryRunPod(kc, { name: "probe-allowed", image: "registry.k8s.io/pause:3.10" })).toMatchObject({ allowed: true });

      // A backend that fails: closed, the trusted image is refused...
      await backend.control.setFault("status:500");
      const closed = await dryRunPod(kc, { name: "probe-closed", image: "registry.k8s.io/pause:3.10" });
      expect(closed).toMatchObject({ allowed: false, code: 403 });
      const node = `${(await readLabState(dir))!.kind!.clusterName}-control-plane`;
      const apiserverBefore = await runningContainer(node, "kube-apiserver");
      // ...and after switching to defaultAllow true (apiserver restarted by kubelet), the same create is admitted.
      const sw = await cluster.applyProfile({ ...DEFAULT_PROFILE, allowTTL: -1, denyTTL: -1, defaultAllow: true });
      timings.profileSwitchMs = sw.elapsedMs;
      const apiserverAfter = await runningContainer(node, "kube-apiserver");
      expect(apiserverAfter?.podId, "the apiserver runs in a new pod sandbox").not.toBe(apiserverBefore?.podId);
      const manifest = await nodeExec(node, ["cat", APISERVER_MANIFEST]);
      expect(manifest).toContain(RESTART_ANNOTATION);
      const open = await dryRunPod(kc, { name: "probe-open", image: "registry.k8s.io/pause:3.10" });
      expect(open, "fail-open after the switch").toMatchObject({ allowed: true });
      expect((await backend.control.journal()).entries.at(-1)?.fault).toBe("status:500");
      // The audit log (turned on by the kubeadm patch) records that the plugin failed open.
      const audit = await cluster.logs("audit", 50);
      expect(audit).toMatch(/imagepolicywebhook\.image-policy\.k8s\.io\/failed-open/);
    } finally {
      await cluster?.stop();
      await backend?.stop();
    }
  });
});
