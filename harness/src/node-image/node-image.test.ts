import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { run } from "../providers/kind/tools.ts";
import { nodeContainerImages } from "./build.ts";
import { ociArch, writeOciArchive } from "./oci-archive.ts";
import { nodeImageRecipe, nodeImageTag, recipeHash } from "./recipe.ts";
import { cniConfList, containerdConfig, criBaseSpec, defaultCniManifest } from "./rootfs.ts";

const KUBEADM_IMAGES = [
  "registry.k8s.io/kube-apiserver:v1.36.1",
  "registry.k8s.io/kube-controller-manager:v1.36.1",
  "registry.k8s.io/kube-scheduler:v1.36.1",
  "registry.k8s.io/kube-proxy:v1.36.1",
  "registry.k8s.io/coredns/coredns:v1.14.2",
  "registry.k8s.io/pause:3.10.2",
  "registry.k8s.io/etcd:3.6.8-0",
];

describe("node image recipe", () => {
  it("pins kind v0.32.0's base-image versions for 1.36.1 and changes its hash with any field", () => {
    const r = nodeImageRecipe("v1.36.1");
    expect(r).toMatchObject({ k8sVersion: "1.36.1", etcdVersion: "3.6.8", kindRelease: "v0.32.0", containerd: "v2.3.1", runc: "v1.4.2", crictl: "v1.36.0", coredns: "v1.14.2" });
    expect(nodeImageTag(r)).toBe("imagepolicy-lab/node:v1.36.1");
    expect(recipeHash(r, 1)).not.toBe(recipeHash({ ...r, containerd: "v2.3.2" }, 1));
    expect(recipeHash(r, 1)).not.toBe(recipeHash(r, 2));
    expect(recipeHash(r, 1)).toBe(recipeHash(nodeImageRecipe("1.36.1"), 1));
  });

  it("refuses a release without a kind pin", () => {
    expect(() => nodeImageRecipe("1.35.4")).toThrow(/no kind release is pinned/);
  });
});

describe("node filesystem pieces", () => {
  it("containerd config: kind's, with oom_score_adj restricted; a changed upstream file is an error", () => {
    const kind = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = false\n';
    expect(containerdConfig(kind)).toContain("restrict_oom_score_adj = true");
    expect(containerdConfig(kind)).not.toContain("restrict_oom_score_adj = false");
    expect(() => containerdConfig("version = 2\n")).toThrow(/needs updating/);
  });

  it("CNI: one bridge with host-local over the pod subnet and portmap", () => {
    const c = JSON.parse(cniConfList("10.244.0.0/16"));
    expect(c.plugins.map((p: { type: string }) => p.type)).toEqual(["bridge", "portmap"]);
    expect(c.plugins[0].ipam).toMatchObject({ type: "host-local", ranges: [[{ subnet: "10.244.0.0/16" }]] });
    const m = parseYaml(defaultCniManifest("10.244.0.0/16"));
    expect(m).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "kube-system" } });
  });

  it("cri base spec: kind's hook appended, rlimits removed, the rest kept", () => {
    const spec = JSON.parse(criBaseSpec(JSON.stringify({ ociVersion: "1.2.0", process: { rlimits: [{ type: "RLIMIT_NOFILE" }], cwd: "/" }, hooks: { createContainer: [{ path: "/x" }] } })));
    expect(spec.hooks.createContainer).toEqual([{ path: "/x" }, { path: "/kind/bin/mount-product-files.sh" }]);
    expect(spec.process).toEqual({ cwd: "/" });
    expect(spec.ociVersion).toBe("1.2.0");
  });

  it("container images: every image kubeadm lists plus containerd's sandbox image, each with its binary", () => {
    const images = nodeContainerImages(nodeImageRecipe("1.36.1"), KUBEADM_IMAGES, "registry.k8s.io/pause:3.10");
    expect(images.map((i) => i.name).sort()).toEqual([...KUBEADM_IMAGES, "registry.k8s.io/pause:3.10"].sort());
    expect(images.find((i) => i.name.includes("coredns"))).toMatchObject({ binary: "coredns", entrypoint: ["/coredns"] });
    expect(images.find((i) => i.name.includes("etcd"))).toMatchObject({ binary: "etcd", path: "/usr/local/bin/etcd" });
    expect(() => nodeContainerImages(nodeImageRecipe("1.36.1"), KUBEADM_IMAGES.slice(1), "registry.k8s.io/pause:3.10")).toThrow(/kube-apiserver/);
  });
});

describe("OCI archive", () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("holds an index naming the image, a manifest, a config with the entrypoint, and the files as one layer; same input, same digest", async () => {
    const dir = await mkdtemp(join(tmpdir(), "oci-test-"));
    dirs.push(dir);
    await mkdir(join(dir, "root", "usr/local/bin"), { recursive: true });
    await writeFile(join(dir, "root", "usr/local/bin/tool"), "#!/bin/sh\n", { mode: 0o755 });
    const digests: string[] = [];
    for (const n of [1, 2]) {
      const out = join(dir, `image-${n}.tar`);
      await writeOciArchive(join(dir, "root"), { name: "registry.k8s.io/tool:v1", entrypoint: ["/usr/local/bin/tool"] }, out);
      const x = join(dir, `x-${n}`);
      await mkdir(x);
      await run("tar", ["-xf", out, "-C", x]);
      const index = JSON.parse(await readFile(join(x, "index.json"), "utf8"));
      expect(index.manifests[0].annotations).toEqual({ "io.containerd.image.name": "registry.k8s.io/tool:v1", "org.opencontainers.image.ref.name": "v1" });
      const blob = (d: string) => readFile(join(x, "blobs", "sha256", d.replace("sha256:", "")), "utf8");
      const manifest = JSON.parse(await blob(index.manifests[0].digest));
      const config = JSON.parse(await blob(manifest.config.digest));
      expect(config).toMatchObject({ os: "linux", architecture: ociArch(), config: { Entrypoint: ["/usr/local/bin/tool"] } });
      expect(config.rootfs.diff_ids).toEqual([manifest.layers[0].digest]);
      const listing = (await run("tar", ["-tvf", join(x, "blobs", "sha256", manifest.layers[0].digest.replace("sha256:", ""))])).stdout;
      expect(listing).toMatch(/-rwxr-xr-x 0\/0 .* \.\/usr\/local\/bin\/tool/);
      digests.push(index.manifests[0].digest);
    }
    expect(digests[0]).toBe(digests[1]);
  });
});
