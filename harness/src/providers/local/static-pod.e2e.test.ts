// The local provider's opt-in static pod mode (issue 14, "Must show"): editing the apiserver's
// manifest restarts it within seconds; a broken manifest keeps it down with its log in the state dir;
// fixing the file brings it back. Every check is the real apiserver's behavior.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLab, type StartedLab } from "../../lab/lab.ts";
import { LocalProvider } from "./local-provider.ts";
import { APISERVER_MANIFEST, KUBELET_LOG } from "./static-pod.ts";
import { dryRunPod, filesOutsideLogs, pollFor, processesMentioning } from "./test-support.ts";

describe("a local lab whose apiserver runs from a static pod manifest", () => {
  let work: string;
  let lab: StartedLab;
  let manifest: string;
  let original: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "iplab-static-pod-e2e-"));
    lab = await startLab({ provider: new LocalProvider({ apiserverManifest: true }), stateDir: join(work, "lab") });
    manifest = join(lab.stateDir, APISERVER_MANIFEST);
    original = await readFile(manifest, "utf8");
  });

  afterAll(async () => {
    await lab?.stop();
    if (lab) {
      expect(await processesMentioning(lab.stateDir)).toEqual([]);
      expect(await filesOutsideLogs(lab.stateDir)).toEqual([]);
    }
    for (const p of await processesMentioning(work)) process.kill(p.pid, "SIGKILL");
    await rm(work, { recursive: true, force: true });
  });

  const untrusted = (name: string) => dryRunPod(lab.kubeConfig(), { name, image: "nginx" });
  /** Polls a dry-run pod create until `want`, returning the seconds since `t0`. */
  const until = async (what: string, want: (o: Awaited<ReturnType<typeof untrusted>>) => boolean, t0: number, timeoutMs = 30_000) => {
    await pollFor(what, async () => ((o) => (want(o) ? true : undefined))(await untrusted("probe").catch(() => ({ allowed: false, code: 0, message: "unreachable" }))), timeoutMs, 100);
    return (performance.now() - t0) / 1000;
  };

  it("writes the provider's flags into a kubeadm-style manifest with the admission directory mounted", () => {
    expect(original).toMatch(/kind: Pod/);
    expect(original).toMatch(/- kube-apiserver\n/);
    expect(original).toMatch(/--admission-control-config-file=.*admission/);
    expect(original).toMatch(/--enable-admission-plugins=.*ImagePolicyWebhook/);
    expect(original).toContain(`path: ${join(lab.stateDir, "admission")}`);
  });

  it("restarts the apiserver within a few seconds of an edit (the plugin removed: an untrusted pod is admitted)", async () => {
    expect((await untrusted("before")).code).toBe(403);
    const t0 = performance.now();
    await writeFile(manifest, original.replace(/(--enable-admission-plugins=[^\n]*?),?ImagePolicyWebhook/, "$1"));
    const s = await until("an untrusted pod admitted after the edit", (o) => o.allowed, t0);
    console.log(`static pod: edit to admitting in ${s.toFixed(1)} s`);
    expect(s).toBeLessThan(10);
  });

  it("keeps the apiserver down on an unknown flag, with its own error in logs/kube-apiserver.log", async () => {
    await writeFile(manifest, original.replace(/^( *)- kube-apiserver\n/m, "$1- kube-apiserver\n$1- --no-such-flag=1\n"));
    await pollFor("the apiserver's unknown-flag error in its log", async () => ((await readFile(join(lab.stateDir, "logs", "kube-apiserver.log"), "utf8")).includes("unknown flag: --no-such-flag") ? true : undefined), 15_000);
    await pollFor("kubelet.log saying it exited", async () => ((await readFile(join(lab.stateDir, KUBELET_LOG), "utf8")).includes("kube-apiserver: exited") ? true : undefined), 15_000);
    await expect(untrusted("down"), "the apiserver is down").rejects.toThrow();
  });

  it("says where a YAML error is, and starts nothing", async () => {
    await writeFile(manifest, original.replace("kind: Pod", "kind: Pod\n  bad: [indent"));
    await pollFor("kubelet.log naming the manifest's line", async () => ((await readFile(join(lab.stateDir, KUBELET_LOG), "utf8")).includes(`${manifest}:`) ? true : undefined), 15_000);
    expect(await readFile(join(lab.stateDir, KUBELET_LOG), "utf8")).toMatch(/manifest is invalid: .*kube-apiserver\.yaml:\d+: /);
    await expect(untrusted("still-down"), "the apiserver is down").rejects.toThrow();
  });

  it("comes back when the file is fixed, the plugin refusing again", async () => {
    const t0 = performance.now();
    await writeFile(manifest, original);
    const s = await until("an untrusted pod refused after the fix", (o) => o.code === 403, t0);
    console.log(`static pod: fix to refusing in ${s.toFixed(1)} s`);
    expect(s).toBeLessThan(10);
  });

  it("keeps controllers working across the outage: the controller-manager runs as a static pod and is restarted too", async () => {
    const labels = { app: "after-outage" };
    await lab.kubeConfig().makeApiClient(AppsV1Api).createNamespacedDeployment({
      namespace: "default",
      body: { metadata: { name: "after-outage" }, spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] } } } },
    });
    const core = lab.kubeConfig().makeApiClient(CoreV1Api);
    await pollFor("a pod of the Deployment", async () => ((await core.listNamespacedPod({ namespace: "default", labelSelector: "app=after-outage" })).items.length ? true : undefined), 60_000);
  });
});
