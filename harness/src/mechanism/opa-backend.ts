// OPA as ImagePolicyWebhook's backend (`up|run --backend opa`): the apiserver runs the plugin as
// always, but its webhook kubeconfig points at the lab's OPA, whose shipped Rego answers ImageReview
// at OPA_IMAGEREVIEW_PATH, instead of at the stub. The same policy and the same trust data answer
// the opa mechanism's AdmissionReviews, so one Rego can be checked under both mechanisms.
//
// Trust lists are OPA data as under the opa mechanism: the lab's default at data.lab.trust, each
// scenario namespace's own at data.lab.trust_by_namespace[<ns>] (the ImageReview rule reads
// spec.namespace), so scenarios that only set trust lists play side by side as with the stub. The
// one fault OPA plays here is `refuse` (OPA stopped): `status:404` would need another URL in the
// plugin's kubeconfig, which only an apiserver restart reads.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import type { StubPolicy } from "../../../webhook-stub/src/types.ts";
import { OPA_IMAGEREVIEW_PATH, type OpaTrustDocument } from "../opa/opa-policy.ts";
import type { BackendEndpoint, StartedOpa } from "../providers/provider.ts";
import { apiOutcome, podManifest, type ApiOutcome } from "../scenario/k8s-actions.ts";
import { ConfigError, LabError } from "../util/errors.ts";
import { waitFor } from "../util/wait.ts";
import { ENFORCE_BUDGET_MS, probeFor, type MechanismStartOptions, type StartedMechanism } from "./mechanism.ts";
import { OPA_FAULT_MEANINGS, opaFault } from "./opa-faults.ts";
import { OPA_GLOBAL_TRUST_DATA, OPA_NAMESPACE_TRUST_DATA, OPA_PROBE_IMAGE, opaTrust } from "./opa-mechanism.ts";

/** The faults OPA plays as ImagePolicyWebhook's backend (the stub plays the rest). */
export const OPA_BACKEND_FAULTS = ["healthy", "refuse"] as const;

/**
 * The apiserver's words for a denial OPA's ImageReview decision returned: the plugin's fixed prefix,
 * then OPA's reason (the stub words its reasons otherwise), so a match shows OPA answered.
 */
export const OPA_BACKEND_DENIAL_TEXT = "image policy webhook backend denied one or more images: untrusted image(s): ";

/**
 * A forwarded annotation with a fresh value on every probe: the plugin's verdict cache keys on the
 * whole review, annotations included, so a probe is never answered from the cache (a cached verdict
 * would show an old trust list for allowTTL/denyTTL seconds).
 */
export const OPA_BACKEND_NONCE_ANNOTATION = "probe.image-policy.k8s.io/nonce";

/** Where the apiserver's ImagePolicyWebhook kubeconfig points: OPA's ImageReview decision, with OPA's CA. */
export function opaImageReviewEndpoint(opa: Pick<StartedOpa, "url" | "caPem">): BackendEndpoint {
  return { url: `${opa.url}${OPA_IMAGEREVIEW_PATH}`, caPem: opa.caPem };
}

/**
 * The lists OPA needs before the cluster's first pod: the lab's default at data.lab.trust and the
 * default policy's namespace rules (a kind cluster's kube-system pods pass under any list) at
 * data.lab.trust_by_namespace, plus `own` (scenario namespaces) over them.
 */
export async function putOpaBackendTrust(opa: Pick<StartedOpa, "putData">, defaultPolicy: StubPolicy, own: ReadonlyMap<string, StubPolicy> = new Map()): Promise<void> {
  await opa.putData(OPA_GLOBAL_TRUST_DATA, opaTrust({ ...defaultPolicy, namespaces: {} }));
  const byNamespace: Record<string, OpaTrustDocument> = {};
  for (const [ns, rules] of Object.entries(defaultPolicy.namespaces)) byNamespace[ns] = { registries: [...rules.allowRegistries], repositories: [...rules.allowRepositories] };
  for (const [ns, p] of own) byNamespace[ns] = opaTrust(p);
  await opa.putData(OPA_NAMESPACE_TRUST_DATA, byNamespace);
}

/** A server-side dry run of a pod with one image and a fresh nonce annotation (never a cached verdict). */
export async function dryRunUncached(core: CoreV1Api, namespace: string, image: string): Promise<ApiOutcome> {
  const body = podManifest({ name: "imagepolicy-lab-probe", images: [image], annotations: { [OPA_BACKEND_NONCE_ANNOTATION]: randomBytes(8).toString("hex") } });
  return apiOutcome(() => core.createNamespacedPodWithHttpInfo({ namespace, dryRun: "All", body }));
}

/**
 * Waits until a dry run in `namespace` shows `policy` rather than `before` through the plugin and
 * OPA (probeFor's image, uncached); resolves to the wait's length in ms (0 when no image tells them apart).
 */
export async function waitForOpaBackendTrust(core: CoreV1Api, namespace: string, policy: StubPolicy, before: StubPolicy | undefined, o: { signal?: AbortSignal } = {}): Promise<number> {
  const probe = probeFor(policy, before);
  if (!probe) return 0;
  const t0 = performance.now();
  await waitFor(
    `OPA (ImagePolicyWebhook's backend) using the new trust list in ${namespace}`,
    async () => {
      const r = await dryRunUncached(core, namespace, probe.image);
      if (probe.allowed) return r.allowed ? true : undefined;
      return !r.allowed && (r.message ?? "").includes(OPA_BACKEND_DENIAL_TEXT) ? true : undefined;
    },
    { timeoutMs: ENFORCE_BUDGET_MS, intervalMs: 100, signal: o.signal },
  );
  return performance.now() - t0;
}

/** Whether the plugin asks OPA: an invalid reference in `default` is refused in OPA's words, whatever the trust list. */
async function opaAnswers(core: CoreV1Api): Promise<boolean> {
  const r = await dryRunUncached(core, "default", OPA_PROBE_IMAGE);
  return !r.allowed && (r.message ?? "").includes(OPA_BACKEND_DENIAL_TEXT);
}

/**
 * The imagepolicywebhook mechanism with OPA as its backend: the plugin is in the apiserver's flags
 * (the provider's part, with opaImageReviewEndpoint); this PUTs the trust lists and resolves once the
 * apiserver's reviews are answered by OPA.
 */
export async function startOpaBackendMechanism(o: MechanismStartOptions): Promise<StartedMechanism> {
  const opa = o.opa;
  if (!opa) throw new LabError("OPA as ImagePolicyWebhook's backend needs an OPA server; startLab starts one through the provider");
  if (opa.userPolicy) throw new ConfigError([{ file: opa.userPolicy.file, path: "--policy", message: "your own Rego is played by --mechanism opa; --backend opa runs the shipped policy (policies/opa)" }], "invalid backend");
  const core = o.kubeConfig.makeApiClient(CoreV1Api);
  const defaultPolicy = o.defaultPolicy;
  const own = new Map<string, StubPolicy>();
  const putAll = () => putOpaBackendTrust(opa, defaultPolicy, own);
  await putAll();
  const until = (what: string) => waitFor(what, async () => ((await opaAnswers(core)) ? true : undefined), { timeoutMs: ENFORCE_BUDGET_MS, intervalMs: 100, signal: o.signal });
  await until(`the apiserver asking OPA (ImagePolicyWebhook refusing ${OPA_PROBE_IMAGE} in default in OPA's words)`);

  let fault: (typeof OPA_BACKEND_FAULTS)[number] = "healthy";
  const named = { ...defaultPolicy, namespaces: {} };
  return {
    name: "imagepolicywebhook",
    backend: "opa",
    get profile() {
      return o.cluster.profile;
    },
    // The profile lives in the apiserver's admission files (a restart); OPA keeps running and keeps its data.
    applyProfile: (p) => o.cluster.applyProfile(p),
    async setNamespacePolicy(namespace, policy) {
      const before = own.get(namespace) ?? named;
      const doc = opaTrust(policy);
      own.set(namespace, policy);
      // OPA stopped: the list goes in when it starts again (putAll).
      if (fault === "refuse") return;
      await opa.putData(`${OPA_NAMESPACE_TRUST_DATA}/${namespace}`, doc);
      await waitForOpaBackendTrust(core, namespace, policy, before, { signal: o.signal });
    },
    async setFault(spec) {
      const next = opaFault(spec);
      if (next !== "healthy" && next !== "refuse") {
        throw new ConfigError([{ file: "fault", path: "", message: `OPA as ImagePolicyWebhook's backend cannot play "${spec}" (only refuse: ${OPA_FAULT_MEANINGS.refuse})` }], "invalid fault for the OPA backend");
      }
      if (next === fault) return;
      if (next === "refuse") {
        // Stopped means exited, so its port is closed: every review from now on is refused.
        await opa.pause();
        fault = next;
        return;
      }
      await opa.resume();
      await putAll();
      fault = "healthy";
      await until(`the apiserver asking OPA again (${OPA_FAULT_MEANINGS.healthy})`);
    },
  };
}
