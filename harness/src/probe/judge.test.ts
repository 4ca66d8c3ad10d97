import { describe, expect, it } from "vitest";
import type { MetricsEvidence } from "./model.ts";
import { enforcingIpw, ipwDenied, rbacDenied, report, answered, UNREADABLE, type Reply } from "./test-fixtures.ts";

const texts = (r: ReturnType<typeof report>) => r.findings.map((f) => `${f.severity}: ${f.text}`);
const allAdmitted = (): Reply => ({ admitted: 201 });
const metrics = (m: Partial<Extract<MetricsEvidence, { readable: true }>>): MetricsEvidence => ({ readable: true, imagePolicyWebhookEnabled: false, webhookFailOpen: {}, outgoingPosts: [], ...m });

describe("verdicts and findings", () => {
  it("an enforcing ImagePolicyWebhook: every case as expected, workloads noted as refused later, exit 0", () => {
    const r = report(answered(enforcingIpw, { pod: true }));
    expect(r.totals).toEqual({ cases: 14, asExpected: 14, holes: 0, trustedRefused: 0, inconclusive: 0 });
    expect(texts(r)).toEqual([
      "note: Deployment with an untrusted image accepted (201): its pods will be refused later (FailedCreate events on its ReplicaSet), not at apply",
      "note: Job with an untrusted image accepted (201): its pods will be refused later (FailedCreate events on the Job), not at apply",
    ]);
    expect(r.exitCode).toBe(0);
  });

  it("everything admitted, metrics unreadable: no enforcement, and says what cannot be told apart", () => {
    const r = report(answered(allAdmitted));
    expect(r.exitCode).toBe(1);
    expect(texts(r)).toEqual([
      'hole: no enforcement: every image was admitted in namespace "apps", trusted (trusted.example/app:1.0) and untrusted (evil.example/imagepolicy-lab-probe:1) alike, and nothing refused a single request (11 untrusted cases); ' +
        "from the answers alone this looks exactly like a mechanism that fails open with its backend down (ImagePolicyWebhook with defaultAllow: true, a webhook with failurePolicy: Ignore); " +
        "the apiserver's /metrics would tell them apart but could not be read (GET /metrics answered 403: these credentials may not `get` /metrics)",
    ]);
  });

  it("everything admitted and no mechanism in the metrics: nothing restricts images", () => {
    expect(texts(report(answered(allAdmitted), metrics({})))[0]).toMatch(/^hole: no enforcement: .*; the apiserver's metrics show no ImagePolicyWebhook and no webhook failing open: nothing restricts images here$/);
  });

  it("ImagePolicyWebhook with failed backend calls: the backend fails open", () => {
    const r = report(answered(allAdmitted), metrics({ imagePolicyWebhookEnabled: true, outgoingPosts: [{ host: "10.0.0.9:8443", code: "<error>", count: 10 }] }));
    expect(texts(r)).toEqual([
      "hole: untrusted image evil.example/imagepolicy-lab-probe:1 admitted (201): the ImagePolicyWebhook backend fails open: during the probe 10 calls to 10.0.0.9:8443 got no answer (code <error>) (rest_client_requests_total), and the pods were admitted anyway (defaultAllow: true)",
    ]);
  });

  it("a webhook counted as failing open: says which and how often", () => {
    const r = report(answered(allAdmitted), metrics({ webhookFailOpen: { "images.example.com": 12 } }));
    expect(texts(r)[0]).toBe(
      'hole: untrusted image evil.example/imagepolicy-lab-probe:1 admitted (201): the backend fails open: during the probe admission webhook "images.example.com" failed 12 times and the apiserver admitted anyway (failurePolicy: Ignore; apiserver_admission_webhook_fail_open_count)',
    );
  });

  it("a prefix check: each admitted spoof named with why; the rest refused", () => {
    const prefix = (id: string, image: string): Reply => (image.startsWith("trusted.example") ? { admitted: 201 } : ipwDenied(id, image));
    const r = report(answered(prefix));
    expect(r.exitCode).toBe(1);
    expect(texts(r).filter((t) => t.startsWith("hole"))).toEqual([
      'hole: spoofed image trusted.example.evil.example/imagepolicy-lab-probe:1 admitted (201): the check matches the trusted name as a string prefix, without the "/" that ends a registry (prefix matching)',
      "hole: spoofed image trusted.example-evil/imagepolicy-lab-probe:1 admitted (201): the check matches the trusted name as a string prefix, without a component boundary (prefix matching)",
      "hole: spoofed image trusted.example:5000/imagepolicy-lab-probe:1 admitted (201): the same host on another port is another registry; the check ignores the port or matches by prefix",
    ]);
  });

  it("Docker Hub short names, init and ephemeral containers: each hole in its own words", () => {
    const leaky = (id: string, image: string): Reply => (["docker-hub-short", "init-container", "ephemeral-untrusted"].includes(id) ? { admitted: 201 } : enforcingIpw(id, image));
    expect(texts(report(answered(leaky, { pod: true }))).filter((t) => t.startsWith("hole"))).toEqual([
      "hole: Docker Hub name nginx:1.27 admitted (201), though it means docker.io/library/nginx:1.27, and docker.io is not on the trust list [trusted.example]: the check does not read short names the way the container runtime does",
      "hole: untrusted init container evil.example/imagepolicy-lab-probe:1 beside a trusted container admitted (201): init containers are not checked",
      "hole: untrusted ephemeral container evil.example/imagepolicy-lab-probe:debug-abc123 admitted (201) on pod web-0: pods/ephemeralcontainers is not checked, so `kubectl debug` runs any image",
    ]);
  });

  it("a backend failing closed: the trusted image refused is a problem (exit 1), the refusals elsewhere still keep images out", () => {
    const down = (): Reply => ({ refused: 403, message: 'pods "p" is forbidden: Post "https://10.0.0.9:8443/review?timeout=30s": dial tcp 10.0.0.9:8443: connect: connection refused' });
    const r = report(answered((id, image) => (id === "deployment" || id === "job" ? { admitted: 201 } : down())));
    expect(r.totals).toMatchObject({ trustedRefused: 1, holes: 0 });
    expect(texts(r)[0]).toBe(
      'problem: trusted image trusted.example/app:1.0 refused (403): ImagePolicyWebhook cannot be asked and fails closed, so every pod is refused: Post "https://10.0.0.9:8443/review?timeout=30s": dial tcp 10.0.0.9:8443: connect: connection refused',
    );
    expect(r.exitCode).toBe(1);
  });

  it("RBAC: one line per missing permission, exit 2", () => {
    const r = report(answered((id) => (id === "deployment" ? rbacDenied("deployments.apps") : id === "job" ? rbacDenied("jobs.batch") : rbacDenied("pods"))));
    expect(r.exitCode).toBe(2);
    expect(texts(r)).toEqual([
      'cannot-run: RBAC forbids the probe (10 cases): 403 pods is forbidden: User "system:serviceaccount:apps:p" cannot create resource "pods" in API group "" in the namespace "apps"; grant the Role in README "Check a cluster in CI"',
      'cannot-run: RBAC forbids the probe: 403 deployments.apps is forbidden: User "system:serviceaccount:apps:p" cannot create resource "deployments" in API group "" in the namespace "apps"; grant the Role in README "Check a cluster in CI"',
      'cannot-run: RBAC forbids the probe: 403 jobs.batch is forbidden: User "system:serviceaccount:apps:p" cannot create resource "jobs" in API group "" in the namespace "apps"; grant the Role in README "Check a cluster in CI"',
    ]);
  });

  it("a hole outranks what could not be asked: exit 1", () => {
    const r = report(answered((id, image) => (id === "spoof-hyphen" ? { admitted: 201 } : id === "job" ? rbacDenied("jobs.batch") : enforcingIpw(id, image))));
    expect(r.exitCode).toBe(1);
    expect(r.findings.map((f) => f.severity)).toEqual(["hole", "cannot-run", "note"]);
  });

  it("a webhook without dry-run support: exit 2 with what to change", () => {
    const r = report(answered((id) => (id === "trusted" ? { admitted: 201 } : { refused: 400, message: 'admission webhook "validation.gatekeeper.sh" does not support dry run' })));
    expect(r.exitCode).toBe(2);
    expect(texts(r)[0]).toBe(
      'cannot-run: admission webhook "validation.gatekeeper.sh" does not support dry run (400): it refuses every server-side dry run, whatever the image, so the probe cannot see its verdicts; set its sideEffects to None or NoneOnDryRun (11 cases)',
    );
  });

  it("a policy in Warn mode: admitted with a warning is still a hole, and the warning is quoted", () => {
    const warn = (id: string): Reply => ({ admitted: 201, warnings: id === "trusted" ? undefined : ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': untrusted"] });
    const r = report(answered(warn), UNREADABLE);
    expect(r.exitCode).toBe(1);
    expect(texts(r)).toContain(
      "note: evil.example/imagepolicy-lab-probe:1 and 10 more untrusted cases admitted with a warning only (Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': untrusted): a policy in Warn or Audit mode does not enforce",
    );
  });
});
