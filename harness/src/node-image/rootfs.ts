// The node's root filesystem: a Debian rootfs from debootstrap (cached as a tar, keyed by suite and
// packages), then laid out the way kind v0.32.0's base image Dockerfile does it, from the files in
// the kind Go module (entrypoint, systemd units, containerd config, kubelet drop-ins), plus our parts,
// a static CNI config and the files `kind create cluster` reads in the node (/kind/version,
// /kind/manifests/default-cni.yaml).
import { createHash } from "node:crypto";
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { stringify as toYaml } from "yaml";
import { LabError } from "../util/errors.ts";
import { task, type Progress } from "../util/logger.ts";
import { run, tryRun } from "../providers/kind/tools.ts";
import { installFile, type NodeParts } from "./parts.ts";
import type { NodeImageRecipe } from "./recipe.ts";

/** Debian mirror for debootstrap; IMAGEPOLICY_LAB_DEBIAN_MIRROR overrides it. */
export const DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian";

/** Where each part goes in the node, as kind's base image puts it. */
export const NODE_PATHS: Readonly<Record<string, string>> = Object.freeze({
  containerd: "/usr/local/bin/containerd",
  ctr: "/usr/local/bin/ctr",
  "containerd-shim-runc-v2": "/usr/local/bin/containerd-shim-runc-v2",
  crictl: "/usr/local/bin/crictl",
  runc: "/usr/local/sbin/runc",
  bridge: "/opt/cni/bin/bridge",
  "host-local": "/opt/cni/bin/host-local",
  loopback: "/opt/cni/bin/loopback",
  portmap: "/opt/cni/bin/portmap",
  ptp: "/opt/cni/bin/ptp",
  kubeadm: "/usr/bin/kubeadm",
  kubelet: "/usr/bin/kubelet",
  kubectl: "/usr/bin/kubectl",
});

/** Mount points under `dir` (deepest first), so a crashed debootstrap's /proc and /sys are unmounted before removal. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  return text
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Removes a rootfs directory safely: unmount anything mounted inside it first. */
export async function removeRootfsDir(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) await tryRun("umount", ["-l", m]);
  if ((await mountsUnder(dir)).length) throw new LabError(`not removing ${dir}: something is still mounted inside it`);
  await rm(dir, { recursive: true, force: true });
}

export interface RootfsOptions {
  cacheDir: string;
  mirror: string;
  progress?: Progress;
  signal?: AbortSignal;
}

/** The cached debootstrap tar for the recipe's suite and packages, made when missing (needs root). */
export async function ensureDebianRootfs(recipe: NodeImageRecipe, o: RootfsOptions): Promise<string> {
  const key = createHash("sha256").update(JSON.stringify([recipe.debianSuite, recipe.debianPackages])).digest("hex").slice(0, 12);
  const tarPath = join(o.cacheDir, `rootfs-${recipe.debianSuite}-${key}.tar`);
  if (await stat(tarPath).then(() => true, () => false)) return tarPath;
  if (process.getuid?.() !== 0) throw new LabError("building the node image's Debian rootfs needs root (debootstrap): run the command as root, e.g. with sudo");
  if (!(await tryRun("debootstrap", ["--version"])).ok) {
    throw new LabError("debootstrap is not installed: install it (Debian/Ubuntu: apt-get install -y debootstrap) to build the node image's rootfs");
  }
  // debootstrap refuses a --cache-dir that does not exist yet.
  await mkdir(join(o.cacheDir, "debs"), { recursive: true });
  const work = await mkdtemp(join(o.cacheDir, ".rootfs-"));
  const target = join(work, "rootfs");
  try {
    await task(o.progress, `debootstrap ${recipe.debianSuite} (minbase + ${recipe.debianPackages.length} packages)`, async (t) => {
      await run(
        "debootstrap",
        ["--variant=minbase", `--cache-dir=${join(o.cacheDir, "debs")}`, `--include=${recipe.debianPackages.join(",")}`, recipe.debianSuite, target, o.mirror],
        {
          timeoutMs: 1_800_000,
          ...(o.signal ? { signal: o.signal } : {}),
          onLine: (line) => {
            const m = /^I: (Retrieving|Validating|Extracting|Unpacking|Configuring|Installing) (.*)$/.exec(line);
            if (m) t.update(`${m[1]} ${m[2]}`);
            else if (line.startsWith("I: ")) t.update(line.slice(3));
          },
        },
      );
    });
    // apt's lists and downloaded packages are not needed in a node.
    await rm(join(target, "var/cache/apt/archives"), { recursive: true, force: true });
    await rm(join(target, "var/lib/apt/lists"), { recursive: true, force: true });
    await mkdir(join(target, "var/cache/apt/archives/partial"), { recursive: true });
    await mkdir(join(target, "var/lib/apt/lists/partial"), { recursive: true });
    await task(o.progress, "caching the rootfs", async () => {
      await run("tar", ["--numeric-owner", "-C", target, "-cf", join(work, "rootfs.tar"), "."], { timeoutMs: 600_000 });
      await rename(join(work, "rootfs.tar"), tarPath);
    });
    return tarPath;
  } finally {
    await removeRootfsDir(target);
    await rm(work, { recursive: true, force: true });
  }
}

/** Extracts a cached rootfs tar into `dir` (as root, owners kept). */
export async function extractRootfs(tarPath: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run("tar", ["--numeric-owner", "-xpf", tarPath, "-C", dir], { timeoutMs: 600_000 });
}

/** Copies a tree from the (read-only) Go module cache with fixed modes: dirs 0755, files `fileMode`. */
async function copyTree(from: string, to: string, fileMode: number): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) await copyTree(src, dst, fileMode);
    else await installFile(src, dst, fileMode);
  }
}

/** kind's containerd config with the one change this lab's hosts need (kind-offline.md §1). */
export function containerdConfig(kindConfigToml: string): string {
  const from = "restrict_oom_score_adj = false";
  if (!kindConfigToml.includes(from)) throw new LabError(`kind's containerd config no longer contains "${from}"; the node image recipe needs updating`);
  // A negative oom_score_adj is refused on hosts like ours even for privileged containers; with the
  // restriction, containerd never asks for less than its own value, which is harmless elsewhere.
  return kindConfigToml.replace(from, "restrict_oom_score_adj = true");
}

/** The node's CNI config: one bridge on one node, no kindnetd (which is not available offline). */
export function cniConfList(podSubnet: string): string {
  return `${JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "imagepolicy-lab",
      plugins: [
        { type: "bridge", bridge: "cni0", isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: "host-local", ranges: [[{ subnet: podSubnet }]], routes: [{ dst: "0.0.0.0/0" }] } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * kind applies /kind/manifests/default-cni.yaml with `kubectl create`; the node's network is the
 * static bridge config above, so this manifest only records that fact where `kubectl` users look.
 */
export function defaultCniManifest(podSubnet: string): string {
  return toYaml({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "imagepolicy-lab-cni", namespace: "kube-system" },
    data: { cni: "bridge + host-local + portmap from /etc/cni/net.d/10-imagepolicy-lab.conflist (built into the imagepolicy-lab node image)", podSubnet },
  });
}

/** containerd's base OCI spec as kind makes it: its product-files hook added, rlimits removed. */
export function criBaseSpec(ctrOciSpec: string): string {
  const spec = JSON.parse(ctrOciSpec) as { hooks?: { createContainer?: Array<{ path: string }> }; process?: { rlimits?: unknown } };
  spec.hooks ??= {};
  spec.hooks.createContainer = [...(spec.hooks.createContainer ?? []), { path: "/kind/bin/mount-product-files.sh" }];
  if (spec.process) delete spec.process.rlimits;
  return `${JSON.stringify(spec, null, 2)}\n`;
}

/** What kind's base Dockerfile does with systemd (RUN steps), as one shell script run in the chroot. */
const SYSTEMD_SETUP = `set -eu
find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* /lib/systemd/system/local-fs.target.wants/* \\
  /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
`;

/** Lays out the node filesystem in `dir` (an extracted rootfs). */
export async function layoutNode(dir: string, o: { recipe: NodeImageRecipe; parts: NodeParts; kindModuleDir: string }): Promise<void> {
  const base = join(o.kindModuleDir, "images", "base", "files");
  await copyTree(join(base, "usr", "local", "bin"), join(dir, "usr/local/bin"), 0o755);
  await copyTree(join(base, "kind"), join(dir, "kind"), 0o644);
  await copyTree(join(base, "kind", "bin"), join(dir, "kind/bin"), 0o755);
  await copyTree(join(base, "LICENSES"), join(dir, "LICENSES"), 0o644);
  await installFile(join(base, "etc", "crictl.yaml"), join(dir, "etc/crictl.yaml"), 0o644);
  await copyTree(join(base, "etc", "default"), join(dir, "etc/default"), 0o644);
  await copyTree(join(base, "etc", "sysctl.d"), join(dir, "etc/sysctl.d"), 0o644);
  await copyTree(join(base, "etc", "systemd"), join(dir, "etc/systemd"), 0o644);
  await mkdir(join(dir, "etc/containerd"), { recursive: true });
  await writeFile(join(dir, "etc/containerd/config.toml"), containerdConfig(await readFile(join(base, "etc", "containerd", "config.toml"), "utf8")), { mode: 0o644 });

  for (const [name, nodePath] of Object.entries(NODE_PATHS)) {
    const from = o.parts.files[name];
    if (!from) throw new LabError(`node image part ${name} is missing`);
    await mkdir(join(dir, dirname(nodePath)), { recursive: true });
    await installFile(from, join(dir, nodePath), 0o755);
  }
  const ctrSpec = await run(o.parts.files.ctr!, ["oci", "spec"], { timeoutMs: 30_000 });
  await writeFile(join(dir, "etc/containerd/cri-base.json"), criBaseSpec(ctrSpec.stdout), { mode: 0o644 });

  await run("chroot", [dir, "/bin/sh", "-c", SYSTEMD_SETUP], { timeoutMs: 120_000 });

  await writeFile(join(dir, "kind/version"), `v${o.recipe.k8sVersion}`, { mode: 0o644 });
  await mkdir(join(dir, "kind/manifests"), { recursive: true, mode: 0o755 });
  await writeFile(join(dir, "kind/manifests/default-cni.yaml"), defaultCniManifest(o.recipe.podSubnet), { mode: 0o644 });
  await mkdir(join(dir, "etc/cni/net.d"), { recursive: true });
  await writeFile(join(dir, "etc/cni/net.d/10-imagepolicy-lab.conflist"), cniConfList(o.recipe.podSubnet), { mode: 0o644 });
  await chmod(join(dir, "kind"), 0o755);
}

/**
 * Files kube-proxy's image needs besides kube-proxy: iptables (nft backend) with its extension
 * modules and every shared library they load, taken from the node rootfs so the versions match the
 * node's own iptables. Returns paths inside the rootfs (absolute, as the image will see them).
 */
export async function iptablesFiles(rootfs: string): Promise<string[]> {
  const xtDir = "/usr/lib/x86_64-linux-gnu/xtables";
  const arch = (await stat(join(rootfs, xtDir)).then(() => true, () => false)) ? xtDir : (await run("chroot", [rootfs, "sh", "-c", "dirname $(ls -d /usr/lib/*/xtables | head -1)/xtables"])).stdout.trim();
  const modules = (await readdir(join(rootfs, arch))).map((f) => `${arch}/${f}`);
  const bins = ["/usr/sbin/xtables-nft-multi"];
  const ldd = await run("chroot", [rootfs, "ldd", ...bins, ...modules], { timeoutMs: 60_000 });
  const libs = new Set<string>();
  for (const line of ldd.stdout.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...bins, ...modules, ...libs];
}

/**
 * Stages `files` (paths in `rootfs`) into `dest`, dereferencing symlinks as the rootfs sees them
 * (`readlink -f` inside the chroot: Debian's ld.so link is absolute, which the host would resolve to
 * its own file).
 */
export async function stageFromRootfs(rootfs: string, files: string[], dest: string): Promise<void> {
  const real = (await run("chroot", [rootfs, "readlink", "-e", ...files], { timeoutMs: 30_000 })).stdout.split("\n");
  if (real.length !== files.length) throw new LabError(`readlink in the rootfs resolved ${real.length} of ${files.length} files`);
  for (const [i, f] of files.entries()) {
    await mkdir(join(dest, dirname(f)), { recursive: true });
    await cp(join(rootfs, real[i]!), join(dest, f), { dereference: true });
  }
}

/** Creates `link` → `target` inside a staging dir. */
export async function stageSymlink(dest: string, link: string, target: string): Promise<void> {
  await mkdir(join(dest, dirname(link)), { recursive: true });
  await symlink(target, join(dest, link));
}
