import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { apiserverFlags } from "../providers/local/component-flags.ts";
import { FIXTURE_LAYOUT, FIXTURE_PKI, FIXTURE_PORTS } from "../providers/local/flags-fixture.ts";
import { ConfigError } from "../util/errors.ts";
import { ADMISSION_DIR_IN_NODE, ADMISSION_FILES, imagePolicyControlPlanePatch } from "./control-plane-patch.ts";
import { DEFAULT_KIND_CLUSTER_NAME, HOST_ADMISSION_DIR_PLACEHOLDER, renderKindConfig, type KubeadmPatchStyle } from "./kind-config.ts";
import { applyKindMergePatches, kubeadmApiserverCommand, kubeadmExtraArgs } from "./kubeadm-patch-model.ts";

const CHECKED_IN = fileURLToPath(new URL("../../../kind-configs/imagepolicy-webhook.yaml", import.meta.url));

interface KindNode {
  role: string;
  extraMounts?: { hostPath: string; containerPath: string; readOnly?: boolean }[];
  kubeadmConfigPatches?: string[];
}
interface KindCluster {
  kind: string;
  apiVersion: string;
  name?: string;
  nodes: KindNode[];
  kubeadmConfigPatches?: string[];
}

// What kind v0.32.0 generates for the control plane before patches (pkg/cluster/internal/kubeadm/config.go),
// reduced to the apiServer part: runtime-config always in extraArgs, certSANs, no extraVolumes.
function generatedClusterConfiguration(api: "v1beta3" | "v1beta4") {
  return {
    apiVersion: `kubeadm.k8s.io/${api}`,
    kind: "ClusterConfiguration",
    metadata: { name: "config" },
    kubernetesVersion: api === "v1beta4" ? "v1.36.1" : "v1.35.0",
    clusterName: "lab",
    controlPlaneEndpoint: "lab-control-plane:6443",
    apiServer: {
      certSANs: ["localhost", "127.0.0.1"],
      extraArgs: api === "v1beta4" ? [{ name: "runtime-config", value: "" }] : { "runtime-config": "" },
    },
    networking: { podSubnet: "10.244.0.0/16", serviceSubnet: "10.96.0.0/16" },
  };
}

// kube-apiserver defaults kubeadm puts on the command line that matter here (manifests.go getAPIServerCommand).
const KUBEADM_DEFAULTS = { "enable-admission-plugins": "NodeRestriction", "authorization-mode": "Node,RBAC", "secure-port": "6443" };

function render(style: KubeadmPatchStyle, dir = "/abs/lab-run/admission"): KindCluster {
  return parse(renderKindConfig({ hostAdmissionDir: dir, clusterName: "lab", kubeadmApi: style })) as KindCluster;
}

/** Patches in kind's order: cluster level first, then the control-plane node's. */
function patchesOf(cfg: KindCluster): string[] {
  const cp = cfg.nodes.find((n) => n.role === "control-plane");
  return [...(cfg.kubeadmConfigPatches ?? []), ...(cp?.kubeadmConfigPatches ?? [])];
}

describe("renderKindConfig", () => {
  const patch = imagePolicyControlPlanePatch();

  it("is a kind v1alpha4 Cluster with one control-plane node mounting the host dir at the node path", () => {
    const cfg = render("unversioned");
    expect(cfg).toMatchObject({ kind: "Cluster", apiVersion: "kind.x-k8s.io/v1alpha4", name: "lab" });
    expect(cfg.nodes).toHaveLength(1);
    expect(cfg.nodes[0]!.extraMounts).toEqual([{ hostPath: "/abs/lab-run/admission", containerPath: ADMISSION_DIR_IN_NODE, readOnly: true }]);
    // Layer 1's containerPath is layer 2's hostPath: node path = pod path.
    expect(patch.extraVolumes[0]!.hostPath).toBe(ADMISSION_DIR_IN_NODE);
  });

  it("emits one unversioned map-form patch by default", () => {
    const patches = patchesOf(render("unversioned"));
    expect(patches).toHaveLength(1);
    const doc = parse(patches[0]!);
    expect(doc.apiVersion).toBeUndefined();
    expect(doc).toEqual({ kind: "ClusterConfiguration", apiServer: { extraArgs: patch.extraArgs, extraVolumes: patch.extraVolumes } });
  });

  it("emits a v1beta3 map-form and a v1beta4 list-form patch when versioned", () => {
    const docs = patchesOf(render("versioned")).map((p) => parse(p));
    expect(docs.map((d) => d.apiVersion)).toEqual(["kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"]);
    expect(docs[0].apiServer.extraArgs).toEqual(patch.extraArgs);
    expect(docs[1].apiServer.extraArgs).toEqual(Object.entries(patch.extraArgs).map(([name, value]) => ({ name, value })));
  });

  // The result that matters: what kubeadm would put on the apiserver's command line and volumes,
  // after kind's merge, for both kubeadm APIs kind v0.32.0 generates (< 1.36: v1beta3, >= 1.36: v1beta4).
  describe.each(["unversioned", "versioned"] as const)("%s patch after kind's merge", (style) => {
    it.each(["v1beta3", "v1beta4"] as const)("into a generated %s ClusterConfiguration", (api) => {
      const merged = applyKindMergePatches(generatedClusterConfiguration(api), patchesOf(render(style))) as ReturnType<typeof generatedClusterConfiguration> & {
        apiServer: { extraVolumes?: { mountPath: string }[] };
      };
      const args = kubeadmExtraArgs(merged);
      expect(args).toEqual({ "runtime-config": "", ...patch.extraArgs });
      expect(merged.apiServer.extraVolumes).toEqual(patch.extraVolumes);
      expect(merged.apiServer.certSANs).toEqual(["localhost", "127.0.0.1"]);
      const argv = kubeadmApiserverCommand(KUBEADM_DEFAULTS, args);
      expect(argv).toContain("--enable-admission-plugins=NodeRestriction,ImagePolicyWebhook");
      expect(argv).toContain(`--admission-control-config-file=${ADMISSION_DIR_IN_NODE}/${ADMISSION_FILES.admissionConfig}`);
      // Files named in the flags live under the mounted directory.
      expect(args["admission-control-config-file"]!.startsWith(`${merged.apiServer.extraVolumes![0]!.mountPath}/`)).toBe(true);
    });
  });

  // Red tests for the traps the renderer avoids (kind-integration.md §12, pitfalls 3 and 4), so the model is not vacuous.
  it("model: a versioned v1beta4 patch in map form adds no flags (dropped silently)", () => {
    const bad = `kind: ClusterConfiguration\napiVersion: kubeadm.k8s.io/v1beta4\napiServer:\n  extraArgs:\n    enable-admission-plugins: NodeRestriction,ImagePolicyWebhook\n`;
    expect(kubeadmExtraArgs(applyKindMergePatches(generatedClusterConfiguration("v1beta4"), [bad]))).toEqual({ "runtime-config": "" });
  });
  it("model: an unversioned list-form patch breaks a v1beta3 target", () => {
    const bad = `kind: ClusterConfiguration\napiServer:\n  extraArgs:\n  - {name: enable-admission-plugins, value: ImagePolicyWebhook}\n`;
    expect(() => kubeadmExtraArgs(applyKindMergePatches(generatedClusterConfiguration("v1beta3"), [bad]))).toThrow(/must be a map/);
  });
  it("model: sending ImagePolicyWebhook alone would drop kubeadm's NodeRestriction", () => {
    expect(kubeadmApiserverCommand(KUBEADM_DEFAULTS, { "enable-admission-plugins": "ImagePolicyWebhook" })).toContain("--enable-admission-plugins=ImagePolicyWebhook");
  });

  it("adds a KubeletConfiguration failCgroupV1: false patch only when asked", () => {
    expect(patchesOf(render("unversioned")).map((p) => parse(p).kind)).toEqual(["ClusterConfiguration"]);
    const cfg = parse(renderKindConfig({ hostAdmissionDir: "/abs", allowCgroupV1: true })) as KindCluster;
    expect(patchesOf(cfg).map((p) => parse(p))).toContainEqual({ kind: "KubeletConfiguration", failCgroupV1: false });
  });

  it("rejects a relative host directory and a bad cluster name, naming both", () => {
    let err: unknown;
    try {
      renderKindConfig({ hostAdmissionDir: "lab/admission", clusterName: "Bad_Name" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.file)).toEqual(["hostAdmissionDir", "clusterName"]);
  });

  it("quotes host paths that YAML would misread", () => {
    const cfg = render("unversioned", "/tmp/a dir/#admission");
    expect(cfg.nodes[0]!.extraMounts![0]!.hostPath).toBe("/tmp/a dir/#admission");
  });
});

describe("kind-configs/imagepolicy-webhook.yaml", () => {
  it("equals the renderer's output with the placeholder (regenerate: npx tsx harness/src/kind/kind-config.ts > kind-configs/imagepolicy-webhook.yaml)", async () => {
    const expected = renderKindConfig({ hostAdmissionDir: HOST_ADMISSION_DIR_PLACEHOLDER, clusterName: DEFAULT_KIND_CLUSTER_NAME });
    expect(await readFile(CHECKED_IN, "utf8")).toBe(expected);
  });
});

describe("local provider apiserver flags", () => {
  it("come from the same patch, with the local admission dir in place of the node path", () => {
    const layout = FIXTURE_LAYOUT;
    const argv = apiserverFlags(FIXTURE_PKI, layout, FIXTURE_PORTS);
    const flag = (name: string) => argv.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));

    const kindPatch = imagePolicyControlPlanePatch();
    const localPatch = imagePolicyControlPlanePatch(layout.admissionDir);
    expect(flag("enable-admission-plugins")).toEqual([kindPatch.extraArgs["enable-admission-plugins"]]);
    expect(flag("admission-control-config-file")).toEqual([localPatch.extraArgs["admission-control-config-file"]]);
    // The local layout maps the kind volume's mountPath to the local admission dir, file for file.
    const volume = kindPatch.extraVolumes[0]!;
    const mapped = kindPatch.extraArgs["admission-control-config-file"]!.replace(volume.mountPath, layout.admissionDir);
    expect(flag("admission-control-config-file")).toEqual([mapped]);
    expect(localPatch.extraVolumes[0]!.mountPath).toBe(layout.admissionDir);
  });
});
