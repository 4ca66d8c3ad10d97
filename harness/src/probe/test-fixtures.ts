// Test-only: probe results built from the real plan and answers shaped like the apiserver's, so the
// judge and the renderers are tested on what a run produces. Nothing in the library imports this.
import { classifyAnswer } from "./classify.ts";
import { exitCodeFor, findingsFor, judgeCases, probeTotals, type AnsweredCase } from "./judge.ts";
import type { MetricsEvidence, ProbeReport } from "./model.ts";
import { planProbe } from "./plan.ts";

export const NAMESPACE = "apps";

/** An answer as (code, message) for a refusal, or a status for an admission. */
export type Reply = { admitted: number; warnings?: string[] } | { refused: number; message: string };

/** Messages in the apiserver's words for a case's images. */
export const ipwDenied = (name: string, image: string): Reply => ({ refused: 403, message: `pods "${name}" is forbidden: image policy webhook backend denied one or more images: ${image}: registry not in allow.registries [trusted.example]` });
export const rbacDenied = (resource: string): Reply => ({ refused: 403, message: `${resource} is forbidden: User "system:serviceaccount:apps:p" cannot create resource "${resource.split(".")[0]}" in API group "" in the namespace "apps"` });

/** Plans for trust [trusted.example] (and `--pod web-0` when `pod`), answering each case with `reply(id, image)`. */
export function answered(reply: (id: string, image: string) => Reply, o: { pod?: boolean } = {}): AnsweredCase[] {
  return planProbe({ trust: ["trusted.example"], trustedImages: ["trusted.example/app:1.0"], nonce: "abc123", pod: o.pod ? "web-0" : undefined }).map((c) => {
    const r = reply(c.id, c.initImages?.[0] ?? c.images[0]!);
    const response = "admitted" in r ? { code: r.admitted, allowed: true, durationMs: 3, ...(r.warnings ? { warnings: r.warnings } : {}) } : { code: r.refused, allowed: false, message: r.message, durationMs: 3 };
    return {
      ...c,
      request: { kind: c.kind, name: `ipl-probe-abc123-${c.id}`, namespace: NAMESPACE, dryRun: "All" as const, ...(c.kind === "EphemeralContainer" ? { pod: "web-0" } : {}) },
      response,
      answer: classifyAnswer(response),
    };
  });
}

/** What an enforcing ImagePolicyWebhook answers: trusted admitted, the rest refused, workloads accepted. */
export const enforcingIpw = (id: string, image: string): Reply =>
  id === "trusted" || id === "ephemeral-trusted" || id === "deployment" || id === "job" ? { admitted: id === "ephemeral-trusted" ? 200 : 201 } : ipwDenied(`ipl-probe-abc123-${id}`, image);

export const UNREADABLE: MetricsEvidence = { readable: false, reason: "GET /metrics answered 403: these credentials may not `get` /metrics" };

export function report(cases: AnsweredCase[], metrics: MetricsEvidence = UNREADABLE): ProbeReport {
  const results = judgeCases(cases);
  const findings = findingsFor(results, metrics, NAMESPACE);
  return {
    tool: { name: "imagepolicy-lab", version: "0.0.0-test" },
    startedAt: "2026-11-30T12:00:00.000Z",
    finishedAt: "2026-11-30T12:00:01.000Z",
    durationMs: 1000,
    target: { kubeconfig: "/home/ci/kubeconfig", context: "ci", server: "https://10.0.0.1:6443", namespace: NAMESPACE, k8sVersion: "v1.36.1" },
    trust: ["trusted.example"],
    trustedImages: ["trusted.example/app:1.0"],
    nonce: "abc123",
    cases: results,
    findings,
    metrics,
    totals: probeTotals(results),
    exitCode: exitCodeFor(findings, undefined),
  };
}
