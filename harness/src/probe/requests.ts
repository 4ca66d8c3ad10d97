// The probe's requests: server-side dry runs only (`dryRun: All`), so admission runs in full and
// nothing is stored. The manifests meet the `restricted` Pod Security Standard and carry small
// resource limits, so PodSecurity, a quota or a LimitRange has no reason of its own to refuse them and
// a refusal is about the image. Every answer is the received one (client-node `*WithHttpInfo` calls
// through apiOutcome).
import { ApiException, type V1Container, type V1EphemeralContainer, type V1Pod, type V1PodSpec } from "@kubernetes/client-node";
import { apiOutcome, K8s, observedStatus, podManifest, statusMessage, type ApiOutcome, type ReceivedResponse } from "../scenario/k8s-actions.ts";
import { classifyAnswer } from "./classify.ts";
import { NONCE_ANNOTATION, type Answer, type CaseResult, type ProbeCase } from "./model.ts";

/** Labels of the probe's objects (a Deployment needs a selector); nothing is ever stored with them. */
const PROBE_LABELS = { "app.kubernetes.io/name": "imagepolicy-lab-probe" } as const;

const CONTAINER_HARDENING: Pick<V1Container, "securityContext" | "resources"> = {
  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
  resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
};

/** The name of a case's object: short enough for a Job (63), unique per run through the nonce. */
export function objectName(nonce: string, id: string): string {
  return `ipl-probe-${nonce}-${id}`.slice(0, 63).replace(/-+$/, "");
}

/** A pod spec with the case's images, hardened as described above. */
function podSpec(c: ProbeCase, restartPolicy?: string): V1PodSpec {
  const spec = podManifest({ images: c.images, initImages: c.initImages }).spec!;
  return {
    ...spec,
    restartPolicy,
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 65_532, seccompProfile: { type: "RuntimeDefault" } },
    containers: spec.containers.map((x) => ({ ...x, ...CONTAINER_HARDENING })),
    initContainers: spec.initContainers?.map((x) => ({ ...x, ...CONTAINER_HARDENING })),
  };
}

export interface SentCase {
  request: CaseResult["request"];
  response?: CaseResult["response"];
  answer: Answer;
}

export interface SendOptions {
  k8s: K8s;
  namespace: string;
  nonce: string;
  /** For EphemeralContainer cases: the existing pod. */
  pod?: string;
  /** How long one request may take before it counts as unanswered. */
  timeoutMs: number;
}

/** The detail of an error that carried no HTTP answer (undici puts the socket error in `cause`). */
export function transportDetail(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && !err.message.includes(cause) ? `${err.message}: ${cause}` : err.message;
}

class NoAnswer extends Error {}

/** Runs a call with a budget; a call that outlives it is left to finish on its own. */
async function withBudget<T>(ms: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoAnswer(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** apiOutcome plus the answer's Warning headers (a policy in Warn mode speaks only there). */
async function received(timeoutMs: number, call: () => Promise<ReceivedResponse & { headers?: Record<string, string> }>): Promise<ApiOutcome & { warnings: string[] }> {
  let warnings: string[] = [];
  const outcome = await withBudget(timeoutMs, () =>
    apiOutcome(async () => {
      const res = await call();
      const header = res.headers?.warning ?? res.headers?.Warning;
      // `299 - "text"`, several joined by ", " when the server sent more than one.
      if (header) warnings = header.split(/,\s*(?=\d{3} )/).map((w) => w.replace(/^\d{3} \S+ "(.*)"$/, "$1"));
      return res;
    }),
  );
  return { ...outcome, warnings };
}

/** Sends one case as a server-side dry run and classifies the answer. Never throws for an answer or its absence. */
export async function sendCase(c: ProbeCase, o: SendOptions): Promise<SentCase> {
  const { k8s, namespace, nonce } = o;
  const name = objectName(nonce, c.id);
  const request: CaseResult["request"] = { kind: c.kind, name: c.kind === "EphemeralContainer" ? o.pod! : name, namespace, dryRun: "All", ...(c.kind === "EphemeralContainer" ? { pod: o.pod } : {}) };
  const metadata = { name, labels: { ...PROBE_LABELS }, annotations: { [NONCE_ANNOTATION]: nonce } };
  try {
    let out: ApiOutcome & { warnings: string[] };
    switch (c.kind) {
      case "Pod": {
        const body: V1Pod = { apiVersion: "v1", kind: "Pod", metadata, spec: podSpec(c) };
        out = await received(o.timeoutMs, () => k8s.core.createNamespacedPodWithHttpInfo({ namespace, dryRun: "All", body }));
        break;
      }
      case "Deployment": {
        const template = { metadata: { labels: { ...PROBE_LABELS }, annotations: metadata.annotations }, spec: podSpec(c) };
        const body = { apiVersion: "apps/v1", kind: "Deployment", metadata, spec: { replicas: 1, selector: { matchLabels: { ...PROBE_LABELS } }, template } };
        out = await received(o.timeoutMs, () => k8s.apps.createNamespacedDeploymentWithHttpInfo({ namespace, dryRun: "All", body }));
        break;
      }
      case "Job": {
        const template = { metadata: { annotations: metadata.annotations }, spec: podSpec(c, "Never") };
        const body = { apiVersion: "batch/v1", kind: "Job", metadata, spec: { backoffLimit: 0, template } };
        out = await received(o.timeoutMs, () => k8s.batch.createNamespacedJobWithHttpInfo({ namespace, dryRun: "All", body }));
        break;
      }
      case "EphemeralContainer": {
        // What `kubectl debug` does, as a dry-run replace of the subresource: read the pod, append.
        let pod: V1Pod;
        const t0 = performance.now();
        try {
          pod = await withBudget(o.timeoutMs, () => k8s.readPod(namespace, o.pod!));
        } catch (err) {
          if (!(err instanceof ApiException)) throw err;
          const got = { code: observedStatus(err.code), allowed: false, message: statusMessage(err.body) };
          const answer = classifyAnswer(got);
          const detail = `could not read pod "${o.pod}" (GET ${got.code}): ${got.message}`;
          return {
            request,
            response: { ...got, durationMs: performance.now() - t0 },
            answer: answer.outcome === "not-a-denial" && answer.cause === "rbac" ? answer : { outcome: "not-a-denial", cause: "pod-unreadable", detail },
          };
        }
        const debug: V1EphemeralContainer = { name: `ipl-probe-${nonce}-${c.id === "ephemeral-trusted" ? "t" : "u"}`, image: c.images[0]!, securityContext: CONTAINER_HARDENING.securityContext };
        pod.spec!.ephemeralContainers = [...(pod.spec!.ephemeralContainers ?? []), debug];
        out = await received(o.timeoutMs, () => k8s.core.replaceNamespacedPodEphemeralcontainersWithHttpInfo({ name: o.pod!, namespace, dryRun: "All", body: pod }));
        break;
      }
    }
    const response: CaseResult["response"] = { code: out.code, allowed: out.allowed, durationMs: out.durationMs, ...(out.message !== undefined ? { message: out.message } : {}), ...(out.warnings.length ? { warnings: out.warnings } : {}) };
    return { request, response, answer: classifyAnswer(out) };
  } catch (err) {
    return { request, answer: { outcome: "no-response", detail: transportDetail(err) } };
  }
}
