// The public facade: a lab is a stub backend plus a cluster whose apiserver asks it about images.
// `startLab()` resolves to a StartedLab handle; `stop()` (or `await using`) removes everything.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { DEFAULT_POLICY } from "../../../webhook-stub/src/policy.ts";
import type { FaultSpec, StubControl, StubPolicy } from "../../../webhook-stub/src/types.ts";
import { DEFAULT_K8S_VERSION, versionInfo } from "../binaries/index.ts";
import { ensureWritableDir } from "../util/dirs.ts";
import { startMechanism, type StartedMechanism } from "../mechanism/mechanism.ts";
import { DEFAULT_MECHANISM, type MechanismName } from "../mechanism/names.ts";
import { DEFAULT_PROFILE, profileKey, resolveProfile, type AdmissionProfile } from "../profile/profile.ts";
import { claimStateDir, LAB_STATE_FILE, readLabState, removeSecrets, writeLabState, type LabState, type ProviderRecords } from "../providers/lab-state.ts";
import type { BackendEndpoint, ClusterProvider, ProfileSwitch, StartedBackend, StartedCluster, StartedOpa } from "../providers/provider.ts";
import { processCleanup, type CleanupRegistry } from "../util/cleanup.ts";
import { ConfigError, ProviderUnavailableError } from "../util/errors.ts";
import { ensureOpa } from "../opa/opa-binary.ts";
import { prepareUserPolicy } from "../opa/byo-policy.ts";
import { opaImageReviewEndpoint, putOpaBackendTrust } from "../mechanism/opa-backend.ts";
import { silentLogger, task, type Logger, type Progress } from "../util/logger.ts";

export interface LabOptions {
  provider: ClusterProvider;
  /** Where the lab's files go. Default: a new temp dir, removed by stop(). */
  stateDir?: string;
  /** Kubernetes release. Default: DEFAULT_K8S_VERSION. */
  k8sVersion?: string;
  /**
   * How the cluster restricts images (default: ImagePolicyWebhook). Exactly one mechanism is active:
   * the apiserver runs without the plugin for the others, whose API objects the lab creates.
   */
  mechanism?: MechanismName;
  /** Admission profile; missing fields take DEFAULT_PROFILE's values. */
  profile?: Partial<AdmissionProfile>;
  /**
   * Hand the profile to the apiserver without the lint (for lessons: see the apiserver's own error
   * for an out-of-range TTL, which never names the field).
   */
  skipLint?: boolean;
  /** Initial stub policy (default: the stub's DEFAULT_POLICY). */
  policy?: StubPolicy;
  /**
   * The opa mechanism only: the user's own Rego file, played instead of the shipped policy (see
   * opa/byo-policy.ts: v0 files load with --v0-compatible; an allow-like rule decides). Checked with
   * opa before anything starts.
   */
  opaPolicyFile?: string;
  /**
   * ImagePolicyWebhook only: its backend is the lab's OPA with the shipped Rego (opa-backend.ts), not
   * the stub; trust lists become OPA data. Default false. Not with externalBackend, mtls or opaPolicyFile.
   */
  opaBackend?: boolean;
  fault?: FaultSpec;
  /** Require mTLS between apiserver and stub. */
  mtls?: boolean;
  /**
   * Use an external backend instead of the stub (no stub is started): the ImagePolicyWebhook's
   * ImageReview URL, or the webhook mechanism's AdmissionReview URL (used as given). Not for vap.
   */
  externalBackend?: BackendEndpoint;
  /** Leave everything running after this process exits (`up`). */
  detached?: boolean;
  retain?: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  cleanup?: CleanupRegistry;
  /** Called with the lab's state directory as soon as it is claimed, before anything starts (`run` prints it). */
  onStateDir?: (stateDir: string) => void | Promise<void>;
}

export interface StartedLab extends AsyncDisposable {
  readonly provider: ClusterProvider;
  readonly stateDir: string;
  readonly kubeconfigPath: string;
  readonly cluster: StartedCluster;
  /** The stub's control surface; undefined with an external backend. */
  readonly stub?: StubControl;
  readonly backend?: StartedBackend;
  /** The OPA server of the opa mechanism or of `opaBackend`; undefined otherwise. */
  readonly opa?: StartedOpa;
  readonly profile: AdmissionProfile;
  readonly k8sVersion: string;
  /** The mechanism in force, and how scenario settings reach it. */
  readonly mechanism: StartedMechanism;
  kubeConfig(): KubeConfig;
  /**
   * Switches the admission profile: ImagePolicyWebhook restarts only the apiserver, a webhook gets its
   * new failurePolicy live, VAP has nothing to switch. No-op when unchanged.
   */
  applyProfile(profile: AdmissionProfile): Promise<ProfileSwitch>;
  stop(): Promise<void>;
}

export async function startLab(o: LabOptions): Promise<StartedLab> {
  const logger = o.logger ?? silentLogger;
  const profile = o.skipLint ? { ...DEFAULT_PROFILE, ...o.profile } : resolveProfile({ ...DEFAULT_PROFILE, ...o.profile });
  const k8sVersion = o.k8sVersion ?? DEFAULT_K8S_VERSION;
  const mechanismName = o.mechanism ?? DEFAULT_MECHANISM;
  // Checked before anything is created, so a refusal leaves nothing behind.
  versionInfo(k8sVersion);
  if (o.externalBackend && mechanismName === "vap") {
    throw new ConfigError([{ file: "externalBackend", path: "", message: "the vap mechanism has no backend: the apiserver decides alone" }], "invalid lab options");
  }
  if (mechanismName === "opa") {
    if (o.externalBackend) throw new ConfigError([{ file: "externalBackend", path: "", message: "the opa mechanism's backend is the lab's own OPA server" }], "invalid lab options");
    if (!o.provider.startOpa) throw new ConfigError([{ file: "command line", path: "--mechanism", message: opaUnsupportedMessage(o.provider.name) }], "invalid lab options");
  } else if (o.opaPolicyFile !== undefined) {
    throw new ConfigError([{ file: o.opaPolicyFile, path: "--policy", message: `a Rego policy is played by --mechanism opa, not ${mechanismName}` }], "invalid lab options");
  }
  if (o.opaBackend) checkOpaBackendOptions(o, mechanismName);
  const userPolicy = o.opaPolicyFile === undefined ? undefined : await prepareUserPolicy({ opa: await ensureOpa({ logger, progress: o.progress, signal: o.signal }), file: o.opaPolicyFile, signal: o.signal });
  const preflight = await o.provider.preflight();
  if (!preflight.usable) throw new ProviderUnavailableError(o.provider.name, preflight.reasons);
  const ownsStateDir = !o.stateDir;
  const stateDir = o.stateDir ? resolve(o.stateDir) : await mkdtemp(join(tmpdir(), "imagepolicy-lab-"));
  if (!ownsStateDir) await ensureWritableDir(stateDir, "stateDir");
  // Claimed atomically first, so of two commands started at once into one directory the second is
  // refused at once; then a lab still running here (a detached `up`) is refused too: a second lab
  // would overwrite its state (so `down` could no longer find its processes) and, failing, remove its keys.
  const releaseClaim = await claimStateDir(stateDir, { detached: o.detached ?? false });
  const existing = await readLabState(stateDir);
  if (existing) {
    await releaseClaim();
    throw new ConfigError(
      [{ file: join(stateDir, LAB_STATE_FILE), path: "", message: `a ${existing.provider} lab created ${existing.createdAt} still uses this directory; stop it with \`imagepolicy-lab down --state-dir ${o.stateDir}\` or choose another --state-dir` }],
      "state directory in use",
    );
  }
  await o.onStateDir?.(stateDir);
  const cleanup = o.cleanup ?? processCleanup;
  const removeTemp = ownsStateDir ? cleanup.add(`temp dir ${stateDir}`, () => rm(stateDir, { recursive: true, force: true })) : () => {};

  let backend: StartedBackend | undefined;
  let opa: StartedOpa | undefined;
  let cluster: StartedCluster | undefined;
  let mechanism: StartedMechanism | undefined;
  // Until start returns, a signal (Ctrl-C during `up`) must undo what a failed start undoes: the
  // provider stops its own processes, this stops the stub (detached for `up`) and removes the keys.
  const abandonStart = cleanup.add(`starting lab in ${stateDir}`, async () => {
    await opa?.stop();
    await backend?.stop();
    if (!o.retain && !ownsStateDir) await removeSecrets(stateDir);
  });
  try {
    if (!o.externalBackend) {
      backend = await o.provider.startBackend({
        stateDir,
        policy: o.policy,
        fault: o.fault,
        mtls: o.mtls,
        detached: o.detached,
        logger,
        progress: o.progress,
        signal: o.signal,
      });
    }
    const stubRecord = backend ? { controlUrl: backend.controlUrl, reviewUrl: backend.endpoint.url, tokenFile: backend.tokenFile, caFile: backend.caFile } : undefined;
    let opaRecord: LabState["opa"];
    const writeEarlyState = () =>
      writeLabState(stateDir, {
        provider: o.provider.name,
        stateDir,
        k8sVersion,
        kubeconfig: "",
        server: "",
        profile,
        mechanism: mechanismName,
        stub: stubRecord,
        ...(opaRecord ? { opa: opaRecord } : {}),
        ...mergeRecords(backend?.record, opa?.record),
        createdAt: new Date().toISOString(),
      });
    if (backend && stubRecord) {
      // Recorded before the cluster starts, so `down` finds the stub even if this process is killed
      // outright while the cluster comes up. Where the stub runs is the provider's record, stored
      // unread; the provider's start() merges its own fields into it.
      await writeEarlyState();
    }
    if (mechanismName === "opa" || o.opaBackend) {
      // Before the cluster: it needs the backend's certificate only, and an opa that cannot be found
      // or built fails the start before a control plane is spent on it. Recorded like the stub.
      opa = await o.provider.startOpa!({ stateDir, userPolicy, detached: o.detached, logger, progress: o.progress, signal: o.signal });
      opaRecord = { url: opa.url, tokenFile: opa.tokenFile, caFile: opa.caFile, ...(userPolicy ? { policy: userPolicy.file } : {}) };
      await writeEarlyState();
      // As ImagePolicyWebhook's backend OPA answers the cluster's own first pods (kind's): its lists go in first.
      if (o.opaBackend) await putOpaBackendTrust(opa, o.policy ?? DEFAULT_POLICY);
    }
    const endpoint = o.opaBackend ? opaImageReviewEndpoint(opa!) : (o.externalBackend ?? backend!.endpoint);
    cluster = await o.provider.start({
      stateDir,
      k8sVersion,
      profile,
      backend: endpoint,
      imagePolicyWebhook: mechanismName === "imagepolicywebhook",
      detached: o.detached,
      retain: o.retain,
      logger,
      progress: o.progress,
      signal: o.signal,
    });
    const state = await readLabState(stateDir);
    if (state) await writeLabState(stateDir, { ...state, mechanism: mechanismName, ...(stubRecord ? { stub: stubRecord } : {}), ...(opaRecord ? { opa: opaRecord } : {}), ...(o.opaBackend ? { imagePolicyBackend: "opa" as const } : {}) });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    // Once the cluster runs: the webhook configuration or the policies are API objects, and each is
    // waited for until the apiserver acts on it. ImagePolicyWebhook is already in the flags.
    const started = cluster;
    mechanism = await task(o.progress, `admission mechanism: ${mechanismName}`, () =>
      startMechanism(mechanismName, { kubeConfig: kc, cluster: started, backend: endpoint, stub: backend?.control, opa, profile, defaultPolicy: o.policy ?? DEFAULT_POLICY, signal: o.signal }),
    );
  } catch (err) {
    abandonStart();
    if (!o.retain) {
      // A cluster that started, under a mechanism that did not: the provider cleaned up nothing of it.
      await cluster?.stop().catch((e) => logger.warn(`stopping the cluster: ${(e as Error).message}`));
      await opa?.stop().catch((e) => logger.warn(`stopping OPA: ${(e as Error).message}`));
      await backend?.stop().catch((e) => logger.warn(`stopping the stub: ${(e as Error).message}`));
      if (ownsStateDir) {
        removeTemp();
        await rm(stateDir, { recursive: true, force: true });
      } else {
        // A failed start leaves no keys behind; logs/ stays for the post-mortem.
        await removeSecrets(stateDir);
      }
    }
    throw err;
  }
  abandonStart();

  let stopped = false;
  const c = cluster;
  const m = mechanism!;
  const lab: StartedLab = {
    provider: o.provider,
    stateDir,
    kubeconfigPath: c.kubeconfigPath,
    cluster: c,
    stub: backend?.control,
    backend,
    opa,
    k8sVersion,
    mechanism: mechanism!,
    get profile() {
      return m.profile;
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromFile(c.kubeconfigPath);
      return kc;
    },
    async applyProfile(next) {
      const wanted = resolveProfile(next);
      if (profileKey(wanted) === profileKey(m.profile)) return { elapsedMs: 0 };
      return m.applyProfile(wanted);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const errors: unknown[] = [];
      await c.stop().catch((e) => errors.push(e));
      await opa?.stop().catch((e) => errors.push(e));
      await backend?.stop().catch((e) => errors.push(e));
      if (errors.length) {
        // Something may still run: keep the state file (and the temp dir), the only record `down`
        // can find it by, and say so.
        if (ownsStateDir) removeTemp();
        throw new AggregateError(errors, `failed to stop the lab cleanly; its state is kept: imagepolicy-lab down --state-dir ${stateDir}`);
      }
      if (ownsStateDir) {
        removeTemp();
        await rm(stateDir, { recursive: true, force: true });
      } else {
        // Whatever the provider removed itself: no key and no state file outlives the lab, so the
        // directory can hold the next one.
        await removeSecrets(stateDir);
      }
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  return lab;
}

/** Why a provider without `startOpa` refuses the opa mechanism (the same words wherever it is refused). */
export function opaUnsupportedMessage(provider: string): string {
  return `opa: the ${provider} provider does not run OPA yet; use --provider local for --mechanism opa`;
}

/** `opaBackend` goes with ImagePolicyWebhook and the shipped policy only, on a provider that runs OPA; refused before anything starts. */
function checkOpaBackendOptions(o: LabOptions, mechanism: MechanismName): void {
  const issue = (path: string, message: string) => ({ file: "lab options", path, message });
  const issues = [
    mechanism !== "imagepolicywebhook" && issue("opaBackend", `OPA as a backend is ImagePolicyWebhook's; the ${mechanism} mechanism ${mechanism === "opa" ? "already runs OPA (as a validating webhook)" : "has no ImageReview backend"}`),
    o.externalBackend && issue("externalBackend", "the backend is the lab's OPA; give opaBackend or externalBackend, not both"),
    o.mtls && issue("mtls", "the stub's client-certificate check; OPA as the backend is reached over TLS without one"),
    o.opaPolicyFile !== undefined && issue("opaPolicyFile", "your own Rego is played by the opa mechanism; the OPA backend runs the shipped policy (policies/opa)"),
    // Said as the CLI's flag: with `--provider auto` choosing a provider without OPA, this is the first place that knows.
    !o.provider.startOpa && { file: "command line", path: "--backend", message: `opa: the ${o.provider.name} provider does not run OPA yet; use --provider local for --backend opa` },
  ].filter((x) => x !== false && x !== undefined);
  if (issues.length) throw new ConfigError(issues, "invalid lab options");
}

/** Two parts of a provider's record (the stub's, OPA's), merged per provider. */
function mergeRecords(a: ProviderRecords | undefined, b: ProviderRecords | undefined): ProviderRecords {
  const out: Record<string, object> = { ...a };
  for (const [k, v] of Object.entries(b ?? {})) out[k] = { ...(out[k] as object | undefined), ...(v as object) };
  return out as ProviderRecords;
}
