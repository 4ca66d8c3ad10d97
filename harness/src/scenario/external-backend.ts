// A scenario as it is played against the user's own backend (`run --backend-url … --trust …`): the
// lab sees only the apiserver's answers, never the backend's reviews, and the expectation is the
// trust list the user declared. A scenario is played when its meaning survives that:
//
// - its backend block is a plain `trust:` list (no fault, no stub policy) and no step changes the
//   backend: only the stub can be told to fail or to trust something else;
// - its subject is not the plugin's exchange with the backend (caching, retries, request format):
//   that is seen only in the stub's journal, and dropping those checks would leave a pass that
//   claims what nobody observed;
// - every image it names is trusted under the user's list exactly when it is trusted under the
//   scenario's own list, once `trusted.example` stands for the user's first `--trust` entry.
//
// In a played scenario, checks that read the stub's journal (call counts that are not the subject,
// `received`) are dropped, and so are message patterns: after the apiserver's fixed words they quote
// the stub's reasons, which another backend words its own way. A refusal is instead required to come
// from the backend (the apiserver's "backend denied" or "admission webhook … denied" wording), which
// tells a deliberate denial from a fail-closed backend error. Every dropped check is listed in the
// step's notes, so each report says what was not checked.
import { evaluate, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { ANY_REGISTRY } from "../../../webhook-stub/src/reference.ts";
import type { MechanismName } from "../mechanism/names.ts";
import { WEBHOOK_NAME } from "../mechanism/webhook-config.ts";
import { ConfigError } from "../util/errors.ts";
import { BACKEND_EXPECTATIONS } from "./for-mechanism.ts";
import type { Expectation, ScenarioDoc, StepDoc } from "./schema.ts";

/** How the catalog writes "a registry the backend trusts"; the user's first `--trust` entry replaces it. */
export const CATALOG_TRUSTED_REGISTRY = "trusted.example";

/**
 * Tags whose scenarios are about the plugin's calls to the backend (how often, when, with what), not
 * about its answers: only the stub's journal shows those.
 */
export const JOURNAL_SUBJECT_TAGS = ["caching", "retries", "request-format", "performance"] as const;

/** The apiserver's own words for a denial the backend returned, per mechanism (what follows is the backend's reason). */
export const BACKEND_DENIAL_TEXT: Record<Exclude<MechanismName, "vap" | "opa">, string> = {
  // plugin/pkg/admission/imagepolicy: "image policy webhook backend denied one or more images: <reason>"
  imagepolicywebhook: "image policy webhook backend denied one or more images",
  // "admission webhook \"<name>\" denied the request: <message>" (or "... without explanation")
  webhook: `admission webhook "${WEBHOOK_NAME}" denied the request`,
};

export interface ExternalBackendPlay {
  /** The scenario with images mapped onto the user's trust list and unobservable checks removed. */
  doc: ScenarioDoc;
  /** Per step (same index as `doc.steps`): the checks left out and why. */
  notes: string[][];
}

export type ExternalBackendView = ExternalBackendPlay | { notApplicable: string };

/**
 * The `--trust` list of `run --backend-url`, checked: entries the stub's policy would accept, and no
 * `*` (an allow-all list has no untrusted image to check against). Throws ConfigError naming `--trust`.
 */
export function checkDeclaredTrust(trust: string[]): void {
  if (trust.includes(ANY_REGISTRY)) {
    throw new ConfigError([{ file: "command line", path: "--trust", message: `"${ANY_REGISTRY}" trusts every image; name the registries or repositories your backend trusts` }], "invalid --trust");
  }
  trustPolicy(trust);
}

/** The scenario (already in its mechanism's view) as played against a backend that trusts `trust`, or why it cannot be. */
export function forExternalBackend(doc: ScenarioDoc, o: { trust: string[]; mechanism: MechanismName }): ExternalBackendView {
  const na = (notApplicable: string) => ({ notApplicable });
  if (o.mechanism === "vap") return na("the vap mechanism has no backend");
  if (o.mechanism === "opa") return na("the opa mechanism's backend is the lab's own OPA server");
  const b = doc.backend;
  if (!b) return na("its expectations follow the stub's default policy (it has no `backend: { trust: [...] }` block)");
  if (b.fault !== undefined && b.fault.trim() !== "healthy") return na(`needs the stub's fault "${b.fault}"`);
  if (b.policy || b.policyFile) return na(`needs a stub policy (${b.policy ? "backend.policy" : `backend.policyFile ${b.policyFile}`}), not a plain trust list`);
  if (!b.trust) return na("its expectations follow the stub's default policy (its backend block has no trust list)");
  const setBackend = doc.steps.findIndex((st) => "setBackend" in st);
  if (setBackend >= 0) return na(`step ${setBackend + 1} changes the backend (setBackend), which only the stub can do`);
  const tag = doc.tags?.find((t) => (JOURNAL_SUBJECT_TAGS as readonly string[]).includes(t));
  if (tag) return na(`its subject (tag ${tag}) is the plugin's calls to the backend, seen only in the stub's journal`);
  const counted = journalSubject(doc);
  if (counted) return na(counted);

  const target = o.trust[0]!;
  const mapped = doc.steps.map((st) => mapStepImages(st, target));
  const scenarioPolicy = trustPolicy(b.trust);
  const userPolicy = trustPolicy(o.trust);
  const trusted = (policy: ReturnType<typeof trustPolicy>, image: string) => evaluate(policy, { containers: [{ image }] }).allowed;
  for (const [i, st] of doc.steps.entries()) {
    const after = stepImages(mapped[i]!);
    for (const [k, image] of stepImages(st).entries()) {
      const want = trusted(scenarioPolicy, image);
      const mine = after[k]!;
      if (trusted(userPolicy, mine) !== want) {
        const shown = mine === image ? `"${image}"` : `"${mine}" (the scenario's "${image}")`;
        return na(`${shown} is ${want ? "trusted" : "untrusted"} in the scenario (trust: ${b.trust.join(", ")}) but ${want ? "untrusted" : "trusted"} under your --trust ${o.trust.join(", ")}`);
      }
    }
  }
  const mechanism = o.mechanism;
  const notes: string[][] = [];
  const steps = mapped.map((st) => {
    const { step, dropped } = withoutUnobservable(st, mechanism);
    notes.push(dropped);
    return step;
  });
  return { doc: { ...doc, backend: { trust: [...o.trust] }, steps }, notes };
}

/** Why the scenario's journal checks are its subject (counts or timing of calls), or undefined when they are incidental. */
export function journalSubject(doc: ScenarioDoc): string | undefined {
  const seen = new Map<string, number>();
  for (const [i, st] of doc.steps.entries()) {
    const e = st.expect;
    const where = `step ${i + 1}`;
    if (e?.backendCallsSince) return `${where} counts the backend's calls since a mark, seen only in the stub's journal`;
    if (e?.callGapsMs || e?.callGapsGrow) return `${where} times the gaps between the backend's calls, seen only in the stub's journal`;
    // One call (or none, for a request the mechanism does not review; or "one or two" for an update the
    // apiserver may admit twice) confirms what the answer shows; other counts are retries, seen only in
    // the journal.
    if (e?.backendCalls !== undefined && !reviewedAtMostTwice(e.backendCalls)) {
      return `${where} counts the backend's calls (${JSON.stringify(e.backendCalls)}), seen only in the stub's journal`;
    }
    // The same request again, with a count: whether the verdict cache answered is the point.
    const key = requestKey(st);
    if (key !== undefined && e?.backendCalls !== undefined) {
      const first = seen.get(key);
      if (first !== undefined) return `${where} repeats step ${first + 1}'s request and counts the backend's calls (the verdict cache), seen only in the stub's journal`;
    }
    if (key !== undefined && !seen.has(key)) seen.set(key, i);
  }
  return undefined;
}

function reviewedAtMostTwice(c: number | { min?: number; max?: number }): boolean {
  return typeof c === "number" ? c <= 1 : c.max !== undefined && c.max <= 2 && (c.min ?? 0) <= 1;
}

/** What the plugin's cache would key on for a step's request, near enough: action, namespace, images. */
function requestKey(st: StepDoc): string | undefined {
  if ("createPod" in st) return JSON.stringify(["pod", st.createPod.namespace ?? "", st.createPod.images, st.createPod.initImages ?? [], st.createPod.annotations ?? {}]);
  return undefined;
}

/** Every image a step names, in a fixed order (so a mapped step's images line up with the original's). */
function stepImages(st: StepDoc): string[] {
  if ("createPod" in st) return [...st.createPod.images, ...(st.createPod.initImages ?? [])];
  if ("updatePod" in st) return st.updatePod.image ? [st.updatePod.image] : [];
  if ("addEphemeralContainer" in st) return [st.addEphemeralContainer.image];
  if ("createDeployment" in st) return [st.createDeployment.image];
  if ("createJob" in st) return [st.createJob.image];
  return [];
}

function mapStepImages(st: StepDoc, target: string): StepDoc {
  const m = (image: string) => mapTrustedImage(image, target);
  if ("createPod" in st) return { ...st, createPod: { ...st.createPod, images: st.createPod.images.map(m), ...(st.createPod.initImages ? { initImages: st.createPod.initImages.map(m) } : {}) } };
  if ("updatePod" in st && st.updatePod.image) return { ...st, updatePod: { ...st.updatePod, image: m(st.updatePod.image) } };
  if ("addEphemeralContainer" in st) return { ...st, addEphemeralContainer: { ...st.addEphemeralContainer, image: m(st.addEphemeralContainer.image) } };
  if ("createDeployment" in st) return { ...st, createDeployment: { ...st.createDeployment, image: m(st.createDeployment.image) } };
  if ("createJob" in st) return { ...st, createJob: { ...st.createJob, image: m(st.createJob.image) } };
  return st;
}

/**
 * `image` with the catalog's trusted registry replaced by `target` (a registry `host[:port]` or a
 * repository `host[:port]/path`), keeping what each variant means:
 * - `trusted.example/app:1` → `<target>/app:1` (trusted);
 * - `trusted.example.evil.com/app`, `trusted.example-evil/app` → the suffix added to the target's last
 *   name (its path, else its host, before any port): a string prefix of the target, not the target;
 * - `trusted.example:5000/app` → the target's host with another port (its path kept);
 * - `evil.com/trusted.example/app` → the target's name inside another registry's path (without a port,
 *   which a path cannot hold).
 * Images without the name are returned unchanged.
 */
export function mapTrustedImage(image: string, target: string): string {
  const slash = target.indexOf("/");
  const hostPort = slash < 0 ? target : target.slice(0, slash);
  const path = slash < 0 ? "" : target.slice(slash + 1);
  const colon = hostPort.lastIndexOf(":");
  const host = colon < 0 ? hostPort : hostPort.slice(0, colon);
  const port = colon < 0 ? undefined : hostPort.slice(colon + 1);
  const join = (h: string, p: string | undefined, rest: string) => `${h}${p ? `:${p}` : ""}${rest ? `/${rest}` : ""}`;
  const name = CATALOG_TRUSTED_REGISTRY.replaceAll(".", "\\.");
  // In the registry position (first component): a suffix and/or a port may follow the name.
  const registry = new RegExp(`^${name}([.-][A-Za-z0-9.-]*)?(?::(\\d+))?(?=/)`);
  let out = image.replace(registry, (_m, suffix: string | undefined, otherPort: string | undefined) => {
    const s = suffix ?? "";
    const p = otherPort === undefined ? port : otherPort === port ? String(Number(otherPort) + 1) : otherPort;
    return path ? join(host, p, `${path}${s}`) : join(`${host}${s}`, p, "");
  });
  // Inside a path: the target's host and path, no port.
  out = out.replace(new RegExp(`(?<=/)${name}(?=[/:@]|$)`, "g"), path ? `${host}/${path}` : host);
  return out;
}

/**
 * An expectation without the checks that read the stub's journal (BACKEND_EXPECTATIONS), and one
 * line per dropped check saying whose reviews the lab cannot see (`backend`: "your backend", "OPA").
 */
export function withoutJournalChecks(e: Expectation, backend: string): { kept: Record<string, unknown>; dropped: string[] } {
  const kept: Record<string, unknown> = { ...e };
  const dropped: string[] = [];
  for (const k of BACKEND_EXPECTATIONS) {
    if (kept[k] === undefined) continue;
    dropped.push(`${k} ${JSON.stringify(kept[k])}: ${backend}'s reviews are not visible to the lab (only the stub keeps a journal)`);
    delete kept[k];
  }
  return { kept, dropped };
}

/** The step without checks the lab cannot observe with another backend, and what was dropped. */
function withoutUnobservable(st: StepDoc, mechanism: Exclude<MechanismName, "vap" | "opa">): { step: StepDoc; dropped: string[] } {
  const e = st.expect;
  if (!e) return { step: st, dropped: [] };
  const { kept, dropped } = withoutJournalChecks(e, "your backend");
  for (const k of ["message", "notMessage"] as const) {
    if (kept[k] === undefined) continue;
    dropped.push(`${k} ${JSON.stringify(kept[k])}: written against the stub's wording; your backend words its reasons its own way`);
    delete kept[k];
  }
  if (e.allowed === false) kept.message = BACKEND_DENIAL_TEXT[mechanism];
  return { step: { ...st, expect: kept as Expectation } as StepDoc, dropped };
}
