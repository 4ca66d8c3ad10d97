// Writes a single-layer OCI image archive (an OCI image layout in a tar), the format
// `ctr images import` loads. The node's control-plane, etcd, CoreDNS, pause and kube-proxy images are
// made this way from a staging directory, without docker and without any registry, and never appear
// in the host's docker image store.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256File } from "../binaries/cache.ts";
import { run } from "../providers/kind/tools.ts";

export interface ImageConfig {
  /** Full name as kubeadm and containerd expect it, e.g. registry.k8s.io/kube-apiserver:v1.36.1. */
  name: string;
  entrypoint?: string[];
  env?: string[];
}

export const IMAGE_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The architecture name OCI uses for this Node process's CPU. */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", ppc64: "ppc64le", s390x: "s390x" };
  const a = map[arch];
  if (!a) throw new Error(`unsupported architecture for a node image: ${arch}`);
  return a;
}

/**
 * Tar of a directory as an image layer: root-owned, sorted, fixed mtime, so the same files give the
 * same digest on every build (GNU tar).
 */
export async function tarDirectory(dir: string, out: string, paths: string[] = ["."]): Promise<void> {
  await run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--format=posix", "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-C", dir, "-cf", out, ...paths], {
    timeoutMs: 600_000,
  });
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

async function putBlob(blobs: string, content: string | Buffer, mediaType: string): Promise<Descriptor> {
  const buf = typeof content === "string" ? Buffer.from(content) : content;
  const hex = createHash("sha256").update(buf).digest("hex");
  await writeFile(join(blobs, hex), buf);
  return { mediaType, digest: `sha256:${hex}`, size: buf.length };
}

/** Builds `<out>` (an OCI archive) from the files under `rootDir`. */
export async function writeOciArchive(rootDir: string, image: ImageConfig, out: string): Promise<void> {
  const layout = await mkdtemp(`${out}.layout-`);
  try {
    const blobs = join(layout, "blobs", "sha256");
    await mkdir(blobs, { recursive: true });
    const layerTmp = join(layout, "layer.tar");
    await tarDirectory(rootDir, layerTmp);
    const layerHex = await sha256File(layerTmp);
    const layerSize = (await stat(layerTmp)).size;
    await writeFile(join(blobs, layerHex), await readFile(layerTmp));
    await rm(layerTmp);
    const layer: Descriptor = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${layerHex}`, size: layerSize };
    const config = await putBlob(
      blobs,
      JSON.stringify({
        architecture: ociArch(),
        os: "linux",
        config: { Env: image.env ?? [IMAGE_PATH_ENV], ...(image.entrypoint ? { Entrypoint: image.entrypoint } : {}), WorkingDir: "/" },
        rootfs: { type: "layers", diff_ids: [layer.digest] },
        history: [{ created_by: "imagepolicy-lab node-image build" }],
      }),
      "application/vnd.oci.image.config.v1+json",
    );
    const manifest = await putBlob(
      blobs,
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config, layers: [layer] }),
      "application/vnd.oci.image.manifest.v1+json",
    );
    const tag = image.name.slice(image.name.lastIndexOf(":") + 1);
    // containerd names the image from io.containerd.image.name; ref.name is the OCI layout's own tag.
    manifest.annotations = { "io.containerd.image.name": image.name, "org.opencontainers.image.ref.name": tag };
    await writeFile(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [manifest] }));
    await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await tarDirectory(layout, out, ["oci-layout", "index.json", "blobs"]);
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}
