// A realistic RunReport for the report tests: one scenario per verdict, two profiles, and journal
// entries full of the characters that break naive renderers (markup, `]]>`, control characters,
// lone surrogates, wide and combining unicode).
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import type { AdmissionProfile } from "../profile/profile.ts";
import { totals, type RunReport, type ScenarioResult, type StepResult } from "../scenario/result.ts";

export const FAIL_CLOSED: AdmissionProfile = { defaultAllow: false, allowTTL: 50, denyTTL: 50, retryBackoff: 500 };
export const SHORT_TTL: AdmissionProfile = { defaultAllow: false, allowTTL: 2, denyTTL: 2, retryBackoff: 500 };

/** Everything hostile at once; appears in a journal reason, an annotation and a response message. */
export const NASTY = `<script>alert("x")</script> & ]]> \u0000\u0001\u001b[31mred\u001b[0m\u007f tab\there 镜像 🚀 e\u0301 \ud800 end`;

export function entry(over: Partial<JournalEntry> = {}): JournalEntry {
  return {
    seq: 1,
    time: "2025-06-01T10:00:01.000Z",
    atMs: 1000,
    method: "POST",
    url: "/review?timeout=30s",
    images: ["nginx:latest"],
    namespace: "ipl-deny-latest-1a2b",
    annotations: {},
    outcome: "denied",
    reason: "image nginx:latest uses the latest tag",
    status: 200,
    latencyMs: 2.4,
    ...over,
  };
}

function step(over: Partial<StepResult> = {}): StepResult {
  return {
    index: 0,
    name: "create pod p0 [nginx:latest]",
    action: "createPod",
    request: { kind: "Pod", name: "p0", namespace: "ipl-deny-latest-1a2b", images: ["nginx:latest"], dryRun: true },
    response: { code: 403, allowed: false, message: 'pods "p0" is forbidden: image policy webhook backend denied one or more images: image nginx:latest uses the latest tag' },
    journal: [entry()],
    checks: [
      { what: "allowed", expected: "denied", observed: "denied (403)", ok: true },
      { what: "code", expected: "403", observed: "403", ok: true },
      { what: "backend calls", expected: "1", observed: "1", ok: true },
    ],
    attempts: 1,
    startedAtMs: 100,
    durationMs: 412,
    unavoidableWaitMs: 0,
    verdict: "pass",
    ...over,
  };
}

const pass: ScenarioResult = {
  name: "deny-latest-tag",
  file: "scenarios/deny-latest-tag.yaml",
  description: "A pod using :latest is denied by the backend and the apiserver passes the reason through.",
  specRef: "https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#imagepolicywebhook",
  profile: FAIL_CLOSED,
  namespace: "ipl-deny-latest-1a2b",
  verdict: "pass",
  durationMs: 1234,
  unavoidableWaitMs: 0,
  steps: [step()],
};

const fail: ScenarioResult = {
  name: `allow-cache <ttl> & "quotes" 镜像`,
  file: "scenarios/allow-cache.yaml",
  description: `Second create within allowTTL is served from the cache: ${NASTY}`,
  specRef: "javascript:alert(1)",
  profile: SHORT_TTL,
  namespace: "ipl-allow-cache-9f9f",
  verdict: "fail",
  durationMs: 3456.7,
  unavoidableWaitMs: 2000,
  steps: [
    step({
      index: 0,
      name: "create pod p0 [registry.local/app:1.0]",
      request: { kind: "Pod", name: "p0", namespace: "ipl-allow-cache-9f9f", images: ["registry.local/app:1.0"], dryRun: true },
      response: { code: 201, allowed: true },
      journal: [entry({ seq: 7, images: ["registry.local/app:1.0"], namespace: "ipl-allow-cache-9f9f", outcome: "allowed", reason: undefined })],
      checks: [
        { what: "allowed", expected: "allowed", observed: "allowed", ok: true },
        { what: "backend calls", expected: "1", observed: "1", ok: true },
      ],
    }),
    step({
      index: 1,
      name: "create pod p1 again within allowTTL",
      request: { kind: "Pod", name: "p1", namespace: "ipl-allow-cache-9f9f", images: ["registry.local/app:1.0"], dryRun: true },
      response: { code: 201, allowed: true, message: NASTY },
      journal: [
        entry({
          seq: 8,
          atMs: 2400,
          images: ["registry.local/app:1.0"],
          namespace: "ipl-allow-cache-9f9f",
          annotations: { "imagepolicy.example.com/break-glass": NASTY },
          outcome: "allowed",
          reason: NASTY,
          auditAnnotations: { decision: "allow ]]> <b>" },
          fault: "first:1:delay:50",
          latencyMs: 51.2,
        }),
      ],
      checks: [
        { what: "allowed", expected: "allowed", observed: "allowed", ok: true },
        { what: "backend calls", expected: "0", observed: "1", ok: false },
        { what: "message", expected: "contains <cached>", observed: NASTY, ok: false },
      ],
      durationMs: 2100,
      unavoidableWaitMs: 2000,
      verdict: "fail",
    }),
  ],
};

const error: ScenarioResult = {
  name: "backend-hang-fail-closed",
  file: "scenarios/backend-hang.yaml",
  description: "The backend hangs; the apiserver gives up after its client timeout and fails closed.",
  profile: FAIL_CLOSED,
  namespace: "ipl-backend-hang-0c0c",
  verdict: "error",
  reason: "failed to create pod p0: connect ECONNREFUSED 127.0.0.1:6443\n    at TCPConnectWrap.afterConnect",
  durationMs: 30_100,
  unavoidableWaitMs: 30_000,
  steps: [
    step({
      index: 0,
      name: "create pod p0 [nginx:1.25]",
      request: { kind: "Pod", name: "p0", namespace: "ipl-backend-hang-0c0c", images: ["nginx:1.25"], dryRun: true },
      response: undefined,
      journal: [entry({ seq: 9, images: ["nginx:1.25"], outcome: "fault", fault: "hang", status: 0, latencyMs: 30_000, reason: undefined })],
      checks: [],
      durationMs: 30_100,
      unavoidableWaitMs: 30_000,
      verdict: "error",
      error: "connect ECONNREFUSED 127.0.0.1:6443",
    }),
  ],
};

const skipped: ScenarioResult = {
  name: "audit-annotations",
  file: "scenarios/audit-annotations.yaml",
  description: "Audit annotations from the backend appear in the audit log.",
  profile: FAIL_CLOSED,
  namespace: "ipl-audit-annotations-dddd",
  verdict: "skipped",
  reason: "the process provider cannot show auditLog",
  durationMs: 0,
  unavoidableWaitMs: 0,
  steps: [],
};

export function fixtureReport(over: Partial<RunReport> = {}): RunReport {
  // A fresh copy each call, so a test that edits the report cannot change another test's input.
  const scenarios = structuredClone([pass, fail, error, skipped]);
  return {
    tool: { name: "imagepolicy-lab", version: "0.1.0" },
    startedAt: "2025-06-01T10:00:00.000Z",
    finishedAt: "2025-06-01T10:01:14.200Z",
    durationMs: 74_200,
    provider: "kind",
    k8sVersion: "v1.33.1",
    labStartMs: 12_000,
    profileSwitches: [{ profile: SHORT_TTL, elapsedMs: 2100 }],
    scenarios,
    totals: totals(scenarios),
    unavoidableWaitMs: 34_100,
    ...over,
  };
}
