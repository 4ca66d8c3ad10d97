// `imagepolicy-lab node-image build`: a kind node image for the pinned Kubernetes release, made only
// from local parts (kind-offline.md §3), for machines that cannot pull kindest/node. Steps:
//   1. parts: Kubernetes, etcd, containerd, runc, crictl, CNI plugins, CoreDNS, pause (parts.ts)
//   2. rootfs: debootstrap (cached), laid out like kind's base image (rootfs.ts)
//   3. images: the control-plane, etcd, CoreDNS, kube-proxy and pause images as OCI archives
//   4. `docker import` of the rootfs, then, in a throwaway container of it, containerd imports the
//      archives (as kind's own node-image build does, without unpacking), and `docker commit` tags the
//      result imagepolicy-lab/node:v<version> with a label naming the recipe hash.
// Everything temporary (work dir, build container, intermediate image) is removed on success,
// failure and Ctrl-C.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { cacheRoot } from "../binaries/cache.ts";
import type { Env } from "../binaries/env.ts";
import { downloadModule, probeGo } from "../binaries/go-build.ts";
import { processCleanup, type CleanupRegistry } from "../util/cleanup.ts";
import { LabError } from "../util/errors.ts";
import { silentLogger, task, type Logger, type Progress } from "../util/logger.ts";
import { waitFor } from "../util/wait.ts";
import { imagePresent, removeContainer, run, tryRun } from "../providers/kind/tools.ts";
import { IMAGE_PATH_ENV, writeOciArchive, type ImageConfig } from "./oci-archive.ts";
import { ensureNodeParts, installFile, type NodeParts } from "./parts.ts";
import { nodeImageRecipe, nodeImageTag, RECIPE_LABEL, recipeHash, type NodeImageRecipe } from "./recipe.ts";
import { DEFAULT_DEBIAN_MIRROR, ensureDebianRootfs, extractRootfs, iptablesFiles, layoutNode, removeRootfsDir, stageFromRootfs, stageSymlink } from "./rootfs.ts";

/** Bump when the build code changes what ends up in the image, so old images are rebuilt. */
export const NODE_IMAGE_FORMAT = 1;

/** containerd's sandbox image in kind's config (registry.k8s.io/pause:3.10); kubeadm's own pause is listed too. */
const SANDBOX_IMAGE_RE = /sandbox_image\s*=\s*"([^"]+)"/;

export interface NodeImageStatus {
  tag: string;
  hash: string;
  present: boolean;
  /** Present and built from this recipe. */
  current: boolean;
}


/** Whether the node image for `k8sVersion` is in the local docker image store and current. */
export async function nodeImageStatus(k8sVersion: string): Promise<NodeImageStatus> {
  const recipe = nodeImageRecipe(k8sVersion);
  const tag = nodeImageTag(recipe);
  const hash = recipeHash(recipe, NODE_IMAGE_FORMAT);
  const r = await tryRun("docker", ["image", "inspect", "--format", `{{ index .Config.Labels "${RECIPE_LABEL}" }}`, tag], { timeoutMs: 20_000 });
  return { tag, hash, present: r.ok, current: r.ok && r.stdout.trim() === hash };
}

export interface BuildNodeImageOptions {
  k8sVersion: string;
  /** Rebuild even when a current image exists. */
  force?: boolean;
  env?: Env;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  cleanup?: CleanupRegistry;
}

export interface BuiltNodeImage {
  tag: string;
  /** False when a current image was already there. */
  built: boolean;
  elapsedMs: number;
  /** Images loaded into the node's containerd. */
  images: string[];
  origins: string[];
}

/** The node image's container images: name, files and entrypoint. */
export function nodeContainerImages(recipe: NodeImageRecipe, kubeadmImages: string[], sandboxImage: string): Array<ImageConfig & { binary: string; path: string }> {
  const byName = (repo: string): string => {
    const found = kubeadmImages.find((i) => i.slice(0, i.lastIndexOf(":")) === repo);
    if (!found) throw new LabError(`kubeadm config images list names no ${repo} image (got: ${kubeadmImages.join(", ")})`);
    return found;
  };
  const k8s = (name: string) => ({ name: byName(`registry.k8s.io/${name}`), binary: name, path: `/usr/local/bin/${name}` });
  const pauses = [...new Set([sandboxImage, ...kubeadmImages.filter((i) => i.startsWith("registry.k8s.io/pause:"))])];
  return [
    k8s("kube-apiserver"),
    k8s("kube-controller-manager"),
    k8s("kube-scheduler"),
    k8s("kube-proxy"),
    { name: byName("registry.k8s.io/etcd"), binary: "etcd", path: "/usr/local/bin/etcd" },
    { name: byName("registry.k8s.io/coredns/coredns"), binary: "coredns", path: "/coredns", entrypoint: ["/coredns"] },
    ...pauses.map((name) => ({ name, binary: "pause", path: "/pause", entrypoint: ["/pause"] })),
  ].map((i) => ({ ...i, env: [IMAGE_PATH_ENV] }));
}

const PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n";
const GROUP = "root:x:0:\nnobody:x:65534:\n";

async function stageImage(dir: string, image: ReturnType<typeof nodeContainerImages>[number], parts: NodeParts, rootfs: string): Promise<void> {
  await mkdir(join(dir, "etc"), { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true, mode: 0o1777 });
  await writeFile(join(dir, "etc/passwd"), PASSWD);
  await writeFile(join(dir, "etc/group"), GROUP);
  await mkdir(join(dir, image.path, ".."), { recursive: true });
  const from = parts.files[image.binary];
  if (!from) throw new LabError(`no ${image.binary} binary for image ${image.name}`);
  await installFile(from, join(dir, image.path), 0o755);
  if (image.binary === "kube-proxy") {
    // kube-proxy programs iptables; it gets the node's own iptables (nft backend) and libraries.
    await stageFromRootfs(rootfs, await iptablesFiles(rootfs), dir);
    for (const n of ["iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"]) {
      await stageSymlink(dir, `/usr/sbin/${n}`, "xtables-nft-multi");
    }
  }
}

/** Builds (or finds current) the node image for `o.k8sVersion`. */
export async function buildNodeImage(o: BuildNodeImageOptions): Promise<BuiltNodeImage> {
  const t0 = performance.now();
  const env = o.env ?? process.env;
  const logger = o.logger ?? silentLogger;
  const cleanup = o.cleanup ?? processCleanup;
  const recipe = nodeImageRecipe(o.k8sVersion);
  const status = await nodeImageStatus(recipe.k8sVersion);
  if (status.current && !o.force) {
    return { tag: status.tag, built: false, elapsedMs: performance.now() - t0, images: [], origins: [`${status.tag} is current (recipe ${status.hash})`] };
  }
  if (process.getuid?.() !== 0) throw new LabError("building the node image needs root (debootstrap, chroot, files owned by root): run it as root, e.g. with sudo");

  const parts = await ensureNodeParts(recipe, { env, logger, ...(o.progress ? { progress: o.progress } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const root = join(cacheRoot(env), "node-image");
  const go = await probeGo(env, o.signal);
  if ("problem" in go) throw new LabError(`cannot fetch kind's base image files: ${go.problem}`);
  const kindModule = await downloadModule("sigs.k8s.io/kind", recipe.kindRelease.replace(/^v/, ""), root, {
    env,
    workRoot: root,
    outDir: root,
    logger,
    ...(o.progress ? { progress: o.progress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const rootfsTar = await ensureDebianRootfs(recipe, {
    cacheDir: root,
    mirror: env.IMAGEPOLICY_LAB_DEBIAN_MIRROR?.trim() || DEFAULT_DEBIAN_MIRROR,
    ...(o.progress ? { progress: o.progress } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });

  const suffix = randomBytes(3).toString("hex");
  const work = await mkdtemp(join(root, ".work-"));
  const rootfs = join(work, "rootfs");
  const baseTag = `imagepolicy-lab/node-build:${suffix}`;
  const container = `imagepolicy-lab-node-build-${suffix}`;
  const teardown = cleanup.own(`node image build ${suffix}`, async () => {
    await removeContainer(container).catch((e) => logger.warn(`removing build container ${container}: ${(e as Error).message}`));
    await tryRun("docker", ["image", "rm", "--force", baseTag]);
    await removeRootfsDir(rootfs).catch((e) => logger.warn((e as Error).message));
    await rm(work, { recursive: true, force: true });
  });
  try {
    await task(o.progress, "laying out the node filesystem", async () => {
      await extractRootfs(rootfsTar, rootfs);
      await layoutNode(rootfs, { recipe, parts, kindModuleDir: kindModule.dir });
    });

    const kubeadmImages = (await run("chroot", [rootfs, "/usr/bin/kubeadm", "config", "images", "list", "--kubernetes-version", `v${recipe.k8sVersion}`], { timeoutMs: 60_000 })).stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
    const sandbox = SANDBOX_IMAGE_RE.exec(await readFile(join(rootfs, "etc/containerd/config.toml"), "utf8"))?.[1];
    if (!sandbox) throw new LabError("kind's containerd config names no sandbox_image");
    const images = nodeContainerImages(recipe, kubeadmImages, sandbox);
    await task(o.progress, `making ${images.length} container images`, async (t) => {
      await mkdir(join(rootfs, "kind/images"), { recursive: true });
      for (const [i, image] of images.entries()) {
        t.update(`${i + 1}/${images.length} ${image.name}`);
        const stage = join(work, `image-${i}`);
        await stageImage(stage, image, parts, rootfs);
        await writeOciArchive(stage, image, join(rootfs, "kind/images", `${i}.tar`));
        await rm(stage, { recursive: true, force: true });
      }
    });

    await task(o.progress, "importing the node filesystem into docker", async () => {
      // Paths go in as arguments, never into the script text (this runs as root).
      await run("bash", ["-o", "pipefail", "-c", 'tar --numeric-owner -C "$1" -cf - . | docker import - "$2"', "import-rootfs", rootfs, baseTag], { timeoutMs: 900_000 });
    });
    await removeRootfsDir(rootfs);

    const loaded = await task(o.progress, "loading the images into the node's containerd", async (t) => {
      await run("docker", ["run", "-d", "--name", container, "--entrypoint=sleep", "--network", "none", "--security-opt", "seccomp=unconfined", baseTag, "infinity"], { timeoutMs: 120_000 });
      const exec = (script: string, timeoutMs = 120_000) => run("docker", ["exec", container, "bash", "-c", script], { timeoutMs });
      await exec("nohup containerd > /var/log/containerd-build.log 2>&1 &");
      await waitFor("containerd in the build container", async () => ((await tryRun("docker", ["exec", container, "ctr", "info"], { timeoutMs: 10_000 })).ok ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      for (const [i, image] of images.entries()) {
        t.update(`${i + 1}/${images.length} ${image.name}`);
        await exec(`ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests /kind/images/${i}.tar`, 300_000);
      }
      const list = (await exec("ctr --namespace=k8s.io images list -q")).stdout.split("\n").filter((l) => l && !l.includes("@sha256:") && !l.startsWith("sha256:"));
      const missing = images.map((i) => i.name).filter((n) => !list.includes(n));
      if (missing.length) throw new LabError(`containerd did not list ${missing.join(", ")} after the import (it has: ${list.join(", ")})`);
      // containerd must be gone before the commit, or its bolt database is snapshotted mid-write.
      await exec("pkill containerd; for i in $(seq 1 100); do pgrep containerd >/dev/null || break; sleep 0.2; done; if pgrep containerd >/dev/null; then echo 'containerd did not stop' >&2; exit 1; fi; rm -rf /kind/images /var/log/containerd-build.log");
      return list;
    });

    await task(o.progress, `committing ${status.tag}`, async () => {
      // kind's base image config (images/base/Dockerfile): its entrypoint, no command (the build
      // container ran `sleep infinity`), systemd's stop signal. `docker commit` cannot set STOPSIGNAL,
      // so a one-line build on top of the committed image adds it and the recipe label.
      await run("docker", ["commit", ...["ENTRYPOINT [ \"/usr/local/bin/entrypoint\", \"/sbin/init\" ]", "CMD []", "ENV container=docker"].flatMap((c) => ["--change", c]), container, baseTag], { timeoutMs: 600_000 });
      await run("docker", ["build", "--quiet", "--tag", status.tag, "-"], {
        input: `FROM ${baseTag}\nSTOPSIGNAL SIGRTMIN+3\nLABEL ${RECIPE_LABEL}=${status.hash}\n`,
        env: { ...env, DOCKER_BUILDKIT: "0" },
        timeoutMs: 600_000,
      });
    });
    if (!(await imagePresent(status.tag))) throw new LabError(`docker does not list ${status.tag} after the commit`);
    return { tag: status.tag, built: true, elapsedMs: performance.now() - t0, images: loaded, origins: parts.origins };
  } finally {
    await teardown.stop();
  }
}
