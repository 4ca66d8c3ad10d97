// The `webhook` and `opa` mechanisms' API object: a ValidatingWebhookConfiguration that sends
// AdmissionReview v1 to the stub's /validate endpoint (or OPA's decision path) for pods (including
// `kubectl debug`'s ephemeral containers) and for the workload kinds whose pod templates carry
// images (mechanisms.md §C).
import type { V1ValidatingWebhookConfiguration } from "@kubernetes/client-node";
import { DEFAULT_ADMISSION_PATH } from "../../../webhook-stub/src/server.ts";
import type { AdmissionProfile } from "../profile/profile.ts";

export const WEBHOOK_CONFIG_NAME = "imagepolicy-lab";
/** Appears in every message the apiserver writes about it: `admission webhook "images.imagepolicy-lab.dev" denied the request: ...`. */
export const WEBHOOK_NAME = "images.imagepolicy-lab.dev";
/** The opa mechanism's webhook (same configuration object): its own name, so messages say OPA answered. */
export const OPA_WEBHOOK_NAME = "opa.imagepolicy-lab.dev";
/** v1's default, written out so the lab's behavior does not depend on it. */
export const WEBHOOK_TIMEOUT_SECONDS = 10;
/** Labels of everything the lab creates in the cluster for a mechanism. */
export const MANAGED_LABELS = { "app.kubernetes.io/managed-by": "imagepolicy-lab" } as const;

/**
 * The profile's one knob that has a webhook equivalent: fail open (`defaultAllow: true`) is
 * `failurePolicy: Ignore`, fail closed is `Fail`. TTLs and retry backoff have none: a webhook
 * caches nothing and does not retry (mechanisms.md §C6).
 */
export function failurePolicyFor(profile: AdmissionProfile): "Fail" | "Ignore" {
  return profile.defaultAllow ? "Ignore" : "Fail";
}

/** The stub's AdmissionReview URL: its ImageReview URL with the admission path (same host, port and TLS). */
export function admissionUrl(reviewUrl: string): string {
  const u = new URL(reviewUrl);
  u.pathname = DEFAULT_ADMISSION_PATH;
  u.search = "";
  return u.toString();
}

/** The canary webhook's name (with the user's backend or OPA; see `canary` in webhookConfiguration). */
export const CANARY_WEBHOOK_NAME = "canary.imagepolicy-lab.dev";
/**
 * Where the canary webhook points: a loopback port nothing listens on (port 1, tcpmux, is unassigned
 * in practice), so every call fails at once with "connection refused", wherever the apiserver runs.
 */
export const CANARY_WEBHOOK_URL = "https://127.0.0.1:1/imagepolicy-lab-canary";

/**
 * `canary`: with the user's backend (or OPA) the lab cannot make the backend fail to see which failurePolicy
 * the apiserver uses, so a second webhook does it: it answers for pod creates in that one namespace
 * only (which the main webhook then leaves out), always fails, and has the same failurePolicy. Both
 * live in one object, so the apiserver acting on the canary means it acts on the main webhook too.
 */
export function webhookConfiguration(o: {
  url: string;
  caPem: string;
  profile: AdmissionProfile;
  canary?: { namespace: string };
  /** The webhook's name, which the apiserver puts in every message about it (default WEBHOOK_NAME; OPA's is OPA_WEBHOOK_NAME). */
  name?: string;
}): V1ValidatingWebhookConfiguration {
  const rule = (apiGroups: string[], resources: string[], operations = ["CREATE", "UPDATE"]) => ({ apiGroups, apiVersions: ["v1"], operations, resources, scope: "Namespaced" });
  const excluded = ["kube-system", ...(o.canary ? [o.canary.namespace] : [])];
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: WEBHOOK_CONFIG_NAME, labels: { ...MANAGED_LABELS } },
    webhooks: [
      {
        name: o.name ?? WEBHOOK_NAME,
        admissionReviewVersions: ["v1"],
        clientConfig: { url: o.url, caBundle: Buffer.from(o.caPem).toString("base64") },
        rules: [
          // "pods" does not include subresources: without pods/ephemeralcontainers, `kubectl debug`
          // with any image passes (mechanisms.md §0 item 8).
          rule([""], ["pods"]),
          rule([""], ["pods/ephemeralcontainers"], ["UPDATE"]),
          rule([""], ["replicationcontrollers"]),
          rule(["apps"], ["deployments", "replicasets", "statefulsets", "daemonsets"]),
          rule(["batch"], ["jobs", "cronjobs"]),
        ],
        failurePolicy: failurePolicyFor(o.profile),
        // None: a server-side dry run (what `probe` and the lab's own checks send) reaches the
        // webhook; Unknown/Some would refuse every dry run with 400 "does not support dry run".
        sideEffects: "None",
        timeoutSeconds: WEBHOOK_TIMEOUT_SECONDS,
        matchPolicy: "Equivalent",
        // A fail-closed webhook over kube-system can keep the control plane's own pods from coming
        // back while the backend is down; the usual exclusion, also what the VAP binding does.
        namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: excluded }] },
      },
      ...(o.canary
        ? [
            {
              name: CANARY_WEBHOOK_NAME,
              admissionReviewVersions: ["v1"],
              clientConfig: { url: CANARY_WEBHOOK_URL },
              rules: [rule([""], ["pods"], ["CREATE"])],
              failurePolicy: failurePolicyFor(o.profile),
              sideEffects: "None",
              timeoutSeconds: 1,
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": o.canary.namespace } },
            },
          ]
        : []),
    ],
  };
}
