import { describe, expect, it } from "vitest";
import { DEFAULT_PROFILE } from "../../profile/profile.ts";
import { upSummary } from "./up.ts";

const base = { seconds: 4.24, provider: "local", k8sVersion: "1.36.1", profile: { ...DEFAULT_PROFILE }, kubeconfigPath: "/w/.lab/kubeconfig", stateDirArg: ".lab" };

describe("upSummary", () => {
  it("with the stub: its endpoints, a trusted and an untrusted try, and the stub commands", () => {
    const text = upSummary({ ...base, stub: { reviewUrl: "https://127.0.0.1:1/review", controlUrl: "https://127.0.0.1:2" }, trust: ["trusted.example"] });
    expect(text).toContain("Lab ready in 4.2s (local, Kubernetes 1.36.1, ImagePolicyWebhook).");
    expect(text).toContain("backend:    https://127.0.0.1:1/review (stub; control https://127.0.0.1:2)");
    expect(text).toContain("kubectl run trusted --image=trusted.example/app:1.0 --dry-run=server");
    expect(text).toContain("imagepolicy-lab stub set --state-dir .lab --fault status:500");
    expect(text).toContain("imagepolicy-lab stub journal --state-dir .lab");
    expect(text).toContain("imagepolicy-lab down --state-dir .lab");
  });

  it("with --backend-url: no stub commands (they would fail: there is no stub) and no claims about the stub's policy", () => {
    const text = upSummary({ ...base, backendUrl: "https://policy.example:8443/review" });
    expect(text).toContain("backend:    https://policy.example:8443/review\n");
    expect(text).not.toContain("stub");
    expect(text).toContain("imagepolicy-lab down --state-dir .lab");
  });

  it("vap: names the policies and the ConfigMap, no backend, and the live trust command instead of faults", () => {
    const text = upSummary({ ...base, mechanism: "vap", stub: { reviewUrl: "https://127.0.0.1:1/review", controlUrl: "https://127.0.0.1:2" }, trust: ["trusted.example"] });
    expect(text).toContain("(local, Kubernetes 1.36.1, ValidatingAdmissionPolicy)");
    expect(text).toContain("ConfigMap imagepolicy-lab-trust");
    expect(text).toContain("backend:    none");
    expect(text).toContain("imagepolicy-lab stub set --state-dir .lab --trust trusted.example");
    expect(text).not.toContain("--fault");
  });

  it("webhook: the ValidatingWebhookConfiguration's failurePolicy and the stub's /validate URL", () => {
    const text = upSummary({ ...base, mechanism: "webhook", profile: { ...DEFAULT_PROFILE, defaultAllow: true }, stub: { reviewUrl: "https://127.0.0.1:1/review", controlUrl: "https://127.0.0.1:2" } });
    expect(text).toContain("failurePolicy=Ignore timeoutSeconds=10");
    expect(text).toContain("backend:    https://127.0.0.1:1/validate (stub");
  });

  it("opa: the webhook named for OPA, OPA's decision URL, and the live trust command instead of faults and the journal", () => {
    const text = upSummary({ ...base, mechanism: "opa", opaUrl: "https://127.0.0.1:3", stub: { reviewUrl: "https://127.0.0.1:1/review", controlUrl: "https://127.0.0.1:2" }, trust: ["trusted.example"] });
    expect(text).toContain("(local, Kubernetes 1.36.1, OPA)");
    expect(text).toContain("webhook opa.imagepolicy-lab.dev), failurePolicy=Fail timeoutSeconds=10");
    expect(text).toContain("backend:    OPA v1.22.3 https://127.0.0.1:3/v0/data/lab/admission/review");
    expect(text).toContain("refused by OPA's policy");
    expect(text).toContain("imagepolicy-lab stub set --state-dir .lab --trust trusted.example");
    expect(text).not.toContain("--fault");
    expect(text).not.toContain("stub journal");
  });

  it("--backend opa: the plugin's profile, OPA's ImageReview URL, and the live trust command instead of the stub's faults and journal", () => {
    const text = upSummary({ ...base, opaBackend: true, opaUrl: "https://127.0.0.1:3", stub: { reviewUrl: "https://127.0.0.1:1/review", controlUrl: "https://127.0.0.1:2" }, trust: ["trusted.example"] });
    expect(text).toContain("(local, Kubernetes 1.36.1, ImagePolicyWebhook)");
    expect(text).toContain("profile:    defaultAllow=false allowTTL=50");
    expect(text).toContain("backend:    OPA v1.22.3 https://127.0.0.1:3/v0/data/lab/imagereview/review (policies/opa; trust list in data.lab.trust; the stub is not asked)");
    expect(text).toContain("refused by OPA's policy");
    expect(text).toContain("imagepolicy-lab stub set --state-dir .lab --trust trusted.example");
    expect(text).not.toContain("--fault");
    expect(text).not.toContain("stub journal");
  });
});
