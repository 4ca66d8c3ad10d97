// The rendered kind config through kind's own code (v0.32.0 from the Go module proxy): strict load and
// validation, kubeadm template for 1.35 (v1beta3) and 1.36 (v1beta4), patch merge. Complements the
// model-based unit tests in kind-config.test.ts; needs Go, so it lives in the e2e tier and skips
// with a reason when Go or the module cannot be had.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kindPins } from "../providers/kind/kind-provider.ts";
import { ADMISSION_DIR_IN_NODE, imagePolicyControlPlanePatch } from "./control-plane-patch.ts";
import { renderKindConfig } from "./kind-config.ts";
import { buildKindSourceChecker, runKindSourceChecker } from "./kind-source-check.ts";
import { kubeadmApiserverCommand, kubeadmExtraArgs } from "./kubeadm-patch-model.ts";

const hasGo = await promisify(execFile)("go", ["version"]).then(() => true, () => false);
if (!hasGo) console.warn("kind-source.e2e: skipped: no Go toolchain on PATH (needed to compile kind's own config code)");

describe.skipIf(!hasGo)("the rendered kind config through kind v0.32.0's own code", () => {
  let bin: string;
  let dir: string;
  const patch = imagePolicyControlPlanePatch();

  beforeAll(async () => {
    const t0 = performance.now();
    bin = await buildKindSourceChecker(kindPins("1.36.1").release);
    console.info(`kind-source.e2e: checker ready in ${Math.round(performance.now() - t0)} ms`);
    dir = await mkdtemp(join(tmpdir(), "iplab-kind-src-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe.each(["unversioned", "versioned"] as const)("%s patch", (style) => {
    it.each([
      ["v1.35.0", "kubeadm.k8s.io/v1beta3"],
      ["v1.36.1", "kubeadm.k8s.io/v1beta4"],
    ])("Kubernetes %s (%s): the apiserver gets both flags, the volume, and keeps NodeRestriction", async (version, api) => {
      const file = join(dir, `${style}.yaml`);
      await writeFile(file, renderKindConfig({ hostAdmissionDir: "/abs/lab-run/admission", clusterName: "lab", kubeadmApi: style }));
      const { documents, mounts } = await runKindSourceChecker(bin, file, [version]);
      expect(mounts).toEqual([`/abs/lab-run/admission -> ${ADMISSION_DIR_IN_NODE} ro=true`]);
      const cc = documents[version]!.find((d) => d.kind === "ClusterConfiguration") as { apiVersion: string; apiServer: { extraArgs: unknown; extraVolumes: unknown } };
      expect(cc.apiVersion).toBe(api);
      const args = kubeadmExtraArgs(cc); // throws if the form does not fit the API version
      for (const [k, v] of Object.entries(patch.extraArgs)) expect(args[k]).toBe(v);
      expect(cc.apiServer.extraVolumes).toEqual(patch.extraVolumes);
      expect(kubeadmApiserverCommand({ "enable-admission-plugins": "NodeRestriction" }, args)).toContain("--enable-admission-plugins=NodeRestriction,ImagePolicyWebhook");
    });
  });

  it("allowCgroupV1 reaches the generated KubeletConfiguration (v1beta1) for 1.36", async () => {
    const file = join(dir, "cgroupv1.yaml");
    await writeFile(file, renderKindConfig({ hostAdmissionDir: "/abs/x", allowCgroupV1: true }));
    const { documents } = await runKindSourceChecker(bin, file, ["v1.36.1"]);
    const kubelet = documents["v1.36.1"]!.find((d) => d.kind === "KubeletConfiguration")!;
    expect(kubelet.apiVersion).toBe("kubelet.config.k8s.io/v1beta1");
    expect(kubelet.failCgroupV1).toBe(false);
    // and the ClusterConfiguration patch is unaffected
    const cc = documents["v1.36.1"]!.find((d) => d.kind === "ClusterConfiguration") as { apiVersion: string; apiServer: { extraArgs: unknown } };
    expect(kubeadmExtraArgs(cc)["enable-admission-plugins"]).toBe(patch.extraArgs["enable-admission-plugins"]);
  });

  it("kind's strict loader accepts the checked-in kind-configs/imagepolicy-webhook.yaml", async () => {
    const file = new URL("../../../kind-configs/imagepolicy-webhook.yaml", import.meta.url).pathname;
    const { documents } = await runKindSourceChecker(bin, file, ["v1.36.1"]);
    expect(documents["v1.36.1"]!.some((d) => d.kind === "ClusterConfiguration")).toBe(true);
  });

  it("kind's strict loader rejects a misspelled field (so the checks above are not vacuous)", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, renderKindConfig({ hostAdmissionDir: "/abs/x" }).replace("extraMounts:", "extraMount:"));
    await expect(runKindSourceChecker(bin, file, ["v1.36.1"])).rejects.toThrow(/extraMount/);
  });
});
