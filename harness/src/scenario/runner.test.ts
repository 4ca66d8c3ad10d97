import { describe, expect, it } from "vitest";
import type { JournalEntry } from "../../../webhook-stub/src/types.ts";
import { DEFAULT_PROFILE, type AdmissionProfile } from "../profile/profile.ts";
import type { LoadedScenario } from "./load.ts";
import { ApiException, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { StartedLab } from "../lab/lab.ts";
import { exitCodeFor, type ScenarioResult, type StepResult, type Verdict } from "./result.ts";
import {
  CONFLICT_ATTEMPTS,
  isIsolatable,
  planByProfile,
  replaceOnConflict,
  runScenarios,
  runUnavoidableWaitMs,
  scenarioProfile,
  scenarioVerdict,
  scheduleGroup,
  skipReason,
  stepUnavoidableWaitMs,
  unavoidableWall,
  type RunEvent,
} from "./runner.ts";
import type { ScenarioDoc, StepDoc } from "./schema.ts";

function scenario(name: string, profile?: Partial<AdmissionProfile>, more: Partial<ScenarioDoc> = {}): LoadedScenario {
  const doc = { apiVersion: "imagepolicy-lab.dev/v1alpha1", kind: "Scenario", name, description: name, profile, steps: [{ wait: 1 }], ...more } as ScenarioDoc;
  return { file: `/s/${name}.yaml`, doc };
}

/** A kubeconfig for an apiserver that is not there: every request fails at once with ECONNREFUSED. */
function unreachableKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
    users: [{ name: "u" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

const OPEN = { defaultAllow: true };
const NO_CACHE = { allowTTL: -1, denyTTL: -1 };

/** Plan as `profile-label: names`, with the default profile labelled "default". */
function plan(scenarios: LoadedScenario[], current?: AdmissionProfile): string[] {
  return planByProfile(scenarios, current).map((g) => {
    const diff = Object.entries(g.profile).filter(([k, v]) => DEFAULT_PROFILE[k as keyof AdmissionProfile] !== v);
    return `${diff.length ? diff.map(([k, v]) => `${k}=${v}`).join(",") : "default"}: ${g.scenarios.map((s) => s.doc.name).join(" ")}`;
  });
}

describe("scenarioProfile", () => {
  it("fills missing fields with the lab defaults", () => {
    expect(scenarioProfile(scenario("a").doc)).toEqual(DEFAULT_PROFILE);
    expect(scenarioProfile(scenario("a", { denyTTL: 3 }).doc)).toEqual({ ...DEFAULT_PROFILE, denyTTL: 3 });
  });
});

describe("planByProfile", () => {
  const list = [
    scenario("a"),
    scenario("b", OPEN),
    scenario("c", NO_CACHE),
    scenario("d", { ...DEFAULT_PROFILE }),
    scenario("e", OPEN),
    scenario("f", { allowTTL: 50 }), // = default, written out partly
  ];

  it("groups equal profiles (however they are written), in order of first appearance, scenarios in file order", () => {
    expect(plan(list)).toEqual(["default: a d f", "defaultAllow=true: b e", "allowTTL=-1,denyTTL=-1: c"]);
  });

  it("puts the lab's current profile first and keeps the rest in order", () => {
    expect(plan(list, { ...DEFAULT_PROFILE, ...NO_CACHE })).toEqual(["allowTTL=-1,denyTTL=-1: c", "default: a d f", "defaultAllow=true: b e"]);
    expect(plan(list, { ...DEFAULT_PROFILE, ...OPEN })).toEqual(["defaultAllow=true: b e", "default: a d f", "allowTTL=-1,denyTTL=-1: c"]);
  });

  it("keeps the order when the current profile is already first or not used at all", () => {
    const plain = plan(list);
    expect(plan(list, DEFAULT_PROFILE)).toEqual(plain);
    expect(plan(list, { ...DEFAULT_PROFILE, retryBackoff: 1 })).toEqual(plain);
  });

  it("loses and duplicates no scenario", () => {
    const names = planByProfile(list, { ...DEFAULT_PROFILE, ...OPEN }).flatMap((g) => g.scenarios.map((s) => s.doc.name));
    expect(names.sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("returns nothing for no scenarios", () => {
    expect(planByProfile([], DEFAULT_PROFILE)).toEqual([]);
  });
});

describe("runScenarios when a profile cannot be applied", () => {
  it("marks that group's scenarios as errors with the reason and still plays the other groups", async () => {
    const kc = unreachableKubeConfig();
    let profile: AdmissionProfile = { ...DEFAULT_PROFILE };
    const lab = {
      provider: { name: "local" },
      mechanism: { name: "imagepolicywebhook", setNamespacePolicy: async () => {} },
      k8sVersion: "1.36.1",
      get profile() {
        return profile;
      },
      cluster: { capabilities: {} },
      kubeConfig: () => kc,
      applyProfile: async (next: AdmissionProfile) => {
        if (next.defaultAllow) throw new Error("kube-apiserver exited (code 1)");
        profile = next;
        return { elapsedMs: 1 };
      },
    } as unknown as StartedLab;
    const report = await runScenarios({ lab, scenarios: [scenario("opens", OPEN), scenario("waits")] });
    const byName = Object.fromEntries(report.scenarios.map((r) => [r.name, r]));
    expect(byName.opens).toMatchObject({ verdict: "error" });
    expect(byName.opens!.reason).toContain("failed to apply the profile defaultAllow=true");
    expect(byName.opens!.reason).toContain("kube-apiserver exited (code 1)");
    // The default-profile group was still played (it fails on its own: there is no apiserver here).
    expect(byName.waits!.reason ?? "").not.toContain("failed to apply the profile");
    expect(byName.waits!.namespace).toMatch(/^ipl-waits-/);
    expect(exitCodeFor(report)).toBe(2);
  });
});

// Scenario shapes the scheduler tells apart.
const slow = { slow: true };
const withFault = (fault: string) => ({ backend: { fault } });
const laterFault = (fault: string) => ({ steps: [{ wait: 1 }, { setBackend: { fault } }] as StepDoc[] });
const names = (list: LoadedScenario[]) => list.map((s) => s.doc.name);

describe("isIsolatable", () => {
  it.each<[string, Partial<ScenarioDoc>, boolean]>([
    ["no backend block", {}, true],
    ["a policy only", { backend: { trust: ["trusted.example"] } }, true],
    ["status:500", withFault("status:500"), true],
    ["hang", withFault("hang"), true],
    ["first:3:delay:300", withFault("first:3:delay:300"), true],
    ["refuse", withFault("refuse"), false],
    ["bad-cert", withFault("bad-cert"), false],
    ["refuse, padded", withFault(" refuse "), false],
    ["bad-cert set by a later step", laterFault("bad-cert"), false],
    ["refuse set by a later step", laterFault("refuse"), false],
    ["healthy set by a later step", laterFault("healthy"), true],
  ])("%s", (_label, more, want) => {
    expect(isIsolatable(scenario("x", undefined, more).doc)).toBe(want);
  });

  // OPA's faults (its process stopped, its webhook pointed at an undefined decision) act for everyone.
  it.each<[string, Partial<ScenarioDoc>, boolean]>([
    ["a policy only", { backend: { trust: ["trusted.example"] } }, true],
    ["status:404", withFault("status:404"), false],
    ["refuse set by a later step", laterFault("refuse"), false],
    ["healthy set by a later step", laterFault("healthy"), true],
  ])("with global faults (opa): %s", (_label, more, want) => {
    expect(isIsolatable(scenario("x", undefined, more).doc, { globalFaults: true })).toBe(want);
  });
});

describe("scheduleGroup", () => {
  const group = [
    scenario("plain"),
    scenario("refused", undefined, withFault("refuse")),
    scenario("slow-hang", undefined, { ...slow, ...withFault("hang") }),
    scenario("errors", undefined, withFault("first:5:status:500")),
    scenario("slow-refused", undefined, { ...slow, ...withFault("refuse") }),
    scenario("later-bad-cert", undefined, laterFault("bad-cert")),
    scenario("slow-delay", undefined, { ...slow, ...withFault("delay:20000") }),
  ];

  it("runs connection-level faults alone, slow scoped scenarios alongside, the rest one by one; each in file order", () => {
    const s = scheduleGroup(group, { scopes: true });
    expect({ alone: names(s.alone), background: names(s.background), foreground: names(s.foreground) }).toEqual({
      alone: ["refused", "slow-refused", "later-bad-cert"],
      background: ["slow-hang", "slow-delay"],
      foreground: ["plain", "errors"],
    });
  });

  it("with global faults (opa) any fault but healthy runs alone", () => {
    const s = scheduleGroup(group, { scopes: true, globalFaults: true });
    expect(s.background).toEqual([]);
    expect(names(s.foreground)).toEqual(["plain"]);
  });

  it("plays nothing alongside without namespace scopes (no stub): slow scenarios wait in the foreground", () => {
    const s = scheduleGroup(group, { scopes: false });
    expect(s.background).toEqual([]);
    expect(names(s.alone)).toEqual(["refused", "slow-refused", "later-bad-cert"]);
    expect(names(s.foreground)).toEqual(["plain", "slow-hang", "errors", "slow-delay"]);
  });

  it.each([true, false])("loses and duplicates no scenario (scopes %s)", (scopes) => {
    const s = scheduleGroup(group, { scopes });
    expect([...s.alone, ...s.background, ...s.foreground].map((x) => x.doc.name).sort()).toEqual(names(group).sort());
  });
});

describe("runScenarios follows the schedule", () => {
  it("plays the scenarios that must run alone first and one at a time, then starts the slow ones, then the rest; the report keeps file order", async () => {
    // No apiserver answers, so each scenario errors at its first request: the order of events is
    // what the runner scheduled. A stub is present (so namespace scopes exist) but never reached.
    const lab = {
      provider: { name: "local" },
      mechanism: { name: "imagepolicywebhook", setNamespacePolicy: async () => {} },
      k8sVersion: "1.36.1",
      profile: { ...DEFAULT_PROFILE },
      cluster: { capabilities: {} },
      stub: {},
      kubeConfig: () => unreachableKubeConfig(),
      applyProfile: async () => ({ elapsedMs: 0 }),
    } as unknown as StartedLab;
    const scenarios = [
      scenario("plain"),
      scenario("slow-hang", undefined, { ...slow, ...withFault("hang") }),
      scenario("refused", undefined, withFault("refuse")),
      scenario("errors", undefined, withFault("status:500")),
      scenario("bad-cert", undefined, withFault("bad-cert")),
    ];
    const events: string[] = [];
    const report = await runScenarios({
      lab,
      scenarios,
      onEvent: (e: RunEvent) => {
        if (e.type === "scenario-start") events.push(`start ${e.name}`);
        if (e.type === "scenario-end") events.push(`end ${e.result.name}`);
      },
    });
    expect(events.slice(0, 4)).toEqual(["start refused", "end refused", "start bad-cert", "end bad-cert"]);
    expect(events.filter((e) => e.startsWith("start")).slice(2)).toEqual(["start slow-hang", "start plain", "start errors"]);
    // The foreground plays one at a time.
    const i = events.indexOf("start plain");
    expect(events.indexOf("end plain")).toBeLessThan(events.indexOf("start errors"));
    expect(i).toBeGreaterThan(events.indexOf("start slow-hang"));
    expect(report.scenarios.map((r) => r.name)).toEqual(names(scenarios));
    expect(report.scenarios.map((r) => r.verdict)).toEqual(["error", "error", "error", "error", "error"]);
  });
});

describe("skipReason", () => {
  const lab = { provider: "local", capabilities: { auditLog: true, controllers: false }, stub: true };
  const noStub = { ...lab, stub: false };
  const step = (expect: NonNullable<StepDoc["expect"]>): Partial<ScenarioDoc> => ({ steps: [{ createPod: { images: ["a:1"] }, expect }] as StepDoc[] });

  it.each<[string, Partial<ScenarioDoc>, typeof lab, string | undefined]>([
    ["nothing required", {}, lab, undefined],
    ["a capability the provider has", { requires: ["auditLog"] }, lab, undefined],
    ["a capability the provider lacks", { requires: ["auditLog", "controllers"] }, lab, "the local provider cannot show controllers"],
    ["a backend block, stub present", withFault("hang"), lab, undefined],
    ["a backend block, no stub", withFault("hang"), noStub, "needs the stub backend (an external backend is in use)"],
    ["setBackend, no stub", laterFault("healthy"), noStub, "needs the stub backend (an external backend is in use)"],
    ["backend call counts, no stub", step({ backendCalls: 0 }), noStub, "needs the stub backend (an external backend is in use)"],
    ["what the backend received, no stub", step({ received: { images: ["a:1"] } }), noStub, "needs the stub backend (an external backend is in use)"],
    ["call gaps, no stub", step({ callGapsGrow: true }), noStub, "needs the stub backend (an external backend is in use)"],
    ["only the API's answer, no stub", step({ allowed: false, code: 403 }), noStub, undefined],
  ])("%s", (_label, more, where, want) => {
    expect(skipReason(scenario("x", undefined, more).doc, where)).toBe(want);
  });
});

function stepResult(verdict: Verdict, over: Partial<StepResult> = {}): StepResult {
  return { index: 0, name: "s", action: "createPod", journal: [], checks: [], attempts: 1, startedAtMs: 0, durationMs: 0, unavoidableWaitMs: 0, verdict, ...over };
}

describe("scenarioVerdict", () => {
  it.each<[Verdict[], Verdict]>([
    [["pass"], "pass"],
    [["pass", "pass", "pass"], "pass"],
    [["pass", "fail", "pass"], "fail"],
    [["fail", "error"], "error"],
    [["error", "fail"], "error"],
    [["pass", "error"], "error"],
  ])("%j -> %s", (steps, want) => {
    expect(scenarioVerdict(steps.map((v) => stepResult(v)))).toBe(want);
  });
});

function review(atMs: number, fault?: string): JournalEntry {
  return { seq: 1, time: "2026-01-01T00:00:00.000Z", atMs, method: "POST", url: "/review", images: ["a:1"], namespace: "n", annotations: {}, outcome: fault ? "fault" : "allowed", status: 200, latencyMs: 1, fault };
}

describe("stepUnavoidableWaitMs", () => {
  const create: StepDoc = { createPod: { images: ["a:1"] } };
  const repeat: StepDoc = { createPod: { images: ["a:1"] }, repeat: { untilExpected: true, timeoutMs: 6000 } };
  it.each<[string, StepDoc, number, JournalEntry[], number, number]>([
    ["a wait step is all wait", { wait: 2000 }, 2003, [], 0, 2003],
    ["a repeat waited for all but its last attempt", repeat, 2500, [review(0), review(2400)], 40, 2460],
    ["one review, no fault: nothing to wait for", create, 35, [review(0)], 35, 0],
    ["no reviews (another backend): nothing to wait for", create, 35, [], 35, 0],
    ["retries: the span from the first review to the last", create, 900, [0, 100, 250, 475, 813].map((t) => review(t, "status:500")), 900, 813],
    ["a hung backend: the whole step", create, 30_050, [review(0, "hang")], 30_050, 30_050],
    ["a hung backend for the first calls: the whole step", create, 30_200, [review(0, "first:1:hang"), review(30_100)], 30_200, 30_200],
    ["a delay: its length per call", create, 520, [review(0, "delay:500")], 520, 500],
    ["delays and retry gaps, never more than the step took", create, 700, [review(0, "first:2:delay:300"), review(310, "first:1:delay:300")], 700, 700],
  ])("%s", (_label, step, durationMs, journal, lastAttemptMs, want) => {
    expect(stepUnavoidableWaitMs(step, { durationMs, journal }, lastAttemptMs)).toBe(want);
  });
});

describe("unavoidableWall and the run's unavoidable wait", () => {
  // A step's wait is the end of the step: [end - wait, end].
  const waited = (startedAtMs: number, durationMs: number, unavoidableWaitMs: number) => stepResult("pass", { startedAtMs, durationMs, unavoidableWaitMs });
  const result = (...steps: StepResult[]) => ({ steps }) as ScenarioResult;
  const results = [
    result(waited(0, 1000, 1000), waited(3000, 500, 200)), // [0, 1000], [3300, 3500]
    result(waited(500, 1000, 1000)), // [500, 1500]: overlaps the first, played alongside
    result(waited(90, 110, 100), waited(4000, 50, 0)), // [100, 200]: inside the first; no wait
  ];

  it("counts waits that ran at the same time once (wall time, not the sum)", () => {
    expect(unavoidableWall(results)).toBe(1500 + 200);
  });

  it("counts separate waits in full", () => {
    expect(unavoidableWall([result(waited(0, 100, 100)), result(waited(200, 100, 50))])).toBe(150);
    expect(unavoidableWall([])).toBe(0);
  });

  it("adds the apiserver restarts of profile switches", () => {
    expect(runUnavoidableWaitMs([{ profile: DEFAULT_PROFILE, elapsedMs: 2100 }, { profile: DEFAULT_PROFILE, elapsedMs: 900 }], results)).toBe(3000 + 1700);
  });
});

describe("replaceOnConflict", () => {
  /** A pod store whose resourceVersion moves on every read, as a kubelet's status updates make it. */
  function pods() {
    let version = 0;
    return {
      reads: 0,
      async readPod(namespace: string, name: string): Promise<V1Pod> {
        this.reads++;
        return { metadata: { name, namespace, resourceVersion: String(++version) }, spec: { containers: [{ name: "c", image: "a:1" }] } };
      },
    };
  }
  const status = (code: number, message: string) => new ApiException(code, "status", JSON.stringify({ kind: "Status", code, message }), {});
  const conflict = () => status(409, 'Operation cannot be fulfilled on pods "p": the object has been modified');

  it("reads the pod again and retries after a 409, and reports the status that finally came back", async () => {
    const k8s = pods();
    const sent: string[] = [];
    const r = await replaceOnConflict(k8s, "ns", "p", async (pod) => {
      sent.push(pod.metadata!.resourceVersion!);
      if (sent.length < 3) throw conflict();
      return { httpStatusCode: 200 };
    });
    expect(sent).toEqual(["1", "2", "3"]);
    expect(r).toMatchObject({ attempts: 3, outcome: { code: 200, allowed: true } });
    expect(r.pod.metadata!.resourceVersion).toBe("3");
  });

  it(`gives up after ${CONFLICT_ATTEMPTS} conflicts and reports the 409 with its message`, async () => {
    const k8s = pods();
    const r = await replaceOnConflict(k8s, "ns", "p", async () => {
      throw conflict();
    });
    expect(k8s.reads).toBe(CONFLICT_ATTEMPTS);
    expect(r.outcome).toMatchObject({ code: 409, allowed: false, message: expect.stringContaining("the object has been modified") });
  });

  it("does not retry a denial", async () => {
    const k8s = pods();
    const r = await replaceOnConflict(k8s, "ns", "p", async () => {
      throw status(403, "image policy webhook backend denied one or more images");
    });
    expect(k8s.reads).toBe(1);
    expect(r.outcome).toMatchObject({ code: 403, allowed: false, message: "image policy webhook backend denied one or more images" });
  });

  it("reports an allowed replace without a received status as not observed, not as 200", async () => {
    const r = await replaceOnConflict(pods(), "ns", "p", async () => ({}));
    expect(r.outcome.allowed).toBe(true);
    expect(r.outcome.code).toBeUndefined();
  });
});

describe("withSystemNamespaces", () => {
  it("keeps the default policy's kube-system rules in a scenario's global policy; the policy's own namespace rules win", async () => {
    const { withSystemNamespaces } = await import("./runner.ts");
    const { DEFAULT_POLICY, trustPolicy } = await import("../../../webhook-stub/src/policy.ts");
    const p = withSystemNamespaces(trustPolicy(["trusted.example"]));
    expect(p.allowRegistries).toEqual(trustPolicy(["trusted.example"]).allowRegistries);
    expect(p.namespaces["kube-system"]).toEqual(DEFAULT_POLICY.namespaces["kube-system"]);
    const own = { ...trustPolicy(["trusted.example"]), namespaces: { "kube-system": trustPolicy(["only.example"]) } };
    expect(withSystemNamespaces(own as never).namespaces["kube-system"]).toEqual(own.namespaces["kube-system"]);
  });
});
