// ComparisonReports for the comparison tests (comparison.test.ts, html.browser.test.ts): three runs
// derived from the real kind run in testdata/ by editing copies, as a webhook and a VAP run would
// differ (fewer scenarios, other codes and messages, no journal under VAP, response times).
import type { MechanismName } from "../mechanism/names.ts";
import { totals, type RunReport } from "../scenario/result.ts";
import type { ComparisonReport } from "./comparison.ts";
import { kindCatalogReport } from "./testdata/kind-catalog.ts";

export const HOSTILE = `<script>alert("vap")</script> & denied`;
export const WEBHOOK_DENIAL = `admission webhook "images.imagepolicy-lab.dev" denied the request: image untrusted.example/app:1.0 is not trusted`;
/** Scenarios the webhook run leaves out (as if they did not apply to it). */
export const NOT_FOR_WEBHOOK = /ttl|cache/;
export const VAP_SCENARIOS = ["untrusted-image-denied", "trusted-image-allowed", "registry-spoofing", "mixed-containers-denied"];

/**
 * Three runs derived from the real kind run (testdata): every request step took 20 ms under
 * ImagePolicyWebhook except registry-spoofing's five (12, 3, 50, 7, 9); the webhook run lacks the
 * TTL and cache scenarios, refuses untrusted-image-denied with its own message and got a 500 for
 * fail-closed-http-500 (failed); the VAP run has four scenarios plus one of its own, no journal, a
 * hostile refusal message and one status not observed.
 */
export function comparisonRuns(): RunReport[] {
  const ipw = kindCatalogReport();
  delete (ipw as Partial<{ schemaVersion: number }>).schemaVersion;
  ipw.mechanism = "imagepolicywebhook";
  for (const s of ipw.scenarios) for (const st of s.steps) if (st.response) st.response.durationMs = 20;
  const spoof = ipw.scenarios.find((s) => s.name === "registry-spoofing")!;
  [12, 3, 50, 7, 9].forEach((ms, i) => (spoof.steps[i]!.response!.durationMs = ms));

  const webhook = derive(ipw, "webhook", (r) => {
    r.scenarios = r.scenarios.filter((s) => !NOT_FOR_WEBHOOK.test(s.name));
    r.scenarios.find((s) => s.name === "untrusted-image-denied")!.steps[0]!.response!.message = WEBHOOK_DENIAL;
    const http500 = r.scenarios.find((s) => s.name === "fail-closed-http-500")!;
    http500.steps[0]!.response = { code: 500, allowed: false, message: "Internal error occurred: failed calling webhook", durationMs: 20 };
    http500.verdict = "fail";
  });

  const vap = derive(ipw, "vap", (r) => {
    r.scenarios = r.scenarios.filter((s) => VAP_SCENARIOS.includes(s.name));
    for (const s of r.scenarios) for (const st of s.steps) st.journal = [];
    const at = (name: string) => r.scenarios.find((s) => s.name === name)!;
    at("untrusted-image-denied").steps[0]!.response = { code: 403, allowed: false, message: HOSTILE, durationMs: 40 };
    at("trusted-image-allowed").steps[0]!.response!.durationMs = 8;
    at("mixed-containers-denied").steps[0]!.response!.durationMs = 20;
    at("registry-spoofing").steps[1]!.response!.code = undefined;
    // A scenario only VAP plays, right after trusted-image-allowed.
    const own = structuredClone(at("trusted-image-allowed"));
    own.name = "vap-message-expression";
    r.scenarios.splice(r.scenarios.indexOf(at("trusted-image-allowed")) + 1, 0, own);
  });
  return [ipw, webhook, vap];
}

function derive(base: RunReport, mechanism: MechanismName, edit: (r: RunReport) => void): RunReport {
  const r = structuredClone(base);
  r.mechanism = mechanism;
  edit(r);
  r.totals = totals(r.scenarios);
  return r;
}

export function comparisonFixture(over: Partial<ComparisonReport> = {}): ComparisonReport {
  const rs = comparisonRuns();
  return {
    tool: { name: "imagepolicy-lab", version: "0.1.0" },
    startedAt: "2026-11-30T10:40:00.000Z",
    finishedAt: "2026-11-30T10:49:00.000Z",
    durationMs: 540_000,
    provider: "kind",
    k8sVersion: "1.36.1",
    runs: rs,
    ...over,
  };
}
