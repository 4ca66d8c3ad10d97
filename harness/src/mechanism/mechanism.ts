// A started mechanism: what the lab does, once the cluster runs, so that exactly one mechanism
// restricts images, and how a scenario's profile and trust list reach it. ImagePolicyWebhook lives
// in the apiserver's flags (the provider's part); the webhook and VAP are API objects created here;
// OPA (opa-mechanism.ts) is a webhook whose backend is an OPA server the provider started.
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig, type V1ValidatingWebhookConfiguration } from "@kubernetes/client-node";
import { DEFAULT_POLICY, evaluate } from "../../../webhook-stub/src/policy.ts";
import type { StubControl, StubPolicy } from "../../../webhook-stub/src/types.ts";
import type { AdmissionProfile } from "../profile/profile.ts";
import type { BackendEndpoint, ProfileSwitch, StartedCluster, StartedOpa } from "../providers/provider.ts";
import { apiOutcome, K8s, podManifest, type ApiOutcome } from "../scenario/k8s-actions.ts";
import { ConfigError } from "../util/errors.ts";
import { waitFor } from "../util/wait.ts";
import type { MechanismName } from "./names.ts";
import { TRUST_PARAM_NAME, trustConfigMap, vapObjects } from "./vap-objects.ts";
import { admissionUrl, CANARY_WEBHOOK_NAME, failurePolicyFor, MANAGED_LABELS, webhookConfiguration, WEBHOOK_CONFIG_NAME } from "./webhook-config.ts";

export interface StartedMechanism {
  /** The mechanism; whether the stub's journal sees its calls follows from it (mechanismUsesStub). */
  readonly name: MechanismName;
  /**
   * ImagePolicyWebhook's backend when it is not the stub but the lab's OPA (`--backend opa`,
   * opa-backend.ts); absent otherwise.
   */
  readonly backend?: "opa";
  readonly profile: AdmissionProfile;
  /** Puts the profile in force and resolves once the apiserver acts on it. */
  applyProfile(profile: AdmissionProfile): Promise<ProfileSwitch>;
  /**
   * A namespace's policy, for mechanisms whose policy lives in the cluster (VAP: the namespace's trust
   * ConfigMap); resolves once the apiserver enforces it. The stub's own scopes are the caller's.
   */
  setNamespacePolicy(namespace: string, policy: StubPolicy): Promise<void>;
  /**
   * For a mechanism whose backend is its own, not the stub (OPA): puts a scenario's fault in force
   * (global, not per namespace) and resolves once the apiserver meets it. Absent otherwise: the
   * stub's faults are the stub's.
   */
  setFault?(fault: string): Promise<void>;
}

export interface MechanismStartOptions {
  kubeConfig: KubeConfig;
  cluster: StartedCluster;
  /** The stub as the apiserver reaches it (the webhook's URL and CA). */
  backend: BackendEndpoint;
  stub?: StubControl;
  profile: AdmissionProfile;
  /** The trust list of namespaces no scenario owns (`default`, `kube-public`): the stub's default policy. */
  defaultPolicy: StubPolicy;
  /** The OPA server the opa mechanism registers, or ImagePolicyWebhook's backend with `--backend opa` (started by the provider). */
  opa?: StartedOpa;
  signal?: AbortSignal;
}

/** How long the apiserver may take to act on a new API object (informer-fed; sub-second measured). */
export const ENFORCE_BUDGET_MS = 30_000;
/** A namespace of the lab's own, where it checks that the apiserver acts on a new webhook configuration. */
export const CANARY_NAMESPACE = "imagepolicy-lab-canary";
/** An image no trust list names, for the lab's own dry-run checks. */
export const PROBE_IMAGE = "imagepolicy-lab-probe.invalid/probe:1";

export async function startMechanism(name: MechanismName, o: MechanismStartOptions): Promise<StartedMechanism> {
  // With an OPA server the plugin's backend is OPA (lab.ts starts one for the opa mechanism or `--backend opa` only).
  if (name === "imagepolicywebhook" && o.opa) return (await import("./opa-backend.ts")).startOpaBackendMechanism(o);
  if (name === "imagepolicywebhook") return imagePolicyWebhook(o);
  if (name === "webhook") return startWebhook(o);
  // Loaded on demand: only an OPA lab needs it (and it builds on this module's helpers).
  if (name === "opa") return (await import("./opa-mechanism.ts")).startOpaMechanism(o);
  return startVap(o);
}

function imagePolicyWebhook(o: MechanismStartOptions): StartedMechanism {
  return {
    name: "imagepolicywebhook",
    get profile() {
      return o.cluster.profile;
    },
    applyProfile: (p) => o.cluster.applyProfile(p),
    setNamespacePolicy: async () => {},
  };
}

/** A server-side dry-run pod create in `namespace`: admission runs, nothing is stored. */
export async function dryRunPod(core: CoreV1Api, namespace: string, image: string): Promise<ApiOutcome> {
  return apiOutcome(() => core.createNamespacedPodWithHttpInfo({ namespace, dryRun: "All", body: podManifest({ name: "imagepolicy-lab-probe", images: [image] }) }));
}


async function startWebhook(o: MechanismStartOptions): Promise<StartedMechanism> {
  const stub = o.stub;
  if (o.backend.client) throw new ConfigError([{ file: "--mtls", path: "", message: "mTLS from the apiserver to the backend is set up for ImagePolicyWebhook only" }], "invalid mechanism");
  // The stub serves AdmissionReview at its own path; the user's server is used at the URL as given.
  const url = stub ? admissionUrl(o.backend.url) : o.backend.url;
  const canary = stub ? undefined : { namespace: CANARY_NAMESPACE };
  const hook = await installWebhook({ kubeConfig: o.kubeConfig, configuration: (p) => webhookConfiguration({ url, caPem: o.backend.caPem, profile: p, canary }), stub, profile: o.profile, signal: o.signal });
  let profile = o.profile;
  return {
    name: "webhook",
    get profile() {
      return profile;
    },
    async applyProfile(next) {
      const r = await hook.switchProfile(profile, next);
      profile = next;
      return r;
    },
    setNamespacePolicy: async () => {},
  };
}

/** A registered ValidatingWebhookConfiguration, as the webhook and opa mechanisms change it. */
export interface InstalledWebhook {
  /** Replaces the object (with its resourceVersion) by the configuration for `p`; does not wait. */
  replace(p: AdmissionProfile): Promise<void>;
  /** Waits until the canary shows `p`'s failurePolicy in force. */
  enforced(p: AdmissionProfile): Promise<void>;
  /** From `from` to `to`: replaced and waited for when the failurePolicy differs, else nothing (0 ms). */
  switchProfile(from: AdmissionProfile, to: AdmissionProfile): Promise<ProfileSwitch>;
}

/**
 * Creates the webhook configuration `configuration(profile)` and resolves once the apiserver acts on
 * it with the profile's failurePolicy. With the stub, a canary namespace whose reviews the stub
 * fails shows the failurePolicy; without it (the user's backend, OPA) the configuration's canary
 * webhook, which always fails, does (webhookConfiguration's `canary`).
 */
export async function installWebhook(o: {
  kubeConfig: KubeConfig;
  configuration: (p: AdmissionProfile) => V1ValidatingWebhookConfiguration;
  stub?: StubControl;
  profile: AdmissionProfile;
  signal?: AbortSignal;
}): Promise<InstalledWebhook> {
  const { stub, configuration } = o;
  const admission = o.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const core = o.kubeConfig.makeApiClient(CoreV1Api);
  const k8s = new K8s(o.kubeConfig);
  await k8s.ensureNamespace(CANARY_NAMESPACE, { ...MANAGED_LABELS });
  // A pod needs the namespace's `default` ServiceAccount, which the controller-manager creates only
  // seconds later (measured: 3.3 s on the local provider); until then every dry run is a 403 that
  // says nothing about admission.
  await k8s.ensureDefaultServiceAccount(CANARY_NAMESPACE);
  // With the stub, the canary namespace's reviews always fail (HTTP 500): the answer then shows the
  // failurePolicy in force (500 for Fail, admitted for Ignore), and the journal that the webhook was
  // called at all. With the user's backend the canary webhook fails instead (webhookConfiguration).
  if (stub) await stub.setScope(CANARY_NAMESPACE, { fault: "status:500" });
  /** Whether the canary dry run shows `want` in force; with the user's backend, Ignore needs `failedBefore` (see below). */
  const shows = async (want: "Fail" | "Ignore"): Promise<boolean> => {
    if (stub) {
      const { lastSeq } = await stub.journal({ since: Number.MAX_SAFE_INTEGER });
      const r = await dryRunPod(core, CANARY_NAMESPACE, PROBE_IMAGE);
      const called = (await stub.journal({ since: lastSeq })).entries.some((e) => e.namespace === CANARY_NAMESPACE);
      return called && (want === "Fail" ? r.code === 500 : r.allowed);
    }
    const r = await dryRunPod(core, CANARY_NAMESPACE, PROBE_IMAGE);
    const canaryFailed = r.code === 500 && (r.message ?? "").includes(`failed calling webhook "${CANARY_WEBHOOK_NAME}"`);
    return want === "Fail" ? canaryFailed : r.allowed;
  };
  const enforced = async (p: AdmissionProfile): Promise<void> => {
    const want = failurePolicyFor(p);
    await waitFor(`the apiserver calling webhook ${WEBHOOK_CONFIG_NAME} with failurePolicy ${want}`, async () => ((await shows(want)) ? true : undefined), {
      timeoutMs: ENFORCE_BUDGET_MS,
      intervalMs: 100,
      signal: o.signal,
    });
  };
  const replace = async (p: AdmissionProfile): Promise<void> => {
    // A replace must carry the object's resourceVersion (the apiserver refuses it with 422 otherwise).
    const { metadata } = await admission.readValidatingWebhookConfiguration({ name: WEBHOOK_CONFIG_NAME });
    const body = configuration(p);
    body.metadata = { ...body.metadata, resourceVersion: metadata?.resourceVersion };
    await admission.replaceValidatingWebhookConfiguration({ name: WEBHOOK_CONFIG_NAME, body });
  };
  if (stub || failurePolicyFor(o.profile) === "Fail") {
    await admission.createValidatingWebhookConfiguration({ body: configuration(o.profile) });
    await enforced(o.profile);
  } else {
    // With the user's backend and Ignore, "admitted" would also be what a cluster without the
    // configuration answers: start with Fail (a refusal only the canary gives), then switch, so the
    // admission seen afterwards can only come from the canary failing open.
    const fail = { ...o.profile, defaultAllow: false };
    await admission.createValidatingWebhookConfiguration({ body: configuration(fail) });
    await enforced(fail);
    await replace(o.profile);
    await enforced(o.profile);
  }
  return {
    replace,
    enforced,
    async switchProfile(from, to) {
      if (failurePolicyFor(to) === failurePolicyFor(from)) return { elapsedMs: 0 };
      const t0 = performance.now();
      // From one failurePolicy to the other, the canary's answer changes: that is the new object in force.
      await replace(to);
      await enforced(to);
      return { elapsedMs: performance.now() - t0 };
    },
  };
}

/**
 * The trust list a VAP (or OPA's shipped policy: `mechanism`) can express: registries and repository
 * prefixes, nothing else of a stub policy.
 */
export function vapTrust(policy: StubPolicy, where = "policy", mechanism: "vap" | "opa" = "vap"): { registries: string[]; repositories: string[] } {
  const extra = [
    policy.denyPatterns.length && "denyPatterns",
    policy.requireDigest && "requireDigest",
    policy.denyLatest && "denyLatest",
    policy.breakGlass && "breakGlass",
    Object.keys(policy.auditAnnotations).length && "auditAnnotations",
  ].filter(Boolean);
  if (extra.length) {
    throw new ConfigError([{ file: where, path: String(extra[0]), message: `the ${mechanism} mechanism's policy is a trust list (registries and repositories); ${extra.join(", ")} cannot be expressed` }], `invalid policy for ${mechanism}`);
  }
  return { registries: [...policy.allowRegistries], repositories: [...policy.allowRepositories] };
}

async function startVap(o: MechanismStartOptions): Promise<StartedMechanism> {
  const admission = o.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const core = o.kubeConfig.makeApiClient(CoreV1Api);
  const { policies, bindings } = vapObjects();
  for (const body of policies) await admission.createValidatingAdmissionPolicy({ body });
  for (const body of bindings) await admission.createValidatingAdmissionPolicyBinding({ body });
  // Namespaces no scenario owns get the lab's default trust list, so a user's first pod there is
  // judged by registry rather than refused for a missing ConfigMap.
  for (const ns of VAP_DEFAULT_NAMESPACES) await setVapTrust(core, ns, withoutNamespaces(o.defaultPolicy), { signal: o.signal });
  let profile = o.profile;
  return {
    name: "vap",
    get profile() {
      return profile;
    },
    // Nothing in a profile applies: no backend to fail (failurePolicy covers CEL errors only), no cache.
    async applyProfile(next) {
      profile = next;
      return { elapsedMs: 0 };
    },
    async setNamespacePolicy(namespace, policy) {
      await setVapTrust(core, namespace, policy, { signal: o.signal });
    },
  };
}

/** Where a VAP lab puts its default trust list at start (`stub set --trust` updates every namespace that has one). */
export const VAP_DEFAULT_NAMESPACES = ["default", "kube-public"] as const;

/**
 * Writes a namespace's trust ConfigMap, then waits until a dry run shows the apiserver using it (the
 * policies read params through an informer). Resolves to the wait's length in ms.
 */
export async function setVapTrust(core: CoreV1Api, namespace: string, policy: StubPolicy, o: { signal?: AbortSignal } = {}): Promise<number> {
  const body = trustConfigMap(namespace, vapTrust(policy));
  let before: StubPolicy | undefined;
  try {
    const old = await core.readNamespacedConfigMap({ namespace, name: TRUST_PARAM_NAME });
    before = policyFromConfigMap(old.data);
    body.metadata = { ...body.metadata, resourceVersion: old.metadata?.resourceVersion };
    await core.replaceNamespacedConfigMap({ namespace, name: TRUST_PARAM_NAME, body });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 404)) throw err;
    await core.createNamespacedConfigMap({ namespace, body });
  }
  return waitForTrust(core, namespace, policy, before, { what: "the ValidatingAdmissionPolicy", signal: o.signal });
}

/**
 * Waits until a dry run in `namespace` shows `policy` rather than `before` (probeFor); resolves to
 * the wait's length in ms (0 when no image tells the two apart). `what` names who enforces it.
 */
export async function waitForTrust(core: CoreV1Api, namespace: string, policy: StubPolicy, before: StubPolicy | undefined, o: { what: string; signal?: AbortSignal }): Promise<number> {
  const probe = probeFor(policy, before);
  if (!probe) return 0;
  const t0 = performance.now();
  await waitFor(
    `${o.what} using the new trust list in ${namespace}`,
    async () => {
      const r = await dryRunPod(core, namespace, probe.image);
      if (probe.allowed) return r.allowed ? true : undefined;
      return !r.allowed && probe.denialMessage.test(r.message ?? "") ? true : undefined;
    },
    { timeoutMs: ENFORCE_BUDGET_MS, intervalMs: 100, signal: o.signal },
  );
  return performance.now() - t0;
}

/** The trust list a ConfigMap written by trustConfigMap holds, as a stub policy (for choosing a probe). */
function policyFromConfigMap(data: Record<string, string> | undefined): StubPolicy {
  const list = (v: string | undefined) => (v ?? "").split(",").filter(Boolean);
  return { ...withoutNamespaces(DEFAULT_POLICY), allowRegistries: list(data?.registries), allowRepositories: list(data?.repositories) };
}

function withoutNamespaces(p: StubPolicy): StubPolicy {
  return { ...p, namespaces: {} };
}

/**
 * A dry run that tells the new trust list from the one before: an image on exactly one of the two
 * lists (admitted under the new one, or refused by the policy's validation). With no list before,
 * a refusal that names untrusted images: before the policies and the ConfigMap are both in force an
 * image is admitted (no policy yet) or refused for the missing ConfigMap, never that. None when both
 * lists decide the same for every image they name.
 */
export function probeFor(next: StubPolicy, before: StubPolicy | undefined): { image: string; allowed: boolean; denialMessage: RegExp } | undefined {
  const untrustedMessage = /untrusted/;
  const allowedBy = (p: StubPolicy, image: string) => evaluate(p, { containers: [{ image }] }).allowed;
  if (!before) {
    if (!allowedBy(next, PROBE_IMAGE)) return { image: PROBE_IMAGE, allowed: false, denialMessage: untrustedMessage };
  }
  const candidates = [...new Set([...next.allowRegistries, ...(before?.allowRegistries ?? [])].map((r) => `${r}/imagepolicy-lab-probe:1`)).add(PROBE_IMAGE)];
  for (const repo of [...next.allowRepositories, ...(before?.allowRepositories ?? [])]) candidates.push(`${repo}:imagepolicy-lab-probe`);
  for (const image of candidates) {
    const now = allowedBy(next, image);
    if (!before || now !== allowedBy(before, image)) return { image, allowed: now, denialMessage: untrustedMessage };
  }
  return undefined;
}
