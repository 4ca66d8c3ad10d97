// The binaries a node image is made of, each built from its official Go module and cached outside the
// repo. A part is one directory `<cache>/node-image/parts/<name>-<version>/` with a stamp listing the
// sha256 of each file: a half-built or edited part is rebuilt, never used. Kubernetes' own commands come
// from the same build as the local provider's (binaries/go-build.ts), etcd and kube-apiserver from the
// same cache (binaries/resolve.ts), so both providers run the same bits.
import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { OWN_GO_MODULE_DIR } from "../../go/module-dir.ts";
import { cacheRoot, sha256File } from "../binaries/cache.ts";
import { buildKubernetes, goInstall, probeGo, type GoContext, type GoInstallSpec, type GoToolchain, type K8sCommand } from "../binaries/go-build.ts";
import { acquireLock } from "../binaries/lock.ts";
import { resolveBinaries } from "../binaries/resolve.ts";
import { versionInfo } from "../binaries/versions.ts";
import { LabError } from "../util/errors.ts";
import { silentLogger, type Logger, type Progress } from "../util/logger.ts";
import type { NodeImageRecipe } from "./recipe.ts";


export interface NodeParts {
  /** Absolute path of each file by its name in the node, e.g. kubelet, containerd, runc, bridge. */
  files: Record<string, string>;
  /** Where each part came from, for the image label and the build summary. */
  origins: string[];
}

interface PartSpec {
  /** Cache directory name, e.g. "containerd-v2.3.1". */
  id: string;
  label: string;
  /** Files the build must leave in its output directory. */
  outputs: string[];
  build(ctx: GoContext, go: GoToolchain): Promise<void>;
}

const stampSchema = z.strictObject({ id: z.string(), files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)), origin: z.string() });

function goInstallPart(id: string, spec: GoInstallSpec, outputs: string[]): PartSpec {
  return { id, label: spec.label, outputs, build: (ctx) => goInstall(spec, ctx) };
}

/** Every Go-built part of the node image for `recipe`, except Kubernetes' and etcd (see below). */
export function partSpecs(recipe: NodeImageRecipe): PartSpec[] {
  const cni = ["bridge", "host-local", "loopback", "portmap", "ptp"];
  const cniPackage: Record<string, string> = { bridge: "main", "host-local": "ipam", loopback: "main", portmap: "meta", ptp: "main" };
  const info = versionInfo(recipe.k8sVersion);
  const nodeCommands: K8sCommand[] = ["kubeadm", "kubelet", "kubectl", "kube-scheduler", "kube-proxy"];
  return [
    {
      id: `kubernetes-node-v${recipe.k8sVersion}`,
      label: `Kubernetes v${recipe.k8sVersion} node commands`,
      outputs: nodeCommands,
      build: async (ctx, go) => {
        await buildKubernetes(info, nodeCommands, go, ctx);
      },
    },
    goInstallPart(
      `containerd-${recipe.containerd}`,
      {
        label: `containerd ${recipe.containerd}`,
        // The tags kind's base image builds with; without cgo the btrfs snapshotter is left out anyway.
        tags: "no_aufs no_zfs no_btrfs no_devmapper",
        packages: ["containerd", "ctr", "containerd-shim-runc-v2"].map((c) => `github.com/containerd/containerd/v2/cmd/${c}@${recipe.containerd}`),
      },
      ["containerd", "ctr", "containerd-shim-runc-v2"],
    ),
    goInstallPart(
      `runc-${recipe.runc}`,
      {
        label: `runc ${recipe.runc}`,
        // runc needs cgo (nsenter) and libseccomp; linked statically so the node needs no matching libc.
        cgo: true,
        tags: "seccomp urfave_cli_no_docs",
        ldflags: "-extldflags -static -s -w",
        packages: [`github.com/opencontainers/runc@${recipe.runc}`],
      },
      ["runc"],
    ),
    goInstallPart(
      `cni-plugins-${recipe.cniPlugins}`,
      { label: `CNI plugins ${recipe.cniPlugins}`, ldflags: "-s -w", packages: cni.map((p) => `github.com/containernetworking/plugins/plugins/${cniPackage[p]}/${p}@${recipe.cniPlugins}`) },
      cni,
    ),
    goInstallPart(`crictl-${recipe.crictl}`, { label: `crictl ${recipe.crictl}`, ldflags: "-s -w", packages: [`sigs.k8s.io/cri-tools/cmd/crictl@${recipe.crictl}`] }, ["crictl"]),
    goInstallPart(`coredns-${recipe.coredns}`, { label: `CoreDNS ${recipe.coredns}`, ldflags: "-s -w", packages: [`github.com/coredns/coredns@${recipe.coredns}`] }, ["coredns"]),
    {
      id: "pause-own",
      label: "pause (harness/go/cmd/pause)",
      outputs: ["pause"],
      build: async (ctx) => {
        await goInstall({ label: "pause", ldflags: "-s -w", packages: ["./cmd/pause"] }, { ...ctx, workRoot: OWN_GO_MODULE_DIR });
      },
    },
  ];
}

async function readStamp(dir: string, spec: PartSpec): Promise<z.infer<typeof stampSchema> | undefined> {
  try {
    const stamp = stampSchema.parse(JSON.parse(await readFile(join(dir, "stamp.json"), "utf8")));
    if (stamp.id !== spec.id) return undefined;
    for (const name of spec.outputs) {
      if (stamp.files[name] !== (await sha256File(join(dir, name)))) return undefined;
    }
    return stamp;
  } catch {
    return undefined;
  }
}

/** Hash of our own Go sources, so an edited pause.go rebuilds its part. */
async function ownSourcesHash(): Promise<string> {
  const h = createHash("sha256");
  for (const f of ["go.mod", "cmd/pause/main.go"]) h.update(await readFile(join(OWN_GO_MODULE_DIR, f)));
  return h.digest("hex").slice(0, 12);
}

export interface EnsurePartsOptions {
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

/** Finds or builds every part of the node image; each part is built at most once per machine. */
export async function ensureNodeParts(recipe: NodeImageRecipe, o: EnsurePartsOptions = {}): Promise<NodeParts> {
  const env = o.env ?? process.env;
  const logger = o.logger ?? silentLogger;
  const root = cacheRoot(env);
  const partsDir = join(root, "node-image", "parts");
  await mkdir(partsDir, { recursive: true });
  const files: Record<string, string> = {};
  const origins: string[] = [];

  // kube-apiserver, kube-controller-manager and etcd: the same cache the local provider uses.
  const cp = await resolveBinaries({ k8sVersion: recipe.k8sVersion, env, ...(o.progress ? { progress: o.progress } : {}), logger, ...(o.signal ? { signal: o.signal } : {}) });
  files["kube-apiserver"] = cp.kubeApiserver;
  files["kube-controller-manager"] = cp.kubeControllerManager;
  files.etcd = cp.etcd;
  origins.push(`kube-apiserver, kube-controller-manager, etcd: ${cp.source}`);

  let go: GoToolchain | undefined;
  const ownHash = await ownSourcesHash();
  for (const spec0 of partSpecs(recipe)) {
    const spec = spec0.id === "pause-own" ? { ...spec0, id: `pause-${ownHash}` } : spec0;
    const dir = join(partsDir, spec.id);
    let stamp = await readStamp(dir, spec);
    if (!stamp) {
      const lock = await acquireLock(join(partsDir, `${spec.id}.lock`), { purpose: `building ${spec.label}`, ...(o.signal ? { signal: o.signal } : {}) });
      try {
        stamp = await readStamp(dir, spec);
        if (!stamp) {
          if (!go) {
            const probe = await probeGo(env, o.signal);
            if ("problem" in probe) throw new LabError(`cannot build ${spec.label} for the node image: ${probe.problem} (install Go 1.26 or later)`);
            go = probe;
          }
          stamp = await buildPart(spec, dir, partsDir, go, { env, logger, progress: o.progress, signal: o.signal });
        }
      } finally {
        await lock.release();
      }
    } else logger.debug(`node part ${spec.id}: cached`);
    for (const name of spec.outputs) files[name] = join(dir, name);
    origins.push(`${spec.outputs.join(", ")}: ${stamp.origin}`);
  }
  return { files, origins };
}

async function buildPart(spec: PartSpec, dir: string, partsDir: string, go: GoToolchain, o: Required<Pick<EnsurePartsOptions, "logger">> & EnsurePartsOptions & { env: Readonly<Record<string, string | undefined>> }): Promise<z.infer<typeof stampSchema>> {
  const tmp = await mkdtemp(join(partsDir, `.tmp-${spec.id}-`));
  try {
    const ctx: GoContext = { env: o.env, workRoot: cacheRoot(o.env), outDir: tmp, logger: o.logger, ...(o.progress ? { progress: o.progress } : {}), ...(o.signal ? { signal: o.signal } : {}) };
    await spec.build(ctx, go);
    const files: Record<string, string> = {};
    for (const name of spec.outputs) {
      const path = join(tmp, name);
      try {
        await chmod(path, 0o755);
      } catch {
        throw new LabError(`building ${spec.label} did not produce ${name}`);
      }
      files[name] = await sha256File(path);
    }
    const stamp = { id: spec.id, files, origin: `built with ${go.version} (${spec.label})` };
    await writeFile(join(tmp, "stamp.json"), `${JSON.stringify(stamp, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return stamp;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Copies `from` to `to` with mode `mode` (used when laying out the rootfs and image layers). */
export async function installFile(from: string, to: string, mode = 0o755): Promise<void> {
  await copyFile(from, to);
  await chmod(to, mode);
}
