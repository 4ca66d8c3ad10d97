// The opa mechanism: a ValidatingWebhookConfiguration whose backend is a real OPA server running the
// shipped Rego (policies/opa/), started by the provider (local: a process on loopback, TLS with the
// backend CA). Trust lists are OPA data: the lab's default list at data.lab.trust, each scenario
// namespace's own at data.lab.trust_by_namespace[<ns>] (the policy prefers it there), because the
// runner plays scenarios side by side, each with its own namespace and list. OPA keeps data in
// memory only, so the lab keeps every list it PUT and PUTs them again after OPA restarts.
import { CoreV1Api } from "@kubernetes/client-node";
import type { StubPolicy } from "../../../webhook-stub/src/types.ts";
import { OPA_ADMISSION_PATH, type OpaTrustDocument } from "../opa/index.ts";
import { OPA_BYO_DECISION_PATH, OPA_BYO_PROBE_ANNOTATION, OPA_BYO_PROBE_MESSAGE } from "../opa/byo-policy.ts";
import { apiOutcome, podManifest } from "../scenario/k8s-actions.ts";
import type { AdmissionProfile } from "../profile/profile.ts";
import { ConfigError, LabError } from "../util/errors.ts";
import { waitFor } from "../util/wait.ts";
import { CANARY_NAMESPACE, dryRunPod, ENFORCE_BUDGET_MS, installWebhook, vapTrust, waitForTrust, type MechanismStartOptions, type StartedMechanism } from "./mechanism.ts";
import { OPA_FAULT_MEANINGS, opaFault, type OpaFault } from "./opa-faults.ts";
import { OPA_WEBHOOK_NAME, webhookConfiguration } from "./webhook-config.ts";

/** Where the lab's default trust list lives in OPA's data (PUT /v1/data/lab/trust). */
export const OPA_GLOBAL_TRUST_DATA = "lab/trust";
/** Where a namespace's own list lives (PUT /v1/data/lab/trust_by_namespace/<ns>). */
export const OPA_NAMESPACE_TRUST_DATA = "lab/trust_by_namespace";
/**
 * A decision path under the admission package that the shipped policy leaves undefined: OPA answers
 * 404 there (the `status:404` fault). The authz policy lets anyone POST under /v0/data/lab/admission.
 */
export const OPA_UNDEFINED_DECISION_PATH = "/v0/data/lab/admission/undefined_decision";
/**
 * An image the shipped policy refuses whatever the trust list ("*" included): upper case in the
 * repository makes it an invalid reference. The apiserver itself does not parse images, so it
 * reaches OPA. The lab's check that OPA answers.
 */
export const OPA_PROBE_IMAGE = "imagepolicy-lab-probe.invalid/PROBE:1";

/** The apiserver's words for a denial by OPA's webhook. */
export const OPA_DENIAL_TEXT = `admission webhook "${OPA_WEBHOOK_NAME}" denied the request`;

export function opaTrust(policy: StubPolicy, where = "policy"): OpaTrustDocument {
  return vapTrust(policy, where, "opa");
}

export async function startOpaMechanism(o: MechanismStartOptions): Promise<StartedMechanism> {
  const opa = o.opa;
  if (!opa) throw new LabError("the opa mechanism needs an OPA server; startLab starts one through the provider");
  if (o.backend.client) throw new ConfigError([{ file: "--mtls", path: "", message: "mTLS from the apiserver to the backend is set up for ImagePolicyWebhook only" }], "invalid mechanism");
  const core = o.kubeConfig.makeApiClient(CoreV1Api);
  const defaultPolicy = { ...o.defaultPolicy, namespaces: {} };
  const global = opaTrust(defaultPolicy);
  /** Every namespace's own list, as PUT (again after a restart). */
  const own = new Map<string, StubPolicy>();
  const putAll = async () => {
    await opa.putData(OPA_GLOBAL_TRUST_DATA, global);
    await opa.putData(OPA_NAMESPACE_TRUST_DATA, Object.fromEntries([...own].map(([ns, p]) => [ns, opaTrust(p)])));
  };
  await putAll();

  let fault: OpaFault = "healthy";
  // With the user's own policy, its wrapper answers; whether it reads the trust lists is its business.
  const byo = opa.userPolicy !== undefined;
  const decisionPath = byo ? OPA_BYO_DECISION_PATH : OPA_ADMISSION_PATH;
  let path = decisionPath;
  const configuration = (p: AdmissionProfile) =>
    webhookConfiguration({ name: OPA_WEBHOOK_NAME, url: `${opa.url}${path}`, caPem: opa.caPem, profile: p, canary: { namespace: CANARY_NAMESPACE } });
  // Its failurePolicy is waited for through the canary webhook (OPA cannot be made to fail per namespace).
  const hook = await installWebhook({ kubeConfig: o.kubeConfig, configuration, profile: o.profile, signal: o.signal });
  /**
   * Whether OPA's policy answers the apiserver: an invalid image reference in `default` is refused by
   * OPA's webhook; with the user's policy, a pod with the wrapper's probe annotation is.
   */
  const opaAnswers = async (): Promise<boolean> => {
    if (byo) {
      const body = podManifest({ name: "imagepolicy-lab-probe", images: [OPA_PROBE_IMAGE], annotations: { [OPA_BYO_PROBE_ANNOTATION]: "1" } });
      const r = await apiOutcome(() => core.createNamespacedPodWithHttpInfo({ namespace: "default", dryRun: "All", body }));
      return !r.allowed && (r.message ?? "").includes(`${OPA_DENIAL_TEXT}: ${OPA_BYO_PROBE_MESSAGE}`);
    }
    const r = await dryRunPod(core, "default", OPA_PROBE_IMAGE);
    return !r.allowed && (r.message ?? "").includes(OPA_DENIAL_TEXT);
  };
  const until = (what: string, answers: boolean) =>
    waitFor(what, async () => ((await opaAnswers()) === answers ? true : undefined), { timeoutMs: ENFORCE_BUDGET_MS, intervalMs: 100, signal: o.signal });
  await until(`the apiserver asking OPA (webhook ${OPA_WEBHOOK_NAME} refusing ${OPA_PROBE_IMAGE} in default)`, true);

  let profile = o.profile;
  return {
    name: "opa",
    get profile() {
      return profile;
    },
    async applyProfile(next) {
      const r = await hook.switchProfile(profile, next);
      profile = next;
      return r;
    },
    async setNamespacePolicy(namespace, policy) {
      const before = own.get(namespace) ?? defaultPolicy;
      const doc = opaTrust(policy);
      own.set(namespace, policy);
      // OPA stopped: the list goes in when it starts again (putAll).
      if (fault === "refuse") return;
      await opa.putData(`${OPA_NAMESPACE_TRUST_DATA}/${namespace}`, doc);
      // With the webhook pointed at an undefined decision nothing shows the list; OPA applies a PUT at once anyway.
      if (fault === "healthy" && !byo) await waitForTrust(core, namespace, policy, before, { what: "OPA", signal: o.signal });
    },
    async setFault(spec) {
      const next = opaFault(spec);
      if (!next) throw new ConfigError([{ file: "fault", path: "", message: `the opa mechanism cannot play "${spec}"` }], "invalid fault for opa");
      if (next === fault) return;
      // Back to healthy first, then into the new fault.
      if (fault === "refuse") {
        await opa.resume();
        await putAll();
      }
      if (fault === "status:404") {
        path = decisionPath;
        await hook.replace(profile);
      }
      fault = "healthy";
      if (next === "refuse") {
        // Stopped means exited, so its port is closed: every call from now on is refused.
        await opa.pause();
        fault = next;
        return;
      }
      if (next === "status:404") {
        path = OPA_UNDEFINED_DECISION_PATH;
        await hook.replace(profile);
        fault = next;
        await until(`the apiserver calling ${OPA_UNDEFINED_DECISION_PATH} (${OPA_FAULT_MEANINGS[next]})`, false);
        return;
      }
      await until(`the apiserver asking OPA's policy again (${OPA_FAULT_MEANINGS.healthy})`, true);
    },
  };
}
