import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { imagePolicyControlPlanePatch } from "../../kind/control-plane-patch.ts";
import { ConfigError } from "../../util/errors.ts";
import type { ClusterProvider, PreflightResult } from "../provider.ts";
import { selectProvider } from "../select.ts";
import { bumpRestartAnnotation, missingFromManifest, RESTART_ANNOTATION } from "./kind-node.ts";
import { kindPins } from "./kind-provider.ts";
import { STUB_CONTROL_PORT, STUB_FILES_DIR, STUB_REVIEW_PORT, stubServeConfig } from "./stub-container.ts";
import { cacheRoot, KIND_ENV, kindCacheDir, kindNetworkName, tagOf } from "./tools.ts";

// A trimmed kubeadm kube-apiserver manifest as kubeadm 1.36 writes it, with our patch applied.
const MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 172.18.0.2:6443
  labels:
    component: kube-apiserver
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --admission-control-config-file=/etc/kubernetes/imagepolicy/admission-config.yaml
    - --enable-admission-plugins=NodeRestriction,ImagePolicyWebhook
    volumeMounts:
    - mountPath: /etc/kubernetes/imagepolicy
      name: imagepolicy
      readOnly: true
`;

describe("kind node helpers", () => {
  const patch = imagePolicyControlPlanePatch();

  it("find nothing missing in a manifest that carries the patch", () => {
    expect(missingFromManifest(MANIFEST, patch.extraArgs, patch.extraVolumes.map((v) => v.mountPath))).toEqual([]);
  });

  it("name each missing flag and the mount", () => {
    const bare = MANIFEST.replace(/.*enable-admission-plugins.*\n/, "").replace(/    volumeMounts:\n(    .*\n|      .*\n)*/, "");
    expect(missingFromManifest(bare, patch.extraArgs, patch.extraVolumes.map((v) => v.mountPath))).toEqual([
      "flag --enable-admission-plugins=NodeRestriction,ImagePolicyWebhook",
      "volume mount /etc/kubernetes/imagepolicy",
    ]);
  });

  it("bump the restart annotation: added once, then replaced, the rest untouched", () => {
    const once = bumpRestartAnnotation(MANIFEST, "1");
    const twice = bumpRestartAnnotation(once, "2");
    for (const [text, value] of [[once, "1"], [twice, "2"]] as const) {
      const doc = parse(text);
      expect(doc.metadata.annotations[RESTART_ANNOTATION]).toBe(value);
      expect(doc.metadata.annotations["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"]).toBe("172.18.0.2:6443");
      expect(doc.spec.containers[0].command).toEqual(parse(MANIFEST).spec.containers[0].command);
    }
    expect(twice.split(RESTART_ANNOTATION).length).toBe(2);
  });

  it("bump the restart annotation in a manifest without annotations", () => {
    const plain = MANIFEST.replace(/  annotations:\n.*\n/, "");
    expect(parse(bumpRestartAnnotation(plain, "x")).metadata.annotations).toEqual({ [RESTART_ANNOTATION]: "x" });
  });
});

describe("kind tools", () => {
  it("tagOf strips the digest and keeps registry ports apart from tags", () => {
    expect(tagOf("kindest/node:v1.36.1@sha256:abc")).toBe("kindest/node:v1.36.1");
    expect(tagOf("localhost:5000/node@sha256:abc")).toBeUndefined();
    expect(tagOf("localhost:5000/node:v1")).toBe("localhost:5000/node:v1");
  });

  it("network name follows KIND_EXPERIMENTAL_DOCKER_NETWORK, default kind", () => {
    expect(kindNetworkName({})).toBe("kind");
    expect(kindNetworkName({ KIND_EXPERIMENTAL_DOCKER_NETWORK: "lab-net" })).toBe("lab-net");
  });

  it("cache dir: IMAGEPOLICY_LAB_CACHE, then XDG_CACHE_HOME", () => {
    expect(cacheRoot({ IMAGEPOLICY_LAB_CACHE: "/c", XDG_CACHE_HOME: "/x" })).toBe("/c");
    expect(kindCacheDir("v0.32.0", { XDG_CACHE_HOME: "/x" })).toBe("/x/imagepolicy-lab/tools/kind-v0.32.0");
  });
});

describe("KIND_ENV", () => {
  it("every variable is documented in docs/kind.md", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(new URL("../../../../docs/kind.md", import.meta.url), "utf8");
    for (const name of Object.keys(KIND_ENV)) expect(doc, name).toContain(`| \`${name}\` |`);
  });
});

describe("kindPins", () => {
  it("pins kind v0.32.0 and the digest-pinned 1.36.1 image by default", () => {
    expect(kindPins("1.36.1", { env: {} })).toEqual({
      release: "v0.32.0",
      nodeImage: "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
      pinned: true,
    });
  });
  it("takes IMAGEPOLICY_LAB_KIND_NODE_IMAGE, and an explicit option over it", () => {
    expect(kindPins("v1.36.1", { env: { IMAGEPOLICY_LAB_KIND_NODE_IMAGE: "kindest/node:v1.36.1" } }).nodeImage).toBe("kindest/node:v1.36.1");
    expect(kindPins("1.36.1", { env: { IMAGEPOLICY_LAB_KIND_NODE_IMAGE: "a" }, nodeImage: "b" })).toMatchObject({ nodeImage: "b", pinned: false });
  });
  it("has no image for a version without a kind pin, and rejects unknown versions", () => {
    expect(kindPins("1.35.4", { env: {} }).nodeImage).toBeUndefined();
    expect(() => kindPins("1.20.0", { env: {} })).toThrow(ConfigError);
  });
});

describe("stubServeConfig", () => {
  it("listens on all container interfaces and adds mTLS and fault only when asked", () => {
    const plain = stubServeConfig({ mtls: false });
    expect(plain.listen).toEqual({ host: "0.0.0.0", port: STUB_REVIEW_PORT });
    expect(plain.control).toEqual({ host: "0.0.0.0", port: STUB_CONTROL_PORT });
    expect(plain.tls.clientCAFile).toBeUndefined();
    expect(plain.fault).toBeUndefined();
    const m = stubServeConfig({ mtls: true, fault: "status:500" });
    expect(m.tls.clientCAFile).toBe(`${STUB_FILES_DIR}/client-ca.crt`);
    expect(m.fault).toBe("status:500");
  });

  it("is accepted by the stub's own config loader", async () => {
    const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { loadServeConfig } = await import("../../../../webhook-stub/src/main.ts");
    const { formatPolicyYaml, DEFAULT_POLICY } = await import("../../../../webhook-stub/src/policy.ts");
    const dir = await mkdtemp(join(tmpdir(), "iplab-serve-cfg-"));
    try {
      const cfg = stubServeConfig({ mtls: true, fault: "delay:10" });
      const rel = (p: string) => join(dir, p.slice(STUB_FILES_DIR.length + 1));
      const relCfg = { ...cfg, tls: { certFile: rel(cfg.tls.certFile), keyFile: rel(cfg.tls.keyFile), clientCAFile: rel(cfg.tls.clientCAFile!) }, tokenFile: rel(cfg.tokenFile), policyFile: rel(cfg.policyFile!) };
      for (const f of ["tls.crt", "tls.key", "client-ca.crt"]) await writeFile(join(dir, f), "PEM");
      await writeFile(join(dir, "control-token"), "t0k\n");
      await writeFile(join(dir, "policy.yaml"), formatPolicyYaml(DEFAULT_POLICY));
      await writeFile(join(dir, "config.json"), JSON.stringify(relCfg));
      const loaded = await loadServeConfig(join(dir, "config.json"));
      expect(loaded).toMatchObject({ host: "0.0.0.0", port: STUB_REVIEW_PORT, controlHost: "0.0.0.0", controlPort: STUB_CONTROL_PORT, controlToken: "t0k", fault: "delay:10" });
      expect(loaded.policy).toEqual(DEFAULT_POLICY);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("selectProvider", () => {
  const fake = (name: "kind" | "local", pre: PreflightResult): ClusterProvider =>
    ({ name, preflight: async () => pre, startBackend: async () => { throw new Error("unused"); }, start: async () => { throw new Error("unused"); }, removeDetached: async () => [], findLeftovers: async () => [] }) as ClusterProvider;
  const kindOk = () => fake("kind", { usable: true, reasons: [], detail: "docker 28, kind v0.32.0" });
  const kindNo = () => fake("kind", { usable: false, reasons: ["the Docker daemon does not answer"] });
  const local = () => fake("local", { usable: true, reasons: [] });

  it("auto takes kind when usable and says why", async () => {
    const s = await selectProvider("auto", { make: { kind: kindOk, local } });
    expect(s.provider.name).toBe("kind");
    expect(s.why).toMatch(/kind is usable \(docker 28, kind v0\.32\.0\)/);
  });
  it("auto falls back to local with kind's reasons", async () => {
    const s = await selectProvider("auto", { make: { kind: kindNo, local } });
    expect(s.provider.name).toBe("local");
    expect(s.kindPreflight?.usable).toBe(false);
    expect(s.why).toMatch(/kind is not usable here \(the Docker daemon does not answer\)/);
  });
  it("an explicit kind is returned even when unusable, never swapped for local", async () => {
    const s = await selectProvider("kind", { make: { kind: kindNo, local } });
    expect(s.provider.name).toBe("kind");
    expect(s.preflight.usable).toBe(false);
    expect(s.why).toMatch(/not usable here/);
  });
  it("an explicit local does not look at kind", async () => {
    const s = await selectProvider("local", { make: { kind: () => { throw new Error("kind probed"); }, local } });
    expect(s.provider.name).toBe("local");
  });
});
