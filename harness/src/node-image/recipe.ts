// What goes into the lab's offline kind node image, pinned per Kubernetes release. The versions are
// the ones kind v0.32.0's own base image builds (images/base/Dockerfile in the kind module), so a node
// built here runs the same userland kind tests with; only the parts kind pulls from a registry
// (kindnetd, local-path-provisioner) are replaced by things we build or write (kind-offline.md §3).
import { createHash } from "node:crypto";
import { versionInfo } from "../binaries/versions.ts";
import { LabError } from "../util/errors.ts";

export interface NodeImageRecipe {
  k8sVersion: string;
  etcdVersion: string;
  /** kind release whose base-image files (entrypoint, systemd units, containerd config) we use. */
  kindRelease: string;
  containerd: string;
  runc: string;
  crictl: string;
  cniPlugins: string;
  coredns: string;
  /** Debian suite of the rootfs; bookworm's systemd 252 still boots on cgroup v1 hosts. */
  debianSuite: string;
  /** Debian packages on top of debootstrap's minbase: what kind's base image installs, less NFS/iSCSI/fuse. */
  debianPackages: readonly string[];
  /** Pod network of the node's static CNI config (kind's default podSubnet). */
  podSubnet: string;
}

const DEBIAN_PACKAGES = Object.freeze([
  "systemd",
  "dbus",
  "conntrack",
  "iptables",
  "nftables",
  "iproute2",
  "ethtool",
  "socat",
  "util-linux",
  "mount",
  "kmod",
  "libseccomp2",
  "bash",
  "ca-certificates",
  "jq",
  "procps",
]);

/** The recipe for Kubernetes `k8sVersion` (only releases kind v0.32.0 supports: 1.36.x). */
export function nodeImageRecipe(k8sVersion: string): NodeImageRecipe {
  const info = versionInfo(k8sVersion);
  if (!info.kind) throw new LabError(`no kind release is pinned for Kubernetes ${info.version}, so there is no node image recipe for it`);
  return {
    k8sVersion: info.version,
    etcdVersion: info.etcdVersion,
    kindRelease: info.kind.release,
    containerd: "v2.3.1",
    runc: "v1.4.2",
    crictl: "v1.36.0",
    cniPlugins: "v1.9.1",
    coredns: "v1.14.2",
    debianSuite: "bookworm",
    debianPackages: DEBIAN_PACKAGES,
    podSubnet: "10.244.0.0/16",
  };
}

/** Short hash of everything that shapes the image (recipe and our build code's format version). */
export function recipeHash(recipe: NodeImageRecipe, formatVersion: number): string {
  return createHash("sha256").update(JSON.stringify({ recipe, formatVersion })).digest("hex").slice(0, 12);
}

/** Local tag of the node image: no registry in the name, so nobody mistakes it for kindest/node. */
export function nodeImageTag(recipe: NodeImageRecipe): string {
  return `imagepolicy-lab/node:v${recipe.k8sVersion}`;
}

/** Label on the image naming the recipe hash it was built from; a mismatch means rebuild. */
export const RECIPE_LABEL = "dev.imagepolicy-lab.node-recipe";
