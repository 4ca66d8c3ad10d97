// The exercises' kind edits against a real kubeadm manifest (testdata/kind-kube-apiserver.yaml, read
// from a kind v0.32.0 node running Kubernetes 1.36.1 with the lab's patch), without a cluster.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { renderAdmissionFiles } from "../admission/render.ts";
import { ADMISSION_DIR_IN_NODE, imagePolicyControlPlanePatch } from "../kind/control-plane-patch.ts";
import { missingFromManifest } from "../providers/kind/kind-node.ts";
import { DEFAULT_PROFILE } from "../profile/profile.ts";
import { MANIFEST_FILE } from "./exercise-node.ts";
import { withRestartAnnotation } from "./kind-exercise-node.ts";
import { findExercise } from "./load.ts";
import { describeEdit, editsFor, editText, withProfile } from "./session.ts";

const manifest = await readFile(join(import.meta.dirname, "testdata", "kind-kube-apiserver.yaml"), "utf8");
const fill = (s: string) => s.replaceAll("{{admissionDir}}", ADMISSION_DIR_IN_NODE).replaceAll("{{stateDir}}", "/state");
const patch = imagePolicyControlPlanePatch(ADMISSION_DIR_IN_NODE);

describe("enable-plugin on kind", () => {
  it("its starting edits take the plugin, its configuration and the mount out of kubeadm's manifest, and its solution puts them back", async () => {
    const e = await findExercise("enable-plugin");
    const apply = (text: string, edits: typeof e.doc.solution.edits) =>
      editsFor(edits, "kind")
        .filter((x) => "file" in x && x.file === MANIFEST_FILE)
        .reduce((t, x) => editText(t, x as { replace: string; with: string }, fill, "manifest"), text);
    expect(missingFromManifest(manifest, patch.extraArgs, [ADMISSION_DIR_IN_NODE])).toEqual([]);
    const broken = apply(manifest, e.doc.start?.edits ?? []);
    expect(missingFromManifest(broken, patch.extraArgs, [ADMISSION_DIR_IN_NODE]).sort()).toEqual([
      "flag --admission-control-config-file=/etc/kubernetes/imagepolicy/admission-config.yaml",
      "flag --enable-admission-plugins=NodeRestriction,ImagePolicyWebhook",
      "volume mount /etc/kubernetes/imagepolicy",
    ]);
    // Nothing left that names the unmounted directory (the apiserver would not start: the exercise starts with it running).
    expect(broken).not.toContain(ADMISSION_DIR_IN_NODE);
    const fixed = apply(broken, e.doc.solution.edits);
    expect(missingFromManifest(fixed, patch.extraArgs, [ADMISSION_DIR_IN_NODE])).toEqual([]);
    const volumes = (parse(fixed) as { spec: { volumes: Array<{ name: string; hostPath: { path: string } }> } }).spec.volumes;
    expect(volumes.find((v) => v.name === "imagepolicy")?.hostPath.path).toBe(ADMISSION_DIR_IN_NODE);
  });

  it("does not depend on the order of the flags (kubeadm's differs between clusters)", async () => {
    const e = await findExercise("enable-plugin");
    const lines = manifest.split("\n");
    const flags = lines.map((l, i) => [l, i] as const).filter(([l]) => /^    - --(admission-control|audit-|enable-admission)/.test(l));
    const reversed = [...lines];
    flags.forEach(([, i], k) => (reversed[i] = flags[flags.length - 1 - k]![0]));
    expect(reversed.join("\n")).not.toBe(manifest);
    const broken = editsFor(e.doc.start?.edits ?? [], "kind")
      .filter((x) => "file" in x && x.file === MANIFEST_FILE)
      .reduce((t, x) => editText(t, x as { replace: string; with: string }, fill, "manifest"), reversed.join("\n"));
    expect(broken).not.toContain(ADMISSION_DIR_IN_NODE);
  });

  it("keeps the local provider's edits for the local manifest", async () => {
    const e = await findExercise("enable-plugin");
    const local = editsFor(e.doc.solution.edits, "local");
    const kind = editsFor(e.doc.solution.edits, "kind");
    expect(local.length).toBeGreaterThan(0);
    expect(kind.length).toBeGreaterThan(0);
    expect(local.some((x) => "provider" in x && x.provider === "kind")).toBe(false);
    expect(kind.some((x) => "provider" in x && x.provider === "local")).toBe(false);
  });
});

describe("kind manifest handling", () => {
  it("sets and removes the restart annotation leaving kubeadm's layout byte for byte", () => {
    const bumped = withRestartAnnotation(manifest, "2026-11-30T16:00:00.000Z");
    const added = bumped.split("\n").filter((l) => !manifest.split("\n").includes(l));
    expect(added).toEqual([`    imagepolicy-lab.dev/restarted-at: 2026-11-30T16:00:00.000Z`]);
    expect(withRestartAnnotation(bumped, undefined)).toBe(manifest);
  });

  it("describes a manifest edit and a restart with the node's path", () => {
    expect(describeEdit({ file: MANIFEST_FILE, replace: "a", with: "b" }, "kind")).toBe(`in /etc/kubernetes/manifests/kube-apiserver.yaml (in the node), replace "a" with "b"`);
    expect(describeEdit({ restartApiserver: true }, "kind")).toMatch(/change \/etc\/kubernetes\/manifests\/kube-apiserver.yaml in the node/);
  });
});

describe("withProfile", () => {
  it("gives the admission configuration the renderer would write for that profile", () => {
    const backend = { url: "https://image-policy-stub:8443/review", caPem: "CA" };
    const config = (p: typeof DEFAULT_PROFILE) => renderAdmissionFiles(p, backend, ADMISSION_DIR_IN_NODE).find((f) => f.name === "admission-config.yaml")!.content;
    const wanted = { defaultAllow: true, allowTTL: -1, denyTTL: -1, retryBackoff: 100 };
    expect(withProfile(config(DEFAULT_PROFILE), wanted, "admission-config.yaml")).toBe(config(wanted));
  });

  it("names the file when there is no ImagePolicyWebhook entry", () => {
    expect(() => withProfile("plugins: []\n", DEFAULT_PROFILE, "/x/admission-config.yaml")).toThrow(/no ImagePolicyWebhook entry/);
  });
});
