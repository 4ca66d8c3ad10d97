// OPA as ImagePolicyWebhook's backend (`--backend opa`) on the local provider, end to end: the
// plugin's kubeconfig points at OPA's ImageReview decision, a real (not dry-run) untrusted pod is
// refused in OPA's words and a trusted one admitted, `stub set --trust` changes OPA's data live,
// `down` leaves nothing; `run --backend opa` plays the catalog's applicable scenarios green and
// lists the rest as not applicable, and every report says the backend was OPA.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMISSION_FILES } from "../kind/control-plane-patch.ts";
import { OPA_IMAGEREVIEW_PATH } from "../opa/index.ts";
import { opaForTests, requireOpa, type OpaForTests } from "../opa/test-support.ts";
import { readLabState } from "../providers/lab-state.ts";
import { filesOutsideLogs, labKubeConfig, processesMentioning, runCli, spawnCli } from "../providers/local/test-support.ts";
import type { RunReport } from "../scenario/result.ts";
import { apiOutcome, podManifest } from "../scenario/k8s-actions.ts";
import { NOT_APPLICABLE_WITH_OPA } from "../scenario/opa-backend-view.ts";

/** A real pod create (stored; the local provider has no kubelet, so it stays Pending). */
async function createPod(kc: KubeConfig, name: string, image: string) {
  return apiOutcome(() => kc.makeApiClient(CoreV1Api).createNamespacedPodWithHttpInfo({ namespace: "default", body: podManifest({ name, images: [image] }) }));
}

describe("--backend opa", () => {
  let found: OpaForTests | undefined;
  const dirs: string[] = [];
  beforeAll(async () => {
    found = await opaForTests();
  }, 900_000);
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const newDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "iplab-opa-backend-"));
    dirs.push(dir);
    return dir;
  };
  const expectNothingLeft = async (stateDir: string) => {
    expect(await processesMentioning(stateDir), "processes whose command line names the state dir").toEqual([]);
    expect(await filesOutsideLogs(stateDir), "files left outside logs/").toEqual([]);
  };

  it("up: the plugin asks OPA; an untrusted pod is refused with OPA's reason, a trusted one admitted; stub set --trust changes it; down stops everything", async (ctx) => {
    requireOpa(found, ctx);
    const stateDir = join(await newDir(), "lab");
    const up = await runCli(["up", "--provider", "local", "--backend", "opa", "--trust", "trusted.example", "--state-dir", stateDir]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain("ImagePolicyWebhook).");
      expect(up.stdout).toMatch(new RegExp(`backend: {4}OPA v?1\\.22\\.3 https://127\\.0\\.0\\.1:\\d+${OPA_IMAGEREVIEW_PATH.replaceAll("/", "\\/")} \\(policies/opa`));
      expect(up.stdout).not.toContain("--fault");

      const state = (await readLabState(stateDir))!;
      expect(state).toMatchObject({ mechanism: "imagepolicywebhook", imagePolicyBackend: "opa" });
      // Where the apiserver really sends its reviews: the plugin's kubeconfig names OPA's decision URL.
      const kubeconfig = await readFile(join(stateDir, "admission", ADMISSION_FILES.webhookKubeconfig), "utf8");
      expect(kubeconfig).toContain(`server: ${state.opa!.url}${OPA_IMAGEREVIEW_PATH}`);

      const kc = labKubeConfig(stateDir);
      const refused = await createPod(kc, "evil", "evil.example/app:1");
      expect(refused).toMatchObject({ allowed: false, code: 403 });
      expect(refused.message).toBe('pods "evil" is forbidden: image policy webhook backend denied one or more images: untrusted image(s): evil.example/app:1 (trusted registries [trusted.example], repositories [])');
      expect(await createPod(kc, "ok", "trusted.example/app:1")).toMatchObject({ allowed: true, code: 201 });

      const set = await runCli(["stub", "set", "--state-dir", stateDir, "--trust", "evil.example"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toMatch(/opa: data\.lab\.trust: registries=\[evil\.example\] repositories=\[\]/);
      expect(set.stdout).toContain("keep their cached verdict (allow 50s, deny 50s)");
      // Pod specs the plugin has not judged yet (its verdict cache keys on the images): the new list decides at once.
      expect(await createPod(kc, "evil2", "evil.example/app:2")).toMatchObject({ allowed: true, code: 201 });
      const now = await createPod(kc, "ok2", "trusted.example/app:2");
      expect(now).toMatchObject({ allowed: false, code: 403 });
      expect(now.message).toContain("untrusted image(s): trusted.example/app:2 (trusted registries [evil.example], repositories [])");

      const fault = await runCli(["stub", "set", "--state-dir", stateDir, "--fault", "status:500"]);
      expect(fault.code).toBe(2);
      expect(fault.stderr).toContain("this lab's ImagePolicyWebhook backend is OPA");
      const journal = await runCli(["stub", "journal", "--state-dir", stateDir]);
      expect(journal.code).toBe(2);
      expect(journal.stderr).toContain("keeps no journal the lab reads");
    } finally {
      const down = await runCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/opa \(pid \d+\)/);
    }
    await expectNothingLeft(stateDir);
  }, 240_000);

  it("SIGINT during `up --backend opa` exits 130 and leaves no OPA (nor any other) process and no key", async (ctx) => {
    requireOpa(found, ctx);
    const stateDir = join(await newDir(), "lab");
    const c = spawnCli(["up", "--provider", "local", "--backend", "opa", "--state-dir", stateDir]);
    // OPA starts before the control plane: by now it runs.
    await c.waitForStderr(/start kube-apiserver/, 180_000);
    expect((await processesMentioning(stateDir)).some((p) => /\bopa run --server\b/.test(p.cmdline)), "OPA running when SIGINT is sent").toBe(true);
    c.child.kill("SIGINT");
    expect(await c.exited, c.output.stderr).toBe(130);
    await expectNothingLeft(stateDir);
  }, 240_000);

  it("run: the applicable scenarios pass, the others are not applicable with a reason, and the reports name OPA", async (ctx) => {
    requireOpa(found, ctx);
    const dir = await newDir();
    const stateDir = join(dir, "lab");
    const reportDir = join(dir, "reports");
    const run = await runCli(["-q", "run", "--provider", "local", "--backend", "opa", "--state-dir", stateDir, "--report-dir", reportDir]);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(/backend: OPA \(ImagePolicyWebhook → https:\/\/127\.0\.0\.1:\d+\/v0\/data\/lab\/imagereview\/review, the shipped Rego\)/);
    expect(run.stdout).toMatch(/backend OPA: \d+ scenarios played, \d+ not applicable/);

    const report = JSON.parse(await readFile(join(reportDir, "report.json"), "utf8")) as RunReport;
    expect(report.mechanism).toBe("imagepolicywebhook");
    expect(report.opaBackend?.url).toMatch(/\/v0\/data\/lab\/imagereview\/review$/);
    const played = report.scenarios.filter((s) => s.verdict !== "skipped");
    expect(played.filter((s) => s.verdict !== "pass").map((s) => `${s.name}: ${s.verdict} ${s.reason ?? ""}`)).toEqual([]);
    // OPA refusing, and OPA stopped under fail-closed and fail-open, are among them.
    expect(played.map((s) => s.name)).toEqual(expect.arrayContaining(["untrusted-image-denied", "registry-spoofing", "fail-closed-connection-refused", "fail-open-connection-refused"]));
    const untrusted = played.find((s) => s.name === "untrusted-image-denied")!;
    expect(untrusted.steps[0]!.response?.message).toContain("image policy webhook backend denied one or more images: untrusted image(s): docker.io/library/nginx:1.25");
    const skipped = report.scenarios.filter((s) => s.verdict === "skipped");
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.filter((s) => !s.reason?.startsWith(`${NOT_APPLICABLE_WITH_OPA}: `)).map((s) => `${s.name}: ${s.reason}`)).toEqual([]);
    expect(skipped.find((s) => s.name === "fail-closed-http-500")?.reason).toContain('needs the stub\'s fault "status:500"');

    expect(await readFile(join(reportDir, "junit.xml"), "utf8")).toContain('<property name="backend" value="opa"/>');
    expect(await readFile(join(reportDir, "report.html"), "utf8")).toContain("as ImagePolicyWebhook&#39;s backend");
    await expectNothingLeft(stateDir);
  }, 300_000);
});
