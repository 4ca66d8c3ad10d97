// Plays scenarios against a running lab: groups them by admission profile so the apiserver
// restarts as rarely as possible, gives each scenario its own namespace and journal marks, and
// records evidence for every step.
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import type { JournalEntry, StubControl, StubPolicy } from "../../../webhook-stub/src/types.ts";
import type { StartedLab } from "../lab/lab.ts";
import { DEFAULT_PROFILE, profileKey, resolveProfile, type AdmissionProfile } from "../profile/profile.ts";
import { sleep } from "../util/wait.ts";
import { evaluate, matches, substitute, type Observation } from "./checks.ts";
import type { V1Pod } from "@kubernetes/client-node";
import { apiOutcome, K8s, podManifest, type ApiOutcome, type ReceivedResponse } from "./k8s-actions.ts";
import type { LoadedScenario } from "./load.ts";
import { totals, type RunReport, type ScenarioResult, type StepResult, type Verdict } from "./result.ts";
import type { BackendDoc, ScenarioDoc, StepDoc } from "./schema.ts";
import { DEFAULT_POLICY, policyFromDoc } from "./backend-state.ts";
import { BACKEND_EXPECTATIONS, forMechanism, scenarioMechanisms } from "./for-mechanism.ts";
import { forExternalBackend } from "./external-backend.ts";
import { forOpaBackend, NOT_APPLICABLE_WITH_OPA } from "./opa-backend-view.ts";
import { OPA_IMAGEREVIEW_PATH } from "../opa/opa-policy.ts";

export type RunEvent =
  | { type: "profile"; profile: AdmissionProfile; elapsedMs: number }
  | { type: "scenario-start"; name: string; index: number; total: number }
  | { type: "step"; scenario: string; step: StepResult }
  | { type: "scenario-end"; result: ScenarioResult; index: number; total: number };

export interface RunOptions {
  lab: StartedLab;
  scenarios: LoadedScenario[];
  onEvent?: (e: RunEvent) => void;
  signal?: AbortSignal;
  /** Time it took to start the lab, for the report. */
  labStartMs?: number;
  version?: string;
  /**
   * The lab runs the user's backend (no stub), and this is the trust list it is declared to enforce:
   * scenarios are played as external-backend.ts describes, the others reported as not applicable.
   */
  externalBackend?: ExternalBackendUnderTest;
}

/** The user's backend a run tests: where it is and the trust list the expectations follow. */
export interface ExternalBackendUnderTest {
  url: string;
  trust: string[];
}

/** How a skipped scenario's reason starts when only the user's backend makes it unplayable. */
export const NOT_APPLICABLE = "not applicable with your backend";

/** Said on every step with a request when the backend is the user's: the lab has no journal to show. */
export const EXTERNAL_REVIEWS_NOTE = "the backend's reviews are not observed: it is your backend, and the lab reads only its own stub's journal";

/** Scenario profile with lab defaults filled in. */
export function scenarioProfile(doc: ScenarioDoc): AdmissionProfile {
  return resolveProfile({ ...DEFAULT_PROFILE, ...doc.profile });
}

/** Orders scenarios so each profile is applied once, starting with the lab's current one. */
export function planByProfile(scenarios: LoadedScenario[], current?: AdmissionProfile): { profile: AdmissionProfile; scenarios: LoadedScenario[] }[] {
  const groups = new Map<string, { profile: AdmissionProfile; scenarios: LoadedScenario[] }>();
  for (const s of scenarios) {
    const p = scenarioProfile(s.doc);
    const key = profileKey(p);
    if (!groups.has(key)) groups.set(key, { profile: p, scenarios: [] });
    groups.get(key)!.scenarios.push(s);
  }
  const list = [...groups.values()];
  if (current) {
    const i = list.findIndex((g) => profileKey(g.profile) === profileKey(current));
    if (i > 0) list.unshift(...list.splice(i, 1));
  }
  return list;
}

export interface ScenarioPlayer {
  /** Applies the scenario's profile if it differs from the lab's. */
  prepare(s: LoadedScenario): Promise<void>;
  /** Applies the scenario's profile if it differs from the lab's, then plays it. */
  play(s: LoadedScenario, onStep?: (step: StepResult) => void): Promise<ScenarioResult>;
  readonly profileSwitches: RunReport["profileSwitches"];
}

/** How a scenario is played on this lab: its view (with notes per step for the user's backend), or why it is skipped. */
export function planScenario(s: LoadedScenario, lab: StartedLab, external?: ExternalBackendUnderTest): { doc: ScenarioDoc; notes?: string[][] } | { skip: string } {
  const view = forMechanism(s.doc, lab.mechanism.name);
  if (!view) return { skip: `does not apply to the ${lab.mechanism.name} mechanism (mechanisms: ${scenarioMechanisms(s.doc).join(", ")})` };
  const where = { provider: lab.provider.name, capabilities: lab.cluster.capabilities ?? {}, stub: lab.stub !== undefined };
  if (!lab.stub && external) {
    const missing = skipReason(view, { ...where, stub: true });
    if (missing) return { skip: missing };
    const played = forExternalBackend(view, { trust: external.trust, mechanism: lab.mechanism.name });
    return "notApplicable" in played ? { skip: `${NOT_APPLICABLE}: ${played.notApplicable}` } : played;
  }
  const skip = skipReason(view, where);
  if (skip) return { skip };
  if (lab.mechanism.backend === "opa") {
    // The stub runs but nothing asks it: scenarios are played as opa-backend-view.ts describes.
    const played = forOpaBackend(view, lab.mechanism.name);
    return "notApplicable" in played ? { skip: `${NOT_APPLICABLE_WITH_OPA}: ${played.notApplicable}` } : played;
  }
  return { doc: view };
}

function skippedResult(s: LoadedScenario, reason: string): ScenarioResult {
  return { ...scenarioBase(s, "-"), verdict: "skipped", reason, durationMs: 0, unavoidableWaitMs: 0, steps: [] };
}

/** Plays scenarios one at a time on a lab (used by `run` and by the vitest conformance suite). */
export function createPlayer(
  lab: StartedLab,
  o: { signal?: AbortSignal; onProfile?: (p: AdmissionProfile, elapsedMs: number) => void; externalBackend?: ExternalBackendUnderTest } = {},
): ScenarioPlayer {
  const k8s = new K8s(lab.kubeConfig());
  const profileSwitches: RunReport["profileSwitches"] = [];
  const prepare = async (s: LoadedScenario) => {
    const wanted = scenarioProfile(s.doc);
    if (profileKey(wanted) !== profileKey(lab.profile)) {
      const sw = await lab.applyProfile(wanted);
      // A mechanism with nothing to switch (VAP; a webhook whose failurePolicy stays) took no time and restarted nothing.
      if (sw.elapsedMs > 0 || lab.mechanism.name === "imagepolicywebhook") {
        profileSwitches.push({ profile: wanted, elapsedMs: sw.elapsedMs });
        o.onProfile?.(wanted, sw.elapsedMs);
      }
    }
  };
  return {
    profileSwitches,
    prepare,
    async play(s, onStep) {
      // Decided before the profile is applied: a skipped scenario must not cost an apiserver restart.
      const plan = planScenario(s, lab, o.externalBackend);
      if ("skip" in plan) return skippedResult(s, plan.skip);
      await prepare(s);
      return runOne({ ...s, doc: plan.doc }, { lab, k8s, stub: lab.stub, onStep: onStep ?? (() => {}), signal: o.signal, notes: plan.notes, external: o.externalBackend !== undefined });
    },
  };
}

export async function runScenarios(o: RunOptions): Promise<RunReport> {
  const { lab } = o;
  const started = new Date();
  const t0 = performance.now();
  const player = createPlayer(lab, { signal: o.signal, externalBackend: o.externalBackend, onProfile: (profile, elapsedMs) => o.onEvent?.({ type: "profile", profile, elapsedMs }) });
  // Only the scenarios that apply to the lab's mechanism; `run` says how many others there were.
  const applicable = o.scenarios.filter((s) => forMechanism(s.doc, lab.mechanism.name));
  const total = applicable.length;
  const results: { order: number; result: ScenarioResult }[] = [];
  let order = 0;
  // Scenarios this lab cannot play are reported first, and never join a profile group (whose
  // switch could restart the apiserver for nothing).
  const playable: LoadedScenario[] = [];
  for (const s of applicable) {
    const planned = planScenario(s, lab, o.externalBackend);
    if (!("skip" in planned)) {
      playable.push(s);
      continue;
    }
    const index = order++;
    const result = skippedResult(s, planned.skip);
    o.onEvent?.({ type: "scenario-start", name: s.doc.name, index, total });
    results.push({ order: index, result });
    o.onEvent?.({ type: "scenario-end", result, index, total });
  }
  const plan = planByProfile(playable, lab.profile);
  const play = async (s: LoadedScenario, index: number) => {
    o.onEvent?.({ type: "scenario-start", name: s.doc.name, index, total });
    const result = await player.play(s, (step) => o.onEvent?.({ type: "step", scenario: s.doc.name, step }));
    results.push({ order: index, result });
    o.onEvent?.({ type: "scenario-end", result, index, total });
  };
  for (const group of plan) {
    const indexed = group.scenarios.map((s) => ({ s, doc: s.doc, index: order++ }));
    const { alone: exclusive, background, foreground: shared } = scheduleGroup(indexed, { scopes: lab.stub !== undefined, globalFaults: lab.mechanism.setFault !== undefined });
    try {
      if (group.scenarios[0]) await player.prepare(group.scenarios[0]);
    } catch (err) {
      // The apiserver would not come back with this profile: its scenarios cannot say anything, but
      // the other groups still can (the next switch starts the apiserver afresh).
      const reason = `failed to apply the profile ${profileKey(group.profile)}: ${err instanceof Error ? err.message : String(err)}`;
      for (const { s, index } of indexed) {
        const result: ScenarioResult = { ...scenarioBase(s, "-"), verdict: "error", reason, durationMs: 0, unavoidableWaitMs: 0, steps: [] };
        results.push({ order: index, result });
        o.onEvent?.({ type: "scenario-end", result, index, total });
      }
      continue;
    }
    for (const { s, index } of exclusive) {
      o.signal?.throwIfAborted();
      await play(s, index);
    }
    const running = background.map(({ s, index }) => play(s, index));
    // Observed from the start, so a background failure while the foreground plays is not an
    // unhandled rejection (which would end the process); it is rethrown below.
    const settled = Promise.allSettled(running);
    try {
      for (const { s, index } of shared) {
        o.signal?.throwIfAborted();
        await play(s, index);
      }
    } finally {
      await settled;
    }
    await Promise.all(running);
  }
  const ordered = results.sort((a, b) => a.order - b.order).map((r) => r.result);
  const durationMs = performance.now() - t0;
  return {
    tool: { name: "imagepolicy-lab", version: o.version ?? "0.0.0" },
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs,
    provider: lab.provider.name,
    mechanism: lab.mechanism.name,
    k8sVersion: lab.k8sVersion,
    labStartMs: o.labStartMs ?? 0,
    profileSwitches: player.profileSwitches,
    scenarios: ordered,
    totals: totals(ordered),
    unavoidableWaitMs: runUnavoidableWaitMs(player.profileSwitches, ordered),
    ...(o.externalBackend ? { externalBackend: { url: o.externalBackend.url, trust: [...o.externalBackend.trust] } } : {}),
    ...(lab.mechanism.backend === "opa" && lab.opa ? { opaBackend: { url: `${lab.opa.url}${OPA_IMAGEREVIEW_PATH}` } } : {}),
  };
}

/**
 * How a profile group is played. `alone` run one at a time before anything else; then `background`
 * all start at once while `foreground` plays one at a time.
 */
export interface GroupSchedule<T> {
  alone: T[];
  background: T[];
  foreground: T[];
}

/**
 * Splits a profile group (in file order) for playing. Slow scenarios that keep to their own
 * namespaces wait out their timeouts alongside the rest of the group. Scenarios with connection-level
 * faults (refuse, bad-cert) would cut those waits short, so they run first, alone. Without namespace
 * scopes (`scopes: false`: no stub, so nothing keeps backend settings apart) nothing runs alongside.
 */
export function scheduleGroup<T extends { doc: ScenarioDoc }>(scenarios: T[], o: { scopes: boolean; globalFaults?: boolean }): GroupSchedule<T> {
  const isolatable = (doc: ScenarioDoc) => isIsolatable(doc, { globalFaults: o.globalFaults });
  const background = o.scopes ? scenarios.filter((s) => s.doc.slow && isolatable(s.doc)) : [];
  const rest = scenarios.filter((s) => !background.includes(s));
  return { alone: rest.filter((s) => !isolatable(s.doc)), background, foreground: rest.filter((s) => isolatable(s.doc)) };
}

/**
 * The run's unavoidable wait: apiserver restarts for profile switches plus the wall time covered by
 * the scenarios' waits (background scenarios' waits overlap the others; they count once).
 */
export function runUnavoidableWaitMs(profileSwitches: RunReport["profileSwitches"], scenarios: ScenarioResult[]): number {
  return profileSwitches.reduce((a, p) => a + p.elapsedMs, 0) + unavoidableWall(scenarios);
}

interface Ctx {
  lab: StartedLab;
  k8s: K8s;
  stub?: StubControl;
  onStep: (s: StepResult) => void;
  signal?: AbortSignal;
  /** Per step: checks left out for the user's backend (external-backend.ts). */
  notes?: string[][];
  /** The backend is the user's: no journal, every request step says so. */
  external?: boolean;
}

interface Mark {
  seq: number;
  atMs: number;
}

/** The identifying part of a scenario's result. */
function scenarioBase(s: LoadedScenario, namespace: string): Omit<ScenarioResult, "verdict" | "durationMs" | "steps" | "unavoidableWaitMs"> {
  return {
    name: s.doc.name,
    file: s.file,
    description: s.doc.description.trim(),
    specRef: s.doc.specRef,
    profile: scenarioProfile(s.doc),
    namespace,
  };
}

async function runOne(s: LoadedScenario, ctx: Ctx): Promise<ScenarioResult> {
  const doc = s.doc;
  const t0 = performance.now();
  const ns = `ipl-${doc.name}`.slice(0, 44).replace(/-+$/, "") + `-${randomBytes(2).toString("hex")}`;
  const base = scenarioBase(s, ns);
  const steps: StepResult[] = [];
  const namespaces = [ns, ...(doc.namespaces ?? []).map((n) => `${ns}-${n}`)];
  let backend: ScenarioBackend | undefined;
  try {
    await Promise.all(namespaces.map((n) => ctx.k8s.ensureNamespace(n, { "imagepolicy-lab.dev/scenario": doc.name })));
    // Pods need the namespace's `default` ServiceAccount. The controller-manager creates it, but after
    // an apiserver restart its watches come back only after a backoff of seconds; scenarios are about
    // admission, so they create it themselves (409 when the controller-manager was first).
    await Promise.all(namespaces.map((n) => ctx.k8s.ensureDefaultServiceAccount(n)));
    backend = ctx.stub ? new ScenarioBackend(ctx.stub, isIsolatable(doc, { globalFaults: ctx.lab.mechanism.setFault !== undefined }), namespaces, s.file, ctx.lab.mechanism) : undefined;
    await backend?.apply(doc.backend ?? {});
    const marks = new Map<string, Mark>();
    for (const [i, step] of doc.steps.entries()) {
      ctx.signal?.throwIfAborted();
      const r = await runStep(step, i, { ...ctx, ns, namespaces, file: s.file, marks, backend });
      steps.push(r);
      ctx.onStep(r);
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ...base, verdict: "error", reason: msg, durationMs: performance.now() - t0, unavoidableWaitMs: sumWait(steps), steps };
  } finally {
    await backend?.release().catch(() => undefined);
    // Deleting is asynchronous in the apiserver; nothing waits for it.
    for (const n of namespaces) void ctx.k8s.deleteNamespace(n);
  }
  return { ...base, verdict: scenarioVerdict(steps), durationMs: performance.now() - t0, unavoidableWaitMs: sumWait(steps), steps };
}

/** Why a scenario cannot show anything on this lab, or undefined when it can be played. */
export function skipReason(doc: ScenarioDoc, lab: { provider: string; capabilities: { auditLog?: boolean; controllers?: boolean }; stub: boolean }): string | undefined {
  const missing = (doc.requires ?? []).filter((r) => !lab.capabilities[r]);
  if (missing.length) return `the ${lab.provider} provider cannot show ${missing.join(", ")}`;
  if (!lab.stub && needsStub(doc)) return "needs the stub backend (an external backend is in use)";
  return undefined;
}

/** Expectations read from the stub's journal: with another backend there is none, and "0 calls" would be made up. */
function needsStub(doc: ScenarioDoc): boolean {
  return doc.backend !== undefined || doc.steps.some((st) => "setBackend" in st || BACKEND_EXPECTATIONS.some((k) => st.expect?.[k] !== undefined));
}

/** A scenario errors if any step errored, else fails if any step failed; played steps all passing is a pass. */
export function scenarioVerdict(steps: StepResult[]): Exclude<Verdict, "skipped"> {
  return steps.some((x) => x.verdict === "error") ? "error" : steps.some((x) => x.verdict === "fail") ? "fail" : "pass";
}

const sumWait = (steps: StepResult[]) => steps.reduce((a, s) => a + s.unavoidableWaitMs, 0);

/**
 * Wall time covered by the steps' unavoidable waits: the union of their intervals, so waits that ran
 * at the same time (background scenarios) count once.
 */
export function unavoidableWall(results: ScenarioResult[]): number {
  const spans = results
    .flatMap((r) => r.steps)
    .filter((st) => st.unavoidableWaitMs > 0)
    .map((st) => [st.startedAtMs + st.durationMs - st.unavoidableWaitMs, st.startedAtMs + st.durationMs] as const)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of spans) {
    if (a > end) {
      total += b - a;
      end = b;
    } else if (b > end) {
      total += b - end;
      end = b;
    }
  }
  return total;
}

/** Faults that act on connections before the namespace is known, so they cannot be scoped. */
const CONNECTION_FAULTS = /^(refuse|bad-cert)$/;

/**
 * Whether a scenario can keep its backend settings to its own namespaces (the stub's namespace
 * scopes). Such scenarios do not disturb each other, so slow ones can run alongside the rest.
 * `globalFaults`: the mechanism plays faults on its own backend for everyone (OPA stopped, or its
 * webhook pointed elsewhere), so any fault but healthy is global; trust lists stay per namespace.
 */
export function isIsolatable(doc: ScenarioDoc, o: { globalFaults?: boolean } = {}): boolean {
  const faults = [doc.backend?.fault, ...doc.steps.map((st) => ("setBackend" in st ? st.setBackend.fault : undefined))];
  const global = o.globalFaults ? /^(?!healthy$)/ : CONNECTION_FAULTS;
  return faults.every((f) => f === undefined || !global.test(f.trim()));
}

/**
 * The scenario's view of the backend: either namespace scopes (isolatable scenarios) or the stub's
 * global policy and fault. `apply` merges a backend block into the current state.
 */
class ScenarioBackend {
  private policy: StubPolicy = DEFAULT_POLICY;
  private fault = "healthy";
  /** The policy the mechanism was last given (VAP keeps it in the cluster, not in the stub). */
  private placed?: StubPolicy;
  constructor(
    private readonly stub: StubControl,
    private readonly scoped: boolean,
    private readonly namespaces: string[],
    private readonly file: string,
    private readonly mechanism: StartedLab["mechanism"],
  ) {}

  async apply(b: BackendDoc): Promise<void> {
    this.policy = (await policyFromDoc(b, dirname(resolve(this.file)), this.namespaces[0]!)) ?? this.policy;
    const faultBefore = this.fault;
    this.fault = b.fault ?? this.fault;
    if (this.placed !== this.policy) {
      const policy = this.policy;
      await Promise.all(this.namespaces.map((n) => this.mechanism.setNamespacePolicy(n, policy)));
      this.placed = policy;
    }
    if (this.mechanism.setFault) {
      // The mechanism's own backend (OPA) plays the fault; the stub answers nothing for it.
      if (this.fault !== faultBefore) await this.mechanism.setFault(this.fault);
      return;
    }
    if (this.scoped) {
      await Promise.all(this.namespaces.map((n) => this.stub.setScope(n, { policy: this.policy, fault: this.fault })));
    } else {
      // The global policy also answers for the cluster's own pods (on kind: the apiserver's mirror
      // pod after a restart, CoreDNS, kube-proxy), so it keeps the default policy's system namespace
      // rules; the scenario's own namespaces get its rules.
      await this.stub.setPolicy(withSystemNamespaces(this.policy));
      await this.stub.setFault(this.fault);
    }
  }

  /** Back to the baseline every scenario starts from: the default policy, healthy. */
  async release(): Promise<void> {
    if (this.mechanism.setFault) {
      if (this.fault !== "healthy") await this.mechanism.setFault("healthy");
      return;
    }
    if (this.scoped) await Promise.all(this.namespaces.map((n) => this.stub.setScope(n, null)));
    else {
      await this.stub.setPolicy(DEFAULT_POLICY);
      await this.stub.setFault("healthy");
    }
  }
}

interface StepCtx extends Ctx {
  ns: string;
  /** Every namespace of the scenario (its own first); the journal is filtered to these. */
  namespaces: string[];
  file: string;
  marks: Map<string, Mark>;
  backend?: ScenarioBackend;
}

async function lastSeq(stub?: StubControl): Promise<number> {
  return stub ? (await stub.status()).lastSeq : 0;
}

/**
 * Reviews after `since` that belong to this scenario (its namespaces). Filtering by namespace keeps
 * out other scenarios' reviews (slow ones run alongside) and stray calls, such as retries a backend
 * still receives after an earlier request gave up.
 */
async function entriesSince(ctx: StepCtx, since: number): Promise<JournalEntry[]> {
  if (!ctx.stub) return [];
  return (await ctx.stub.journal({ since })).entries.filter((e) => ctx.namespaces.includes(e.namespace));
}

function stepNs(ctx: StepCtx, suffix?: string): string {
  return suffix ? `${ctx.ns}-${suffix}` : ctx.ns;
}

function describeStep(step: StepDoc, i: number): { action: string; name: string } {
  if ("createPod" in step) return { action: "createPod", name: step.name ?? `create pod ${step.createPod.name ?? `p${i}`} [${step.createPod.images.join(", ")}]` };
  if ("updatePod" in step) return { action: "updatePod", name: step.name ?? `update pod ${step.updatePod.name}` };
  if ("addEphemeralContainer" in step) return { action: "addEphemeralContainer", name: step.name ?? `add ephemeral ${step.addEphemeralContainer.image} to ${step.addEphemeralContainer.pod}` };
  if ("createDeployment" in step) return { action: "createDeployment", name: step.name ?? `create deployment ${step.createDeployment.name}` };
  if ("createJob" in step) return { action: "createJob", name: step.name ?? `create job ${step.createJob.name}` };
  if ("setBackend" in step) return { action: "setBackend", name: step.name ?? `set backend ${JSON.stringify(step.setBackend)}` };
  return { action: "wait", name: step.name ?? `wait ${step.wait} ms` };
}

async function runStep(step: StepDoc, i: number, ctx: StepCtx): Promise<StepResult> {
  const { action, name } = describeStep(step, i);
  const t0 = performance.now();
  const result: StepResult = { index: i, name, action, journal: [], checks: [], attempts: 0, startedAtMs: t0, durationMs: 0, unavoidableWaitMs: 0, verdict: "pass" };
  const notes = [...(ctx.external && action !== "wait" ? [EXTERNAL_REVIEWS_NOTE] : []), ...(ctx.notes?.[i] ?? [])];
  if (notes.length) result.notes = notes;
  try {
    // One journal position serves the mark, the whole step (repeat) and its first attempt.
    const firstSeq = await lastSeq(ctx.stub);
    if (step.mark) ctx.marks.set(step.mark, { seq: firstSeq, atMs: t0 });
    const deadline = step.repeat ? t0 + step.repeat.timeoutMs : t0;
    let lastAttemptMs = 0;
    for (;;) {
      const a0 = performance.now();
      result.attempts++;
      const seqBefore = result.attempts === 1 ? firstSeq : await lastSeq(ctx.stub);
      const played = await play(step, i, ctx);
      // Reviews are journaled before the apiserver answers; a short settle covers a closing socket.
      if (played.outcome && played.outcome.durationMs > 1_000) await sleep(30);
      const entries = await entriesSince(ctx, seqBefore);
      const obs = await observe(step, ctx, played, entries);
      result.request = played.request;
      result.response = played.outcome ? { code: played.outcome.code, allowed: played.outcome.allowed, message: played.outcome.message, durationMs: played.outcome.durationMs } : undefined;
      result.checks = step.expect ? evaluate(step.expect, obs, { ns: ctx.ns }) : [];
      lastAttemptMs = performance.now() - a0;
      const ok = result.checks.every((c) => c.ok);
      if (ok || !step.repeat || performance.now() >= deadline) {
        result.journal = step.repeat ? await entriesSince(ctx, firstSeq) : entries;
        result.verdict = ok ? "pass" : "fail";
        if (!ok && step.repeat) result.error = `expectations did not hold within ${step.repeat.timeoutMs} ms (${result.attempts} attempts)`;
        break;
      }
      await sleep(step.repeat.intervalMs ?? 100, ctx.signal);
    }
    result.durationMs = performance.now() - t0;
    result.unavoidableWaitMs = stepUnavoidableWaitMs(step, result, lastAttemptMs);
  } catch (err) {
    result.durationMs = performance.now() - t0;
    result.verdict = "error";
    result.error = err instanceof Error ? err.message : String(err);
  }
  return result;
}

/**
 * Waits the scenario asks for, or the plugin imposes (retry backoff, the 30 s client timeout), in a
 * played step: a wait step is all wait; a repeat waited for everything but its last attempt; otherwise
 * the span of the backend's reviews (retry gaps), a hung backend's whole step, and `delay:MS` faults.
 */
export function stepUnavoidableWaitMs(step: StepDoc, r: Pick<StepResult, "durationMs" | "journal">, lastAttemptMs: number): number {
  if ("wait" in step) return r.durationMs;
  if (step.repeat) return Math.max(0, r.durationMs - lastAttemptMs);
  const j = r.journal;
  let ms = j.length >= 2 ? j[j.length - 1]!.atMs - j[0]!.atMs : 0;
  if (j.some((e) => e.fault === "hang" || e.fault?.endsWith(":hang"))) ms = Math.max(ms, r.durationMs);
  // A `delay:MS` backend makes the request wait that long per call, on purpose.
  const delays = j.reduce((sum, e) => sum + Number(/(?:^|:)delay:(\d+)$/.exec(e.fault ?? "")?.[1] ?? 0), 0);
  return Math.min(r.durationMs, ms + delays);
}

interface Played {
  outcome?: ApiOutcome;
  request?: StepResult["request"];
  podName?: string;
  namespace?: string;
  dryRun?: boolean;
}

async function play(step: StepDoc, i: number, ctx: StepCtx): Promise<Played> {
  const { k8s } = ctx;
  if ("createPod" in step) {
    const p = step.createPod;
    const namespace = stepNs(ctx, p.namespace);
    const podName = p.generateName ? undefined : (p.name ?? `p${i}`);
    const dryRun = p.dryRun ?? true;
    const body = podManifest({ ...p, name: podName });
    const outcome = await apiOutcome(() => k8s.core.createNamespacedPodWithHttpInfo({ namespace, body, dryRun: dryRun ? "All" : undefined }));
    return { outcome, podName, namespace, dryRun, request: { kind: "Pod", name: podName ?? `${p.generateName}*`, namespace, images: [...p.images, ...(p.initImages ?? [])], dryRun } };
  }
  if ("updatePod" in step) {
    const u = step.updatePod;
    const namespace = stepNs(ctx, u.namespace);
    const dryRun = u.dryRun ?? false;
    const { outcome, pod } = await replaceOnConflict(k8s, namespace, u.name, (pod) => {
      if (u.image) pod.spec!.containers[0]!.image = u.image;
      if (u.labels) pod.metadata!.labels = { ...pod.metadata!.labels, ...u.labels };
      if (u.annotations) pod.metadata!.annotations = { ...pod.metadata!.annotations, ...u.annotations };
      return k8s.core.replaceNamespacedPodWithHttpInfo({ name: u.name, namespace, body: pod, dryRun: dryRun ? "All" : undefined });
    });
    return { outcome, podName: u.name, namespace, dryRun, request: { kind: "Pod (update)", name: u.name, namespace, images: pod.spec!.containers.map((c) => c.image ?? ""), dryRun } };
  }
  if ("addEphemeralContainer" in step) {
    const e = step.addEphemeralContainer;
    const namespace = stepNs(ctx, e.namespace);
    const { outcome } = await replaceOnConflict(k8s, namespace, e.pod, (pod) => {
      pod.spec!.ephemeralContainers = [...(pod.spec!.ephemeralContainers ?? []), { name: e.name ?? `debug${i}`, image: e.image }];
      return k8s.core.replaceNamespacedPodEphemeralcontainersWithHttpInfo({ name: e.pod, namespace, body: pod });
    });
    return { outcome, podName: e.pod, namespace, request: { kind: "Pod (ephemeralcontainers)", name: e.pod, namespace, images: [e.image] } };
  }
  if ("createDeployment" in step) {
    const w = step.createDeployment;
    const namespace = stepNs(ctx, w.namespace);
    const labels = { app: w.name };
    const outcome = await apiOutcome(() =>
      k8s.apps.createNamespacedDeploymentWithHttpInfo({
        namespace,
        dryRun: w.dryRun ? "All" : undefined,
        body: {
          metadata: { name: w.name },
          spec: { replicas: w.replicas ?? 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: "app", image: w.image }] } } },
        },
      }),
    );
    return { outcome, namespace, request: { kind: "Deployment", name: w.name, namespace, images: [w.image], dryRun: w.dryRun } };
  }
  if ("createJob" in step) {
    const w = step.createJob;
    const namespace = stepNs(ctx, w.namespace);
    const outcome = await apiOutcome(() =>
      k8s.batch.createNamespacedJobWithHttpInfo({
        namespace,
        dryRun: w.dryRun ? "All" : undefined,
        body: { metadata: { name: w.name }, spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "job", image: w.image }] } } } },
      }),
    );
    return { outcome, namespace, request: { kind: "Job", name: w.name, namespace, images: [w.image], dryRun: w.dryRun } };
  }
  if ("setBackend" in step) {
    if (!ctx.backend) throw new Error("setBackend needs the stub backend");
    await ctx.backend.apply(step.setBackend);
    return {};
  }
  await sleep(step.wait, ctx.signal);
  return {};
}

async function observe(step: StepDoc, ctx: StepCtx, played: Played, entries: JournalEntry[]): Promise<Observation> {
  const e = step.expect;
  const obs: Observation = { outcome: played.outcome, entries };
  if (!e) return obs;
  const now = performance.now();
  for (const markName of [e.backendCallsSince?.mark, e.sinceMarkMs?.mark]) {
    if (!markName) continue;
    const mark = ctx.marks.get(markName)!;
    obs.sinceMark ??= {};
    obs.markAgeMs ??= {};
    obs.sinceMark[markName] = await entriesSince(ctx, mark.seq);
    obs.markAgeMs[markName] = now - mark.atMs;
  }
  if (e.events) obs.event = await findEvent(ctx, played.namespace ?? ctx.ns, e.events);
  if (e.auditAnnotations) obs.audit = await findAudit(ctx, played);
  if (e.podAnnotationsAbsent && played.podName && played.outcome?.allowed && !played.dryRun) {
    obs.podAnnotations = (await ctx.k8s.readPod(played.namespace!, played.podName)).metadata?.annotations ?? {};
  }
  return obs;
}

async function findEvent(ctx: StepCtx, namespace: string, want: NonNullable<NonNullable<StepDoc["expect"]>["events"]>): Promise<{ found: boolean; observed: string }> {
  const deadline = performance.now() + (want.withinMs ?? 30_000);
  let seen: string[] = [];
  for (;;) {
    const list = await ctx.k8s.core.listNamespacedEvent({ namespace });
    const events = list.items.filter((ev) => !want.on || ev.involvedObject.kind === want.on);
    seen = events.map((ev) => `${ev.involvedObject.kind}/${ev.involvedObject.name} ${ev.reason}: ${ev.message ?? ""}`);
    const hit = events.find((ev) => ev.reason === want.reason && (!want.message || matches(substitute(want.message, { ns: ctx.ns }), ev.message ?? "")));
    if (hit) return { found: true, observed: `${hit.involvedObject.kind}/${hit.involvedObject.name} ${hit.reason}: ${hit.message}` };
    if (performance.now() > deadline) return { found: false, observed: seen.length ? seen.slice(-3).join(" | ") : "no events" };
    await sleep(200, ctx.signal);
  }
}

/** Audit annotations of the step's pod request, from the apiserver's audit log. */
async function findAudit(ctx: StepCtx, played: Played): Promise<Record<string, string> | undefined> {
  const deadline = performance.now() + 3_000;
  for (;;) {
    const text = await ctx.lab.cluster.logs("audit", 400);
    const events = text
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as { stage?: string; objectRef?: { namespace?: string; name?: string; resource?: string }; annotations?: Record<string, string> };
        } catch {
          return undefined;
        }
      })
      .filter((ev) => ev?.stage === "ResponseComplete" && ev.objectRef?.resource === "pods" && ev.objectRef.namespace === played.namespace && (!played.podName || ev.objectRef.name === played.podName));
    const last = events.at(-1);
    if (last) {
      // The admission mechanisms' annotations (the plugin's, a webhook's `<name>/<key>`, failed-open
      // markers, VAP's), without the authorizer's and Pod Security's, which every request carries.
      return Object.fromEntries(Object.entries(last.annotations ?? {}).filter(([k]) => !/^(authorization\.k8s\.io|pod-security\.kubernetes\.io)\//.test(k)));
    }
    if (performance.now() > deadline) return undefined;
    await sleep(100, ctx.signal);
  }
}

/**
 * Read-modify-replace of a pod, retried on 409 Conflict (as client-go's RetryOnConflict): on a
 * cluster with a kubelet (kind) the pod's status changes under us. The resourceVersion conflict is
 * found before validating admission runs, so the backend is never asked for a conflicting attempt.
 * The apiserver itself may still run admission twice for one replace: it starts from its cached copy
 * of the pod and, when that proves stale, runs the update again on the live object (seen on kind).
 */
export async function replaceOnConflict(
  k8s: Pick<K8s, "readPod">,
  namespace: string,
  name: string,
  replace: (pod: V1Pod) => Promise<ReceivedResponse>,
): Promise<{ outcome: ApiOutcome; pod: V1Pod; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const pod = await k8s.readPod(namespace, name);
    const outcome = await apiOutcome(() => replace(pod));
    if (outcome.code !== 409 || attempt >= CONFLICT_ATTEMPTS) return { outcome, pod, attempts: attempt };
  }
}

/** Attempts of a conflicting replace before the 409 is reported (client-go's DefaultRetry has 5 steps). */
export const CONFLICT_ATTEMPTS = 5;

/**
 * `policy` with the default policy's per-namespace rules for the cluster's system namespaces added
 * (the policy's own namespace rules win), so a scenario's global policy never refuses kube-system.
 */
export function withSystemNamespaces(policy: StubPolicy): StubPolicy {
  return { ...policy, namespaces: { ...DEFAULT_POLICY.namespaces, ...policy.namespaces } };
}
