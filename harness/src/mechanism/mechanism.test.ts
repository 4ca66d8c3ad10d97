import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { ConfigError } from "../util/errors.ts";
import { probeFor, vapTrust } from "./mechanism.ts";
import { admissionUrl, CANARY_WEBHOOK_NAME, CANARY_WEBHOOK_URL, failurePolicyFor, webhookConfiguration, WEBHOOK_NAME } from "./webhook-config.ts";
import { DEFAULT_PROFILE } from "../profile/profile.ts";

describe("probeFor: the dry run that shows the apiserver using a new trust list", () => {
  it("with no list before, an image the new list refuses (a refusal naming untrusted images needs both the policy and the ConfigMap)", () => {
    expect(probeFor(trustPolicy(["trusted.example"]), undefined)).toMatchObject({ allowed: false, image: expect.stringContaining(".invalid/") });
  });
  it("an added registry is probed as admitted, a removed one as refused", () => {
    expect(probeFor(trustPolicy(["a.example", "b.example"]), trustPolicy(["a.example"]))).toMatchObject({ image: "b.example/imagepolicy-lab-probe:1", allowed: true });
    expect(probeFor(trustPolicy(["a.example"]), trustPolicy(["a.example", "b.example"]))).toMatchObject({ image: "b.example/imagepolicy-lab-probe:1", allowed: false });
  });
  it("a changed repository prefix is probed inside it", () => {
    expect(probeFor(trustPolicy(["docker.io/library/nginx"]), trustPolicy([]))).toMatchObject({ image: "docker.io/library/nginx:imagepolicy-lab-probe", allowed: true });
  });
  it("nothing to wait for when the lists decide alike", () => {
    expect(probeFor(trustPolicy(["a.example"]), trustPolicy(["a.example"]))).toBeUndefined();
  });
});

describe("vapTrust", () => {
  it("takes registries and repositories, ignores per-namespace rules", () => {
    expect(vapTrust(DEFAULT_POLICY)).toEqual({ registries: ["registry.k8s.io"], repositories: ["docker.io/kindest"] });
  });
  it("refuses what a trust list cannot say, naming the field", () => {
    const err = (() => {
      try {
        vapTrust({ ...trustPolicy(["a.example"]), denyLatest: true }, "policy.yaml");
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues[0]).toMatchObject({ file: "policy.yaml", path: "denyLatest" });
  });
});

describe("the webhook configuration", () => {
  it("maps fail-open to Ignore and fail-closed to Fail", () => {
    expect(failurePolicyFor({ ...DEFAULT_PROFILE, defaultAllow: true })).toBe("Ignore");
    expect(failurePolicyFor({ ...DEFAULT_PROFILE, defaultAllow: false })).toBe("Fail");
  });
  it("calls the stub's /validate on the review URL's host, for pods, ephemeral containers and workloads, dry-run safe", () => {
    const url = admissionUrl("https://image-policy-stub:8443/review?x=1");
    expect(url).toBe("https://image-policy-stub:8443/validate");
    const vwc = webhookConfiguration({ url, caPem: "PEM", profile: DEFAULT_PROFILE });
    const hook = vwc.webhooks![0]!;
    expect(hook).toMatchObject({ name: WEBHOOK_NAME, sideEffects: "None", failurePolicy: "Fail", timeoutSeconds: 10, clientConfig: { url, caBundle: Buffer.from("PEM").toString("base64") } });
    expect(hook.rules!.flatMap((r) => r.resources)).toEqual(expect.arrayContaining(["pods", "pods/ephemeralcontainers", "deployments", "jobs", "cronjobs", "statefulsets", "daemonsets", "replicasets"]));
    expect(hook.namespaceSelector!.matchExpressions![0]).toMatchObject({ operator: "NotIn", values: ["kube-system"] });
  });

  it("with the user's backend: its URL as given, and a canary webhook that fails in one namespace only, which the main webhook leaves out", () => {
    const vwc = webhookConfiguration({ url: "https://policy.example:9443/admit", caPem: "PEM", profile: { ...DEFAULT_PROFILE, defaultAllow: true }, canary: { namespace: "canary-ns" } });
    const [main, canary] = vwc.webhooks!;
    expect(main).toMatchObject({ name: WEBHOOK_NAME, failurePolicy: "Ignore", clientConfig: { url: "https://policy.example:9443/admit" } });
    expect(main!.namespaceSelector!.matchExpressions![0]).toMatchObject({ operator: "NotIn", values: ["kube-system", "canary-ns"] });
    expect(canary).toMatchObject({ name: CANARY_WEBHOOK_NAME, failurePolicy: "Ignore", sideEffects: "None", clientConfig: { url: CANARY_WEBHOOK_URL } });
    expect(canary!.namespaceSelector).toEqual({ matchLabels: { "kubernetes.io/metadata.name": "canary-ns" } });
    expect(canary!.rules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }]);
  });
});
