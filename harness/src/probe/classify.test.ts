// Each fixture is a message kube-apiserver 1.36.1 wrote (measured by the probe's e2e run and the
// catalog, or quoted in mechanisms.md §C5 / imagepolicy-behavior.md §7 where noted).
import { describe, expect, it } from "vitest";
import { classifyAnswer, mechanismText, rbacFacts } from "./classify.ts";
import type { Answer } from "./model.ts";

const refused = (code: number, message: string) => classifyAnswer({ code, allowed: false, message });
const IPW = { kind: "imagepolicywebhook" } as const;

describe("classifyAnswer", () => {
  it.each<[string, number, string, Answer]>([
    [
      "ImagePolicyWebhook denial",
      403,
      'pods "ipl-probe-1a238b-untrusted" is forbidden: image policy webhook backend denied one or more images: evil.example/imagepolicy-lab-probe:1: registry evil.example not in allow.registries [trusted.example]',
      { outcome: "refused", by: IPW, reason: "evil.example/imagepolicy-lab-probe:1: registry evil.example not in allow.registries [trusted.example]" },
    ],
    ["ImagePolicyWebhook denial without a reason (imagepolicy-behavior.md §7)", 403, 'pods "nr" is forbidden: one or more images rejected by webhook backend', { outcome: "refused", by: IPW, reason: "(no reason)" }],
    [
      "ImagePolicyWebhook failing closed, backend refuses connections",
      403,
      'pods "fail-closed" is forbidden: Post "https://127.0.0.1:42499/review?timeout=30s": dial tcp 127.0.0.1:42499: connect: connection refused',
      { outcome: "not-a-denial", cause: "backend-error", by: IPW, detail: 'Post "https://127.0.0.1:42499/review?timeout=30s": dial tcp 127.0.0.1:42499: connect: connection refused' },
    ],
    [
      "ImagePolicyWebhook failing closed, backend answers 500 five times",
      403,
      'pods "p" is forbidden: an error on the server ("unknown") has prevented the request from succeeding',
      { outcome: "not-a-denial", cause: "backend-error", by: IPW, detail: 'an error on the server ("unknown") has prevented the request from succeeding' },
    ],
    [
      "a backend failure after the denial prefix is still a failure",
      403,
      'pods "p" is forbidden: image policy webhook backend denied one or more images: Post "https://10.0.0.1/review": dial tcp 10.0.0.1:443: connect: connection refused',
      { outcome: "not-a-denial", cause: "backend-error", by: IPW, detail: 'Post "https://10.0.0.1/review": dial tcp 10.0.0.1:443: connect: connection refused' },
    ],
    [
      "validating webhook denial (no pods prefix)",
      403,
      'admission webhook "images.imagepolicy-lab.dev" denied the request: evil.example/imagepolicy-lab-probe:1: registry evil.example not in allow.registries [trusted.example]',
      { outcome: "refused", by: { kind: "webhook", name: "images.imagepolicy-lab.dev" }, reason: "evil.example/imagepolicy-lab-probe:1: registry evil.example not in allow.registries [trusted.example]" },
    ],
    [
      "Gatekeeper's words (mechanisms.md §C5 format)",
      400,
      'admission webhook "validation.gatekeeper.sh" denied the request: [allowed-repos] container <c0> has an invalid image repo <evil.example/x>, allowed repos are ["trusted.example/"]',
      { outcome: "refused", by: { kind: "webhook", name: "validation.gatekeeper.sh" }, reason: '[allowed-repos] container <c0> has an invalid image repo <evil.example/x>, allowed repos are ["trusted.example/"]' },
    ],
    ["webhook denial without explanation", 400, 'admission webhook "w.example" denied the request without explanation', { outcome: "refused", by: { kind: "webhook", name: "w.example" }, reason: "(no explanation)" }],
    [
      "webhook failing closed (failurePolicy Fail)",
      500,
      'Internal error occurred: failed calling webhook "images.imagepolicy-lab.dev": failed to call webhook: Post "https://127.0.0.1:39517/validate?timeout=10s": dial tcp 127.0.0.1:39517: connect: connection refused',
      {
        outcome: "not-a-denial",
        cause: "backend-error",
        by: { kind: "webhook", name: "images.imagepolicy-lab.dev" },
        detail: 'failed to call webhook: Post "https://127.0.0.1:39517/validate?timeout=10s": dial tcp 127.0.0.1:39517: connect: connection refused',
      },
    ],
    [
      "a webhook without dry-run support",
      400,
      'admission webhook "validation.gatekeeper.sh" does not support dry run',
      { outcome: "not-a-denial", cause: "dry-run-unsupported", by: { kind: "webhook", name: "validation.gatekeeper.sh" }, detail: 'admission webhook "validation.gatekeeper.sh" does not support dry run' },
    ],
    [
      "ValidatingAdmissionPolicy denial",
      403,
      "pods \"ipl-probe-1a238b-untrusted\" is forbidden: ValidatingAdmissionPolicy 'imagepolicy-lab-images-pods' with binding 'imagepolicy-lab-images-pods' denied request: untrusted registry for image(s): evil.example/imagepolicy-lab-probe:1 (this namespace trusts registries [trusted.example] and repositories [] in ConfigMap imagepolicy-lab-trust)",
      {
        outcome: "refused",
        by: { kind: "vap", policy: "imagepolicy-lab-images-pods", binding: "imagepolicy-lab-images-pods" },
        reason: "untrusted registry for image(s): evil.example/imagepolicy-lab-probe:1 (this namespace trusts registries [trusted.example] and repositories [] in ConfigMap imagepolicy-lab-trust)",
      },
    ],
    [
      "a ValidatingAdmissionPolicy that cannot find its params refuses, but not by a verdict",
      422,
      "pods \"p\" is forbidden: ValidatingAdmissionPolicy 'imagepolicy-lab-images-pods' with binding 'imagepolicy-lab-images-pods' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction",
      {
        outcome: "not-a-denial",
        cause: "policy-error",
        by: { kind: "vap", policy: "imagepolicy-lab-images-pods", binding: "imagepolicy-lab-images-pods" },
        detail: "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction",
      },
    ],
    [
      "RBAC forbids the probe",
      403,
      'pods is forbidden: User "system:serviceaccount:apps:imagepolicy-lab-probe" cannot create resource "pods" in API group "" in the namespace "apps"',
      { outcome: "not-a-denial", cause: "rbac", detail: 'pods is forbidden: User "system:serviceaccount:apps:imagepolicy-lab-probe" cannot create resource "pods" in API group "" in the namespace "apps"' },
    ],
    [
      "PodSecurity",
      403,
      'pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)',
      {
        outcome: "not-a-denial",
        cause: "unrelated",
        by: { kind: "other", what: "PodSecurity" },
        detail: 'pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)',
      },
    ],
    ["a namespace that does not exist", 404, 'namespaces "nope" not found', { outcome: "not-a-denial", cause: "namespace-missing", detail: 'namespaces "nope" not found' }],
    ["anything else", 409, 'pods "x" already exists', { outcome: "not-a-denial", cause: "unrelated", detail: 'pods "x" already exists' }],
  ])("%s", (_, code, message, want) => {
    expect(refused(code, message)).toEqual(want);
  });

  it("a webhook's reason may quote anything; its own prefix wins", () => {
    const a = refused(403, 'admission webhook "w" denied the request: ValidatingAdmissionPolicy \'x\' with binding \'y\' denied request: image policy webhook backend denied one or more images');
    expect(a).toMatchObject({ outcome: "refused", by: { kind: "webhook", name: "w" } });
  });

  it("admitted answers keep their Warning headers", () => {
    expect(classifyAnswer({ code: 201, allowed: true, warnings: ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': untrusted"] })).toEqual({
      outcome: "admitted",
      warnings: ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': untrusted"],
    });
  });

  it("names mechanisms the way findings print them, and reads RBAC facts", () => {
    expect(mechanismText({ kind: "vap", policy: "p", binding: "b" })).toBe("ValidatingAdmissionPolicy 'p' (binding 'b')");
    expect(mechanismText({ kind: "webhook", name: "w" })).toBe('admission webhook "w"');
    expect(rbacFacts('jobs.batch is forbidden: User "u" cannot create resource "jobs" in API group "batch" in the namespace "apps"')).toEqual({ user: "u", verb: "create", resource: "jobs", namespace: "apps" });
  });
});
