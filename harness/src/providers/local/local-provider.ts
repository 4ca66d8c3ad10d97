// The `local` provider: a real etcd, kube-apiserver and kube-controller-manager as processes on
// loopback, for machines without Docker. Start is transactional: a failure stops what was started
// and removes every key unless `retain` is set.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { writeAdmissionFiles } from "../../admission/render.ts";
import { resolveBinaries as defaultResolveBinaries } from "../../binaries/index.ts";
import type { ControlPlaneBinaries } from "../../binaries/index.ts";
import type { AdmissionProfile } from "../../profile/profile.ts";
import { processCleanup, type CleanupRegistry } from "../../util/cleanup.ts";
import { wrap } from "../../util/errors.ts";
import { httpsGet, httpsRequest } from "../../util/https-get.ts";
import { renderKubeconfig } from "../../util/kubeconfig.ts";
import { silentLogger, task } from "../../util/logger.ts";
import { ManagedProcess, tailFile } from "../../util/managed-process.ts";
import { freePort } from "../../util/ports.ts";
import { waitFor } from "../../util/wait.ts";
import type { BackendStartOptions, ClusterProvider, ClusterStartOptions, Leftover, OpaStartOptions, PreflightResult, ProfileSwitch, RemoveDetachedOptions, StartedBackend, StartedCluster, StartedOpa } from "../provider.ts";
import { startLocalBackend } from "./local-backend.ts";
import { startLocalOpa } from "./local-opa.ts";
import { staticPodApiserver, staticPodControllerManager } from "./static-pod.ts";
import { createDefaultServiceAccounts, waitUntilUsable } from "../common/user-ready.ts";
import { localLeftovers, removeLocalLab } from "./local-teardown.ts";
import { readLabState, removeSecrets, writeLabState, type LabState } from "../lab-state.ts";
import { writeClusterPki, type ClusterPki } from "./cluster-pki.ts";
import { apiserverFlags, AUDIT_POLICY, controllerManagerFlags, etcdFlags, type LocalLayout, type LocalPorts } from "./component-flags.ts";

export interface LocalProviderOptions {
  resolveBinaries?: typeof defaultResolveBinaries;
  cleanup?: CleanupRegistry;
  /** Budget for each component to become ready. Default 60 s (a cold 2-core machine needs ~5 s). */
  readyTimeoutMs?: number;
  /**
   * Run the apiserver from a kubeadm-style static pod manifest, `<stateDir>/manifests/kube-apiserver.yaml`,
   * restarted when the file changes (training exercises; static-pod.ts). Default false: the apiserver
   * is started directly with the same flags.
   */
  apiserverManifest?: boolean;
}

const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager"] as const;

export class LocalProvider implements ClusterProvider {
  readonly name = "local" as const;
  constructor(private readonly options: LocalProviderOptions = {}) {}

  async preflight(): Promise<PreflightResult> {
    if (process.platform !== "linux" && process.platform !== "darwin") {
      return { usable: false, reasons: [`the local provider runs on Linux or macOS, not ${process.platform}`] };
    }
    return { usable: true, reasons: [], detail: "real etcd, kube-apiserver and kube-controller-manager processes on loopback" };
  }

  startBackend(o: BackendStartOptions): Promise<StartedBackend> {
    return startLocalBackend(o, this.options.cleanup ?? processCleanup);
  }

  /** `opa run --server` on loopback with the backend's certificate (local-opa.ts). */
  startOpa(o: OpaStartOptions): Promise<StartedOpa> {
    return startLocalOpa(o, this.options.cleanup ?? processCleanup);
  }

  findLeftovers(): Promise<Leftover[]> {
    return localLeftovers();
  }

  /** Stops the recorded processes, then any unrecorded one whose command line names the state dir (local-teardown.ts). */
  removeDetached(o: RemoveDetachedOptions): Promise<string[]> {
    return removeLocalLab(o.stateDir, o.state);
  }

  async start(o: ClusterStartOptions): Promise<StartedCluster> {
    const stateDir = resolve(o.stateDir);
    const logger = o.logger ?? silentLogger;
    const cleanup = this.options.cleanup ?? processCleanup;
    const budget = this.options.readyTimeoutMs ?? 60_000;
    const layout: LocalLayout = {
      admissionDir: join(stateDir, "admission"),
      etcdDataDir: join(stateDir, "etcd-data"),
      auditPolicyFile: join(stateDir, "audit-policy.yaml"),
      auditLogFile: join(stateDir, "logs", "audit.log"),
      controllerManagerKubeconfig: join(stateDir, "pki", "controller-manager.kubeconfig"),
    };
    const logsDir = join(stateDir, "logs");
    const started: ManagedProcess[] = [];
    // Stops every process, newest first (controller-manager, apiserver, etcd), then removes the keys;
    // a failure to stop one does not leave the others running.
    const { stop: teardown, release: unregister } = cleanup.own(`local cluster ${stateDir}`, async () => {
      const errors: unknown[] = [];
      for (const p of [...started].reverse()) await p.stop().catch((e: unknown) => errors.push(e));
      await removeSecrets(stateDir);
      if (errors.length) throw new AggregateError(errors, `failed to stop the local control plane in ${stateDir}`);
    });

    try {
      await mkdir(logsDir, { recursive: true, mode: 0o700 });
      await mkdir(layout.admissionDir, { recursive: true, mode: 0o700 });
      const binaries = await (this.options.resolveBinaries ?? defaultResolveBinaries)({
        k8sVersion: o.k8sVersion,
        progress: o.progress,
        logger,
        signal: o.signal,
      });
      const ports: LocalPorts = {
        etcdClient: await freePort(),
        etcdPeer: await freePort(),
        apiserver: await freePort(),
        controllerManager: await freePort(),
      };
      const server = `https://127.0.0.1:${ports.apiserver}`;
      const pki = await task(o.progress, "generate certificates", () => writeClusterPki(join(stateDir, "pki")));
      await writeAdmissionFiles(layout.admissionDir, o.profile, o.backend, layout.admissionDir, { imagePolicyWebhook: o.imagePolicyWebhook });
      await writeFile(layout.auditPolicyFile, AUDIT_POLICY, { mode: 0o644 });
      await writeFile(
        layout.controllerManagerKubeconfig,
        renderKubeconfig({ name: "imagepolicy-lab", server, caPem: pki.caPem, client: { certFile: pki.files.controllerManagerCert, keyFile: pki.files.controllerManagerKey } }),
        { mode: 0o600 },
      );
      const kubeconfigPath = join(stateDir, "kubeconfig");
      await writeFile(kubeconfigPath, renderKubeconfig({ name: "imagepolicy-lab", server, caPem: pki.caPem, client: pki.admin }), { mode: 0o600 });

      // The state file is rewritten as each component starts, so `down` can find every process even
      // when this process is killed outright halfway through.
      // The backend's part of the record (the stub's pid) is already there: keep it.
      const previous = await readLabState(stateDir);
      const state: LabState = {
        ...previous,
        provider: "local",
        stateDir,
        k8sVersion: o.k8sVersion,
        kubeconfig: kubeconfigPath,
        server,
        profile: o.profile,
        local: { ...previous?.local, processes: [] },
        createdAt: new Date().toISOString(),
      };
      const recordProcesses = async (list: ManagedProcess[]) => {
        state.local = { ...state.local, processes: list.map((p) => ({ name: p.spec.name, pid: p.pid })) };
        await writeLabState(stateDir, state);
      };
      await recordProcesses([]);
      const startComponent = async (name: (typeof COMPONENTS)[number], command: string, args: string[], logFile = join(logsDir, `${name}.log`)) => {
        const p = await ManagedProcess.start({ name, command, args, logFile, detached: o.detached, cwd: stateDir });
        started.push(p);
        await recordProcesses(started);
        return p;
      };

      const etcd = await task(o.progress, "start etcd", async () => {
        const p = await startComponent("etcd", binaries.etcd, etcdFlags(pki, layout, ports));
        const client = { caPem: pki.etcdCaPem, certPem: await readFile(pki.files.etcdClientCert, "utf8"), keyPem: await readFile(pki.files.etcdClientKey, "utf8") };
        await waitReady(`etcd on https://127.0.0.1:${ports.etcdClient}`, p, budget, o.signal, async () => {
          const r = await httpsGet(`https://127.0.0.1:${ports.etcdClient}/health`, client);
          return r.status === 200 ? true : undefined;
        });
        return p;
      });

      const apiserverArgs = apiserverFlags(pki, layout, ports, { imagePolicyWebhook: o.imagePolicyWebhook });
      const startApiserver = (readyzPath = "/readyz") =>
        task(o.progress, "start kube-apiserver", async () => {
          const p = this.options.apiserverManifest
            ? await staticPodApiserver({ stateDir, binary: binaries.kubeApiserver, args: apiserverArgs, admissionDir: layout.admissionDir, auditPolicyFile: layout.auditPolicyFile }).then((sp) =>
                startComponent("kube-apiserver", sp.command, sp.args, sp.logFile),
              )
            : await startComponent("kube-apiserver", binaries.kubeApiserver, apiserverArgs);
          await waitApiserver(p, server, pki, budget, o.signal, readyzPath);
          return p;
        });
      let apiserver = await startApiserver();

      const startKcm = () => task(o.progress, "start kube-controller-manager", async () => {
        const kcmArgs = controllerManagerFlags(pki, layout, ports);
        const p = this.options.apiserverManifest
          ? await staticPodControllerManager({ stateDir, binary: binaries.kubeControllerManager, args: kcmArgs }).then((sp) => startComponent("kube-controller-manager", sp.command, sp.args, sp.logFile))
          : await startComponent("kube-controller-manager", binaries.kubeControllerManager, kcmArgs);
        // Pods need the `default` ServiceAccount. The controller-manager creates it in every namespace,
        // but only seconds after it starts; creating the user namespaces' ones ourselves (as envtest
        // does) makes the lab usable at once, while new namespaces still prove the controller-manager works.
        await createDefaultServiceAccounts({ server, tls: { caPem: pki.caPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem }, headers: {} });
        // Its secure port opens once its startup checks against the apiserver passed; a
        // controller-manager that exits before that is reported here, not by a later scenario.
        await waitReady(`kube-controller-manager on 127.0.0.1:${ports.controllerManager}`, p, budget, o.signal, () => tcpOpen(ports.controllerManager));
        return p;
      });
      let kcm = await startKcm();

      await recordProcesses([etcd, apiserver, kcm]);
      await task(o.progress, `ready for pods in default, kube-system, kube-public`, (t) =>
        waitUntilUsable(kubeconfigPath, { timeoutMs: budget, signal: o.signal, onWaiting: (ns) => t.update(`default ServiceAccount in ${ns.join(", ")}`) }),
      );

      let profile = o.profile;
      const cluster: StartedCluster = {
        provider: "local",
        stateDir,
        kubeconfigPath,
        capabilities: { auditLog: true, controllers: true },
        get profile() {
          return profile;
        },
        applyProfile: async (next: AdmissionProfile): Promise<ProfileSwitch> => {
          const t0 = performance.now();
          await writeAdmissionFiles(layout.admissionDir, next, o.backend, layout.admissionDir, { imagePolicyWebhook: o.imagePolicyWebhook });
          // The lab's apiserver holds no state of its own (etcd does); a graceful shutdown would only
          // wait for the controller-manager's watches to drain, and never ends within a short grace
          // anyway (SIGTERM with 200 ms grace always ended in SIGKILL, 230 ms per switch).
          // The controller-manager restarts with it: client-go's reflectors would come back only after
          // a backoff that grows with every restart within 2 minutes (0.8 s doubling up to 30 s, with
          // jitter), so a Deployment created after the third switch saw its pods only a minute later;
          // a new process lists at once, and starts in about 0.2 s.
          await kcm.stop(1_000);
          started.splice(started.indexOf(kcm), 1);
          await apiserver.stop(0);
          started.splice(started.indexOf(apiserver), 1);
          apiserver = await startApiserver(RESTART_READYZ);
          // Started last, so teardown order stays kcm, apiserver, etcd.
          kcm = await startKcm();
          profile = next;
          state.profile = next;
          await recordProcesses([etcd, apiserver, kcm]);
          return { elapsedMs: performance.now() - t0 };
        },
        logs: (component, tailLines = 200) =>
          tailFile(component === "audit" ? layout.auditLogFile : join(logsDir, `${component}.log`), tailLines),
        stop: () => teardown(),
        [Symbol.asyncDispose]: () => teardown(),
      };
      if (o.detached) unregister();
      return cluster;
    } catch (err) {
      if (o.retain) {
        logger.warn(`keeping the failed cluster's processes and files in ${stateDir} (--retain)`);
        unregister();
      } else {
        await teardown().catch((e) => logger.warn(`cleanup after failed start: ${(e as Error).message}`));
      }
      throw wrap("failed to start the local control plane", err);
    }
  }
}

async function waitReady(target: string, p: ManagedProcess, budgetMs: number, signal: AbortSignal | undefined, check: () => Promise<true | undefined>): Promise<void> {
  // abortIf, not a check inside the poll: waitFor retries errors thrown by the poll, so a process
  // that exited at once (e.g. kube-apiserver refusing an out-of-range TTL) was reported only after
  // the whole budget.
  await waitFor(target, check, { timeoutMs: budgetMs, intervalMs: 50, signal, abortIf: () => p.throwIfExited() }).catch(async (err) => {
    // A process that exited is the better explanation than a timeout.
    await p.assertRunning();
    throw err;
  });
}

function tcpOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(undefined));
  });
}

/**
 * Readiness after a profile switch. Two post-start hooks re-check, object by object, what the first
 * start already wrote to etcd (bootstrap RBAC roles and bindings, system priority classes); they
 * finish about 1.2 s after every other check on a 2-core machine. Nothing a lab does depends on
 * them running again, so a restart waits for everything else (admission config, informers, etcd).
 */
const RESTART_READYZ = `/readyz?${["poststarthook/rbac/bootstrap-roles", "poststarthook/scheduling/bootstrap-system-priority-classes"].map((c) => `exclude=${encodeURIComponent(c)}`).join("&")}`;

async function waitApiserver(p: ManagedProcess, server: string, pki: ClusterPki, budgetMs: number, signal?: AbortSignal, readyzPath = "/readyz"): Promise<void> {
  await waitReady(`kube-apiserver ${server}${readyzPath}`, p, budgetMs, signal, async () => {
    const r = await httpsGet(`${server}${readyzPath}`, { caPem: pki.caPem, certPem: pki.admin.certPem, keyPem: pki.admin.keyPem });
    return r.status === 200 ? true : undefined;
  });
}

export type { ControlPlaneBinaries };
