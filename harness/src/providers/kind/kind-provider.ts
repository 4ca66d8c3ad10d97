// The `kind` provider: the stub backend runs as a container on the docker network `kind` (alias
// image-policy-stub), then `kind create cluster` boots a node whose kube-apiserver loads the
// ImagePolicyWebhook files from a host directory (kind-configs/, kind-integration.md §4, §14).
//
// Order matters: with defaultAllow false every pod create, the cluster's own system pods included,
// asks the stub, so the stub is up (and admits kube-system) before the cluster starts.
//
// What it owns and removes on stop(): the kind cluster (`kind delete cluster`), the stub container,
// the `kind` network only if it created it, the admission files and kubeconfig, and (with the stub
// container) the host copies of the stub's key and control token. A failed create is
// kept for `kind export logs` (kind runs with --retain), then deleted unless `retain` was asked for.
// stop() and `down` (removeDetached, from another process) remove through the same removeKindLab
// (kind-teardown.ts); the state file's `kind` block is this provider's record of what to remove.
import { mkdir, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { writeAdmissionFiles } from "../../admission/render.ts";
import { DEFAULT_K8S_VERSION, versionInfo } from "../../binaries/versions.ts";
import { ADMISSION_DIR_IN_NODE, AUDIT_POLICY, AUDIT_POLICY_FILE, imagePolicyControlPlanePatch, KIND_AUDIT } from "../../kind/control-plane-patch.ts";
import { renderKindConfig, type KubeadmPatchStyle } from "../../kind/kind-config.ts";
import type { AdmissionProfile } from "../../profile/profile.ts";
import { processCleanup, type CleanupRegistry } from "../../util/cleanup.ts";
import { LabError, partsFailed, ProviderUnavailableError, wrap } from "../../util/errors.ts";
import { httpsRequest, kubeconfigTarget } from "../../util/https-get.ts";
import { silentLogger, task, type Logger } from "../../util/logger.ts";
import { waitFor } from "../../util/wait.ts";
import { readLabState, writeLabState, type LabState } from "../lab-state.ts";
import type { BackendStartOptions, ClusterProvider, ClusterStartOptions, Leftover, OpaStartOptions, PreflightResult, ProfileSwitch, RemoveDetachedOptions, StartedBackend, StartedCluster, StartedOpa } from "../provider.ts";
import { kindRecord, removeKindLab } from "./kind-teardown.ts";
import { APISERVER_MANIFEST, componentLogs, controlPlaneNode, missingFromManifest, nodeExec, restartApiserverViaManifest, runningContainer, stopNodeContainer } from "./kind-node.ts";
import type * as StubContainer from "./stub-container.ts";
import type * as OpaContainer from "./opa-container.ts";
import { LAB_LABEL, STATE_DIR_LABEL } from "./lab-container.ts";
import { OPA_ALIAS, STUB_ALIAS } from "./stub-alias.ts";
// testcontainers costs about a second to import; only kind labs need it.
const loadStubContainer = (): Promise<typeof StubContainer> => import("./stub-container.ts");
const loadOpaContainer = (): Promise<typeof OpaContainer> => import("./opa-container.ts");
import { ensureOpa } from "../../opa/index.ts";
import { probeGo } from "../../binaries/go-build.ts";
import { waitUntilUsable } from "../common/user-ready.ts";
import {
  DEFAULT_KIND_RELEASE,
  dockerStatus,
  ensureKind,
  ensureNetwork,
  findKind,
  imagePresent,
  kindInstallCommand,
  kindNetworkName,
  tagOf,
  tryRun,
  type Env,
} from "./tools.ts";

export interface KindProviderOptions {
  /** Environment to read (KIND_ENV in tools.ts). Default process.env. */
  env?: Env;
  /** Kubernetes release preflight checks the node image for. Default DEFAULT_K8S_VERSION; start() uses its own k8sVersion. */
  k8sVersion?: string;
  /** kind binary; overrides IMAGEPOLICY_LAB_KIND and the search. */
  kindPath?: string;
  /** Node image; overrides IMAGEPOLICY_LAB_KIND_NODE_IMAGE and the pinned image. */
  nodeImage?: string;
  /** How the kubeadm patch is addressed. Default `unversioned` (kind-integration.md §3). */
  kubeadmApi?: KubeadmPatchStyle;
  cleanup?: CleanupRegistry;
  /** Budget for `kind create cluster` plus node Ready plus the default ServiceAccount. Default 300 s. */
  readyTimeoutMs?: number;
  /** Budget for an apiserver restart after a profile switch. Default 120 s (§8: 10–40 s typical). */
  restartTimeoutMs?: number;
  /** Where preflight says what it changed (the runtime wrapper, when IMAGEPOLICY_LAB_FIX_PRIVILEGED=1 asks for it). */
  logger?: Logger;
}

/** The kind release and node image for a Kubernetes version, with overrides applied. */
export function kindPins(k8sVersion: string, o: { env?: Env; nodeImage?: string } = {}): { release: string; nodeImage?: string; pinned: boolean } {
  const env = o.env ?? process.env;
  const info = versionInfo(k8sVersion).kind;
  const override = o.nodeImage ?? (env.IMAGEPOLICY_LAB_KIND_NODE_IMAGE?.trim() || undefined);
  return { release: info?.release ?? DEFAULT_KIND_RELEASE, nodeImage: override ?? info?.nodeImage, pinned: !override && !!info };
}

export type NodeImageChoice = { image: string; source: string; problem?: undefined } | { image?: undefined; problem: string };

/**
 * The node image a kind lab boots, in this order: an explicit one (option or
 * IMAGEPOLICY_LAB_KIND_NODE_IMAGE); the pinned kindest/node by digest when it is in the local image
 * store; the image `imagepolicy-lab node-image build` made from local parts. kind would try to pull
 * anything else, which fails without a registry, so that case is a problem with both fixes named.
 */
export async function chooseNodeImage(k8sVersion: string, pins: ReturnType<typeof kindPins>, o: { cgroupV1?: boolean } = {}): Promise<NodeImageChoice> {
  if (pins.nodeImage && !pins.pinned) {
    const here = await imagePresent(pins.nodeImage);
    return { image: pins.nodeImage, source: `IMAGEPOLICY_LAB_KIND_NODE_IMAGE or the nodeImage option${here ? "" : "; not in the local image store, so kind will try to pull it"}` };
  }
  const { nodeImageStatus } = await import("../../node-image/build.ts");
  const built = await nodeImageStatus(k8sVersion).catch(() => undefined);
  // The pinned kindest/node images run systemd 257 (Debian trixie), which may not boot on a cgroup v1
  // host (kind-offline.md §2); the lab's bookworm image does. On such hosts ours goes first.
  if (pins.nodeImage && !(o.cgroupV1 && built?.present) && (await imagePresent(pins.nodeImage))) return { image: pins.nodeImage, source: "the pinned kindest/node image" };
  if (built?.present) {
    return {
      image: built.tag,
      source: built.current ? "built from local parts by `imagepolicy-lab node-image build`" : "built by an older `node-image build` recipe; `imagepolicy-lab node-image build` refreshes it",
    };
  }
  const tag = pins.nodeImage ? tagOf(pins.nodeImage) : undefined;
  const tagOnly = tag && (await imagePresent(tag));
  const fixes = [
    "run 'imagepolicy-lab node-image build' (builds it from Go modules and Debian packages, no registry needed; needs root)",
    ...(pins.nodeImage ? [tagOnly ? `set IMAGEPOLICY_LAB_KIND_NODE_IMAGE=${tag} to use the loaded ${tag} (docker load drops registry digests)` : `or 'docker pull ${pins.nodeImage}' where a registry is reachable`] : []),
  ];
  return { problem: `no kind node image for Kubernetes ${k8sVersion} is in the local docker image store, and kind would have to pull one: ${fixes.join("; ")}` };
}

export class KindProvider implements ClusterProvider {
  readonly name = "kind" as const;
  /** The network lease: the backend and the cluster both use the network; the last one out removes it if we created it. */
  private network: { name: string; created: boolean; users: number } | undefined;

  constructor(private readonly options: KindProviderOptions = {}) {}

  private get env(): Env {
    return this.options.env ?? process.env;
  }

  /** Preflight runs once per provider instance and version (a command asks it in select and again in startLab). */
  private readonly preflights = new Map<string, Promise<PreflightResult>>();

  preflight(k8sVersion = this.options.k8sVersion ?? DEFAULT_K8S_VERSION): Promise<PreflightResult> {
    let p = this.preflights.get(k8sVersion);
    if (!p) this.preflights.set(k8sVersion, (p = this.checkUsable(k8sVersion)));
    return p;
  }

  private async checkUsable(k8sVersion: string): Promise<PreflightResult> {
    const reasons: string[] = [];
    const found: string[] = [];
    const ensureScript = "bash harness/src/providers/kind/ensure-docker.sh";
    const docker = await dockerStatus();
    if (!docker.cli) reasons.push(`the docker CLI is not on PATH: install Docker Engine (Debian: apt-get install -y docker.io) or run ${ensureScript}`);
    else if (!docker.daemon) reasons.push(`the Docker daemon does not answer 'docker info' (${docker.error ?? "no answer"}): start it (systemctl start docker, or ${ensureScript})`);
    else {
      found.push(`docker ${docker.serverVersion}`);
      if (docker.cgroupVersion === "1") found.push("cgroup v1 host (the lab adds failCgroupV1: false for the kubelet)");
      // kind's nodes are privileged containers; some hosts cannot grant that (kind-offline.md §1).
      // This runs one throwaway container; it changes the host only when IMAGEPOLICY_LAB_FIX_PRIVILEGED asks.
      try {
        const { ensurePrivilegedContainers } = await import("../../host/privileged.ts");
        await ensurePrivilegedContainers({ allowHostChange: false, env: this.env, logger: this.options.logger ?? silentLogger });
        found.push("privileged containers work");
      } catch (err) {
        reasons.push((err as Error).message.replace(/\n/g, " "));
      }
    }

    let pins: ReturnType<typeof kindPins> | undefined;
    try {
      pins = kindPins(k8sVersion, { env: this.env, nodeImage: this.options.nodeImage });
    } catch (err) {
      reasons.push((err as Error).message.split("\n").join(" "));
    }
    if (pins) {
      const kind = await findKind(pins.release, this.env, this.options.kindPath);
      if (kind.found) found.push(`kind ${kind.found.version} (${kind.found.path})`);
      else if (this.options.kindPath ?? this.env.IMAGEPOLICY_LAB_KIND?.trim()) reasons.push(`kind ${pins.release} is required (${kind.problem}): fix IMAGEPOLICY_LAB_KIND, or unset it to let the lab build kind`);
      else if ("problem" in (await probeGo(this.env))) reasons.push(`kind ${pins.release} is required (${kind.problem}) and Go is not installed to build it: install it with '${kindInstallCommand(pins.release, this.env)}'`);
      else found.push(`kind ${pins.release} (will be built from its Go module on first use, about a minute)`);

      if (docker.daemon) {
        const choice = await chooseNodeImage(k8sVersion, pins, { cgroupV1: docker.cgroupVersion === "1" });
        if (choice.problem !== undefined) reasons.push(choice.problem);
        else found.push(`node image ${choice.image} (${choice.source})`);
      }
    }
    return { usable: reasons.length === 0, reasons, detail: found.join(", ") || undefined };
  }

  private async acquireNetwork(): Promise<{ name: string; created: boolean }> {
    if (!this.network) {
      const name = kindNetworkName(this.env);
      const { created } = await ensureNetwork(name);
      this.network = { name, created, users: 0 };
    }
    this.network.users++;
    return { name: this.network.name, created: this.network.created };
  }

  /**
   * Drops one user of the network; returns it when that was the last user, for removeKindLab to
   * remove if we created it and no foreign container is attached.
   */
  private dropNetworkLease(): { name: string; created: boolean } | undefined {
    const n = this.network;
    if (!n) return undefined;
    n.users--;
    if (n.users > 0) return undefined;
    this.network = undefined;
    return { name: n.name, created: n.created };
  }

  /**
   * The stop of a lab container (stub, OPA) that also drops its network lease, registered with the
   * cleanup registry: idempotent, a second caller (Ctrl-C) waits for the first, and the registration
   * stays until the end so a signal mid-stop does not exit before the removal. A detached container
   * (`up`) is released from the registry at once: it outlives this process.
   */
  private ownContainer(what: string, stopContainer: () => Promise<void>, o: { logger: Logger; detached?: boolean }): () => Promise<void> {
    const cleanup = this.options.cleanup ?? processCleanup;
    const { stop, release } = cleanup.own(what, async () => {
      const errors: unknown[] = [];
      await stopContainer().catch((e) => errors.push(e));
      await removeKindLab({ network: this.dropNetworkLease() }, { logger: o.logger }).catch((e) => errors.push(e));
      if (errors.length) throw partsFailed(`failed to stop the ${what} cleanly`, errors);
    });
    if (o.detached) release();
    return stop;
  }

  /** After a container failed to start: its network lease goes, and the network with it if it was the last. */
  private async releaseNetworkAfterFailure(logger: Logger): Promise<void> {
    await removeKindLab({ network: this.dropNetworkLease() }, { logger }).catch((e) => logger.warn(`removing the network after a failed start: ${(e as Error).message}`));
  }

  /** The kind binary for a lab of `k8sVersion` that another process started (`down`); never builds one. */
  private async installedKind(k8sVersion: string): Promise<string> {
    const pins = kindPins(k8sVersion, { env: this.env });
    const kind = await findKind(pins.release, this.env, this.options.kindPath);
    if (!kind.found) throw new LabError(`cannot run kind ${pins.release} to delete the cluster: ${kind.problem}`);
    return kind.found.path;
  }

  /**
   * The lab's containers (stub, OPA) by their state-dir label, and kind clusters named iplab-* (by their node
   * containers' label), matched to a state dir through its state file; a cluster no state dir names
   * is its own leftover, removed with `kind delete cluster`.
   */
  async findLeftovers(): Promise<Leftover[]> {
    if (!(await dockerStatus()).daemon) return [];
    const labContainers = await tryRun("docker", ["ps", "-a", "--filter", `label=${STATE_DIR_LABEL}`, "--format", `{{.Label "${STATE_DIR_LABEL}"}}\t{{.Names}}\t{{.Label "${LAB_LABEL}"}}`]);
    const byDir = new Map<string, string[]>();
    for (const line of labContainers.stdout.split("\n").filter(Boolean)) {
      const [dir = "", name = "", component = ""] = line.split("\t");
      byDir.set(dir, [...(byDir.get(dir) ?? []), `${containerWhat(component)} ${name}`]);
    }
    const nodes = await tryRun("docker", ["ps", "-a", "--filter", "label=io.x-k8s.kind.cluster", "--format", '{{.Label "io.x-k8s.kind.cluster"}}']);
    const clusters = new Set(nodes.stdout.split("\n").filter((c) => c.startsWith("iplab-")));
    for (const dir of byDir.keys()) {
      const name = (await readLabState(dir))?.kind?.clusterName;
      if (name && clusters.delete(name)) byDir.get(dir)!.push(`kind cluster ${name}`);
    }
    // A lab without a stub container (`--backend-url`) is found through its node: the admission
    // directory it mounts is <stateDir>/admission, and that state file names the cluster.
    for (const clusterName of [...clusters]) {
      const dir = await mountedStateDir(controlPlaneNode(clusterName));
      if (dir && (await readLabState(dir))?.kind?.clusterName === clusterName) {
        clusters.delete(clusterName);
        byDir.set(dir, [...(byDir.get(dir) ?? []), `kind cluster ${clusterName}`]);
      }
    }
    const out: Leftover[] = [...byDir].map(([stateDir, parts]) => ({ stateDir, parts }));
    for (const clusterName of clusters) {
      out.push({ parts: [`kind cluster ${clusterName}`], remove: () => removeKindLab({ clusterName }, { kind: () => this.installedKind(DEFAULT_K8S_VERSION) }) });
    }
    return out;
  }

  /** Deletes the cluster, the stub and OPA containers and (when the lab created it) the network its record names (kind-teardown.ts). */
  async removeDetached(o: RemoveDetachedOptions): Promise<string[]> {
    if (!o.state) {
      // No state file (an `up` killed before it wrote one, or an orphan found by `down --all`): the
      // lab's containers still carry the state dir in a label.
      const found = await tryRun("docker", ["ps", "-a", "--filter", `label=${STATE_DIR_LABEL}=${o.stateDir}`, "--format", `{{.ID}}\t{{.Label "${LAB_LABEL}"}}`]);
      const removed: string[] = [];
      for (const [id = "", component] of found.stdout.split("\n").filter(Boolean).map((l) => l.split("\t"))) {
        removed.push(...(await removeKindLab(component === "opa" ? { opaContainerId: id } : { stubContainerId: id }, { logger: o.logger })));
      }
      return removed;
    }
    const record = kindRecord(o.state);
    const network = record.networkName ? { name: record.networkName, created: record.networkCreated ?? false } : undefined;
    const k8sVersion = o.state.k8sVersion;
    return removeKindLab(
      { clusterName: record.clusterName, stubContainerId: record.stubContainerId, opaContainerId: record.opaContainerId, network, stateDir: o.stateDir },
      { kind: () => this.installedKind(k8sVersion), logger: o.logger },
    );
  }

  async startBackend(o: BackendStartOptions): Promise<StartedBackend> {
    const logger = o.logger ?? silentLogger;
    const network = await task(o.progress, "ensure docker network", async () => this.acquireNetwork());
    try {
      const { startStubContainer } = await loadStubContainer();
      const stub = await startStubContainer({
        stateDir: resolve(o.stateDir),
        network: network.name,
        policy: o.policy,
        fault: o.fault,
        mtls: o.mtls ?? false,
        detached: o.detached ?? false,
        logger,
        progress: o.progress,
        signal: o.signal,
        env: this.env,
      });
      const stop = this.ownContainer(`stub container ${stub.containerId.slice(0, 12)}`, () => stub.stop(), { logger, detached: o.detached });
      return {
        endpoint: stub.endpoint,
        control: stub.control,
        controlUrl: stub.controlUrl,
        tokenFile: stub.tokenFile,
        caFile: stub.caFile,
        // The network goes into the record too: a lab killed before its cluster started still had it made.
        record: { kind: { stubContainerId: stub.containerId, networkName: network.name, networkCreated: network.created } },
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } catch (err) {
      await this.releaseNetworkAfterFailure(logger);
      throw wrap("failed to start the stub backend container", err);
    }
  }

  /**
   * OPA as a container on the kind network (opa-container.ts), reached by the apiserver as
   * https://imagepolicy-lab-opa:8181 and by the lab through a loopback mapping. It holds a lease on
   * the network like the stub, so the last of them out removes a network the lab created.
   */
  async startOpa(o: OpaStartOptions): Promise<StartedOpa> {
    const logger = o.logger ?? silentLogger;
    const opaBinary = await ensureOpa({ env: o.env ?? this.env, logger, progress: o.progress, signal: o.signal });
    const network = await this.acquireNetwork();
    try {
      const { startOpaContainer } = await loadOpaContainer();
      const opa = await startOpaContainer({ stateDir: resolve(o.stateDir), network: network.name, opaBinary, userPolicy: o.userPolicy, detached: o.detached ?? false, logger, progress: o.progress, signal: o.signal, env: this.env });
      const stop = this.ownContainer(`OPA container ${opa.containerId.slice(0, 12)}`, () => opa.stop(), { logger, detached: o.detached });
      return {
        url: opa.url,
        caPem: opa.caPem,
        tokenFile: opa.tokenFile,
        caFile: opa.caFile,
        userPolicy: o.userPolicy,
        record: { kind: { opaContainerId: opa.containerId } },
        putData: (path, value) => opa.client.put(path, value),
        pause: () => opa.pause(),
        resume: () => opa.resume(),
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } catch (err) {
      await this.releaseNetworkAfterFailure(logger);
      throw wrap("failed to start the OPA container", err);
    }
  }

  async start(o: ClusterStartOptions): Promise<StartedCluster> {
    const stateDir = resolve(o.stateDir);
    const logger = o.logger ?? silentLogger;
    const cleanup = this.options.cleanup ?? processCleanup;
    const budget = this.options.readyTimeoutMs ?? 300_000;
    const pins = kindPins(o.k8sVersion, { env: this.env, nodeImage: this.options.nodeImage });
    // One look at the host: its cgroup version picks the node image and the kubelet's setting below.
    const hostCgroupV1 = (await dockerStatus()).cgroupVersion === "1";
    const nodeImage = await chooseNodeImage(o.k8sVersion, pins, { cgroupV1: hostCgroupV1 });
    if (nodeImage.problem !== undefined) throw new ProviderUnavailableError("kind", [nodeImage.problem]);
    logger.info(`kind node image: ${nodeImage.image} (${nodeImage.source})`);
    const kind = (
      await ensureKind(pins.release, {
        env: this.env,
        ...(this.options.kindPath ? { explicit: this.options.kindPath } : {}),
        logger,
        ...(o.progress ? { progress: o.progress } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      })
    ).path;
    const clusterName = `iplab-${randomBytes(3).toString("hex")}`;
    const node = controlPlaneNode(clusterName);
    const hostAdmissionDir = join(stateDir, "admission");
    const kubeconfigPath = join(stateDir, "kubeconfig");
    const logsDir = join(stateDir, "logs");
    const network = await this.acquireNetwork();

    let created = false;
    // As with the backend: idempotent, concurrent callers share one teardown, registered until done.
    // The same removal `down` does (kind-teardown.ts), with what this process knows.
    const { stop: teardown, release: unregister } = cleanup.own(`kind cluster ${clusterName}`, async () => {
      await removeKindLab({ clusterName: created ? clusterName : undefined, network: this.dropNetworkLease(), stateDir }, { kind: async () => kind, logger });
    });

    try {
      await mkdir(logsDir, { recursive: true, mode: 0o700 });
      await mkdir(hostAdmissionDir, { recursive: true, mode: 0o700 });
      await writeAdmissionFiles(hostAdmissionDir, o.profile, o.backend, ADMISSION_DIR_IN_NODE, { imagePolicyWebhook: o.imagePolicyWebhook });
      await writeFile(join(hostAdmissionDir, AUDIT_POLICY_FILE), AUDIT_POLICY, { mode: 0o644 });
      // kubelet >= 1.35 refuses cgroup v1 hosts by default; kind v0.32.0 only warns (kind-config.ts).
      const cgroupV1 = hostCgroupV1 && minorOf(o.k8sVersion) >= 35;
      if (cgroupV1) logger.warn("this Docker host uses cgroup v1: the kind config tells the kubelet not to refuse it (failCgroupV1: false)");
      const config = renderKindConfig({ hostAdmissionDir, clusterName, kubeadmApi: this.options.kubeadmApi, allowCgroupV1: cgroupV1, audit: true, imagePolicyWebhook: o.imagePolicyWebhook });
      await writeFile(join(stateDir, "kind-config.yaml"), config, { mode: 0o644 });

      // Recorded before `kind create`, so `down` finds the cluster even when this process is killed
      // outright (SIGKILL, OOM) while kind is still creating it. The backend's record is kept.
      const previous = await readLabState(stateDir);
      const state: LabState = {
        ...previous,
        provider: "kind",
        stateDir,
        k8sVersion: o.k8sVersion,
        kubeconfig: kubeconfigPath,
        server: "",
        profile: o.profile,
        kind: { ...previous?.kind, clusterName, networkCreated: network.created, networkName: network.name },
        createdAt: new Date().toISOString(),
      };
      await writeLabState(stateDir, state);

      await task(o.progress, `kind create cluster ${clusterName}`, async (t) => {
        created = true; // from here on, nodes may exist: teardown must run `kind delete`
        // Same network as the stub; the variable is only passed when it is not kind's default (kind warns about it).
        const env: Record<string, string | undefined> = { ...this.env, KIND_EXPERIMENTAL_DOCKER_NETWORK: network.name === "kind" ? undefined : network.name };
        // kind puts node names and subnets into NO_PROXY, not other containers: add the stub (§7).
        if (env.HTTPS_PROXY || env.https_proxy) env.NO_PROXY = [env.NO_PROXY ?? env.no_proxy, STUB_ALIAS, OPA_ALIAS].filter(Boolean).join(",");
        // --retain always: a failed create stays for `kind export logs`; we delete it afterwards ourselves.
        const r = await tryRun(kind, ["create", "cluster", "--name", clusterName, "--image", nodeImage.image, "--config", "-", "--kubeconfig", kubeconfigPath, "--retain"], {
          input: config,
          env,
          signal: o.signal,
          timeoutMs: budget,
          onLine: (line) => {
            const clean = line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").trim();
            if (clean) {
              t.update(clean);
              logger.debug(`kind: ${clean}`);
            }
          },
        });
        if (!r.ok) throw new LabError(`kind create cluster failed (exit ${r.exitCode ?? r.spawnError}):\n${[r.stdout, r.stderr].join("\n").trim().split("\n").slice(-15).join("\n")}`);
      });

      await task(o.progress, "wait for the cluster", async (t) => {
        t.update("apiserver manifest carries the admission flags");
        const patch = imagePolicyControlPlanePatch(ADMISSION_DIR_IN_NODE, { audit: KIND_AUDIT, imagePolicyWebhook: o.imagePolicyWebhook });
        const manifest = await nodeExec(node, ["cat", APISERVER_MANIFEST]);
        const missing = missingFromManifest(manifest, patch.extraArgs, patch.extraVolumes.map((v) => v.mountPath));
        if (missing.length) throw new LabError(`the kubeadm patch did not reach ${APISERVER_MANIFEST}: missing ${missing.join(", ")} (see ${join(stateDir, "kind-config.yaml")})`);
        const core = coreApi(kubeconfigPath);
        t.update("node Ready");
        await waitFor(`kind node ${node} Ready`, async () => ((await nodeReady(core, node)) ? true : undefined), { timeoutMs: budget, intervalMs: 1_000, signal: o.signal });
        // Ready for what a user does next: a pod in default, kube-system or kube-public (user-ready.ts).
        t.update("default ServiceAccounts");
        await waitUntilUsable(kubeconfigPath, { timeoutMs: budget, signal: o.signal, onWaiting: (ns) => t.update(`default ServiceAccount in ${ns.join(", ")}`) });
      });

      // The backend's part of the record (the stub's container id) is already there: keep it.
      state.server = loadKubeConfig(kubeconfigPath).getCurrentCluster()?.server ?? "";
      await writeLabState(stateDir, state);

      let profile = o.profile;
      let restarts = 0;
      const cluster: StartedCluster = {
        provider: "kind",
        stateDir,
        kubeconfigPath,
        capabilities: { auditLog: true, controllers: true },
        get profile() {
          return profile;
        },
        applyProfile: async (next: AdmissionProfile): Promise<ProfileSwitch> => {
          const t0 = performance.now();
          await writeAdmissionFiles(hostAdmissionDir, next, o.backend, ADMISSION_DIR_IN_NODE, { imagePolicyWebhook: o.imagePolicyWebhook });
          const before = await runningContainer(node, "kube-apiserver");
          await restartApiserverViaManifest(node, `${Date.now()}-${++restarts}`);
          const restartBudget = this.options.restartTimeoutMs ?? 120_000;
          // kubelet sees the new manifest at once (inotify) and stops the old pod, but the old
          // apiserver, once it has stopped listening, does not exit until kubelet's 30 s grace period
          // ends (measured on 1.36.1 in kind: 30 s of 42 s per switch). It serves nothing by then, so
          // the lab stops it itself with a 1 s grace. The new pod is recognised by its new sandbox: a
          // container restarted in the old pod (kubelet had not read the manifest yet) is stopped too.
          const stopped = new Set<string>();
          await waitFor(
            "a kube-apiserver container in the new pod",
            async () => {
              const c = await runningContainer(node, "kube-apiserver");
              if (c && before && c.podId === before.podId) {
                if (!stopped.has(c.id)) {
                  stopped.add(c.id);
                  await stopNodeContainer(node, c.id, 1);
                }
                return undefined;
              }
              return c && (!before || c.podId !== before.podId) ? c : undefined;
            },
            { timeoutMs: restartBudget, intervalMs: 250 },
          );
          // Request errors are retried by waitFor, and the last one is named if the budget runs out.
          const apiserver = await kubeconfigTarget(loadKubeConfig(kubeconfigPath));
          await waitFor(
            "kube-apiserver /readyz",
            async () => ((await httpsRequest(`${apiserver.server}/readyz`, apiserver.tls, { headers: apiserver.headers })).status === 200 ? true : undefined),
            { timeoutMs: restartBudget, intervalMs: 250 },
          );
          profile = next;
          await writeLabState(stateDir, { ...state, profile: next });
          return { elapsedMs: performance.now() - t0 };
        },
        logs: (component, tailLines = 200) => componentLogs(node, component, tailLines),
        stop: teardown,
        [Symbol.asyncDispose]: teardown,
      };
      if (o.detached) unregister();
      return cluster;
    } catch (err) {
      if (created) {
        const r = await tryRun(kind, ["export", "logs", join(logsDir, "kind"), "--name", clusterName]);
        logger.warn(r.ok ? `kind logs of the failed cluster are in ${join(logsDir, "kind")}` : `kind export logs failed: ${r.stderr}`);
      }
      if (o.retain) {
        logger.warn(`keeping the failed kind cluster ${clusterName} (--retain); remove it with: ${kind} delete cluster --name ${clusterName}`);
        unregister();
        // Keep the network lease: the retained nodes still use it.
      }
      let kept = o.retain ? `kept for debugging (kind cluster ${clusterName})` : "removed";
      if (!o.retain) {
        await teardown().catch((e) => {
          kept = `removal failed: ${(e as Error).message.split("\n")[0]}; run imagepolicy-lab down --state-dir ${stateDir}`;
        });
      }
      throw wrap(`failed to start the kind cluster (${kept}; logs in ${logsDir})`, err);
    }
  }
}

/** The state dir whose admission directory a kind node mounts (kind-config.ts), if any. */
async function mountedStateDir(node: string): Promise<string | undefined> {
  const r = await tryRun("docker", ["inspect", "--type=container", "--format", "{{json .Mounts}}", node]);
  if (!r.ok) return undefined;
  const mounts = JSON.parse(r.stdout) as { Source?: string; Destination?: string }[];
  const source = mounts.find((m) => m.Destination === ADMISSION_DIR_IN_NODE)?.Source;
  return source && basename(source) === "admission" ? dirname(source) : undefined;
}

/** How `down` names a lab container by its component label. */
function containerWhat(component: string): string {
  return component === "opa" ? "OPA container" : "stub container";
}

function minorOf(k8sVersion: string): number {
  return Number(/^v?1\.(\d+)/.exec(k8sVersion)?.[1] ?? 0);
}

function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

function coreApi(kubeconfigPath: string): CoreV1Api {
  return loadKubeConfig(kubeconfigPath).makeApiClient(CoreV1Api);
}

async function nodeReady(core: CoreV1Api, name: string): Promise<boolean> {
  const n = await core.readNode({ name });
  return n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}
