// The probe run: plan, check the cluster answers at all, read the apiserver's counters, send every
// case as a server-side dry run (one at a time, in plan order), read the counters again, judge.
// Creates nothing: every request carries `dryRun: All`, and the only other calls are GET /version,
// GET /metrics and, with a pod named, GET of that pod.
import { randomBytes } from "node:crypto";
import { ApiException, VersionApi, type KubeConfig } from "@kubernetes/client-node";
import { K8s, statusMessage } from "../scenario/k8s-actions.ts";
import { VERSION } from "../util/version.ts";
import { metricsEvidence, readApiserverMetrics, type MetricsRead } from "./apiserver-metrics.ts";
import { exitCodeFor, findingsFor, judgeCases, probeTotals, type AnsweredCase } from "./judge.ts";
import type { CaseResult, MetricsEvidence, ProbeCase, ProbeReport } from "./model.ts";
import { planProbe } from "./plan.ts";
import { sendCase, transportDetail } from "./requests.ts";

export interface ProbeOptions {
  kubeConfig: KubeConfig;
  /** The kubeconfig file, for the report. */
  kubeconfigFile: string;
  namespace: string;
  /** The declared trust list (`--trust`). */
  trust: string[];
  /** Images the cluster should admit (`--image-trusted`). */
  trustedImages: string[];
  /** An existing pod: adds the ephemeral-container cases. */
  pod?: string;
  /** Per request, in ms. Default 60 000: above ImagePolicyWebhook's 30 s backend timeout and a webhook's 30 s maximum. */
  requestTimeoutMs?: number;
  /** Called before each case is sent (progress). */
  onCase?: (c: ProbeCase, index: number, total: number) => void;
  /** Fixed nonce (tests); default: 6 random hex characters per run. */
  nonce?: string;
  /** Read the apiserver's /metrics around the cases (default true; a refusal is only noted). */
  readMetrics?: boolean;
}

/** host:port of a server URL, as rest_client metrics name hosts. */
function hostOf(server: string): string {
  const u = new URL(server);
  return u.port ? `${u.hostname}:${u.port}` : u.hostname;
}

/**
 * Runs the probe. Throws ConfigError for unusable inputs (before any request); an unreachable
 * cluster or refused credentials come back as a report with `cannotRun` and exit code 2.
 */
export async function runProbe(o: ProbeOptions): Promise<ProbeReport> {
  const nonce = o.nonce ?? randomBytes(3).toString("hex");
  const cases = planProbe({ trust: o.trust, trustedImages: o.trustedImages, pod: o.pod, nonce });
  const started = new Date();
  const t0 = performance.now();
  const server = o.kubeConfig.getCurrentCluster()?.server ?? "";
  const target: ProbeReport["target"] = { kubeconfig: o.kubeconfigFile, context: o.kubeConfig.getCurrentContext(), server, namespace: o.namespace };
  const timeoutMs = o.requestTimeoutMs ?? 60_000;
  const finish = (results: CaseResult[], metrics: MetricsEvidence, cannotRun?: string): ProbeReport => {
    const findings = cannotRun ? [{ severity: "cannot-run" as const, text: cannotRun, cases: [] }] : findingsFor(results, metrics, o.namespace);
    return {
      tool: { name: "imagepolicy-lab", version: VERSION },
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: performance.now() - t0,
      target,
      trust: [...o.trust],
      trustedImages: [...o.trustedImages],
      nonce,
      cases: results,
      findings,
      metrics,
      ...(cannotRun ? { cannotRun } : {}),
      totals: probeTotals(results),
      exitCode: exitCodeFor(findings, cannotRun),
    };
  };

  // Does the cluster answer, and to these credentials? /version needs no RBAC beyond authentication.
  try {
    const v = await o.kubeConfig.makeApiClient(VersionApi).getCode();
    target.k8sVersion = v.gitVersion;
  } catch (err) {
    const notRead: MetricsEvidence = { readable: false, reason: "not read: the probe could not run" };
    if (!(err instanceof ApiException)) return finish([], notRead, `cannot reach the cluster at ${server} (context "${target.context}"): ${transportDetail(err)}`);
    if (err.code === 401) return finish([], notRead, `the cluster at ${server} refused these credentials (401 ${statusMessage(err.body)}): the kubeconfig's user (context "${target.context}") is not authenticated`);
    // Any other status: the cluster answers; a hardened one may hide /version, which the cases do not need.
  }

  const readMetrics = o.readMetrics ?? true;
  const before: MetricsRead = readMetrics ? await readApiserverMetrics(o.kubeConfig) : { ok: false, reason: "not read (readMetrics: false)" };
  const k8s = new K8s(o.kubeConfig);
  const answered: AnsweredCase[] = [];
  for (const [i, c] of cases.entries()) {
    o.onCase?.(c, i, cases.length);
    const sent = await sendCase(c, { k8s, namespace: o.namespace, nonce, pod: o.pod, timeoutMs });
    answered.push({ ...c, ...sent });
  }
  const after: MetricsRead = before.ok ? await readApiserverMetrics(o.kubeConfig) : before;
  return finish(judgeCases(answered), metricsEvidence(before, after, hostOf(server)));
}
