// The one thing a dry run cannot show: a mechanism that fails open with its backend down admits
// exactly like no mechanism at all (no status, no header, no annotation in the answer; measured on
// 1.36.1). The apiserver's own counters can tell them apart, so the probe reads /metrics before and
// after its requests when the credentials allow it (`get` on the non-resource URL /metrics):
// - apiserver_admission_webhook_fail_open_count{name}: a validating webhook that failed open;
// - rest_client_requests_total{host,code,method="POST"}: the apiserver's outgoing calls, which is
//   where an ImagePolicyWebhook backend call shows up (`code="<error>"` for no response);
// - apiserver_admission_controller_admission_duration_seconds_count{name="ImagePolicyWebhook"}: the
//   plugin is enabled.
// Best effort: behind a load balancer the two reads may reach different apiservers, and other
// clients' requests during the probe count too; findings say "during the probe", never more.
import type { KubeConfig } from "@kubernetes/client-node";
import { httpsRequest, kubeconfigTarget } from "../util/https-get.ts";
import type { MetricsEvidence } from "./model.ts";

const WANTED = new Set(["apiserver_admission_webhook_fail_open_count", "rest_client_requests_total", "apiserver_admission_controller_admission_duration_seconds_count"]);

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the counters above from Prometheus text format; other lines are skipped unparsed. */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m || !WANTED.has(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const value = Number(m[3]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

export type MetricsRead = { ok: true; samples: Sample[] } | { ok: false; reason: string };

/** GET /metrics with the kubeconfig's credentials; a refusal or error is a reason, never a throw. */
export async function readApiserverMetrics(kc: KubeConfig, timeoutMs = 10_000): Promise<MetricsRead> {
  try {
    const target = await kubeconfigTarget(kc);
    const res = await httpsRequest(`${target.server.replace(/\/$/, "")}/metrics`, target.tls, { headers: target.headers, timeoutMs });
    if (res.status !== 200) {
      const why = res.status === 403 ? "these credentials may not `get` /metrics" : `HTTP ${res.status}`;
      return { ok: false, reason: `GET /metrics answered ${res.status}: ${why}` };
    }
    return { ok: true, samples: parseSamples(res.body) };
  } catch (err) {
    return { ok: false, reason: `GET /metrics failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

const key = (s: Sample) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

/**
 * What changed between two reads. `apiserverHost` (host:port of the kubeconfig's server), and every
 * host the apiserver also sends GETs to, are left out of the outgoing calls.
 */
export function metricsEvidence(before: MetricsRead, after: MetricsRead, apiserverHost: string): MetricsEvidence {
  if (!before.ok) return { readable: false, reason: before.reason };
  if (!after.ok) return { readable: false, reason: after.reason };
  const was = new Map(before.samples.map((s) => [key(s), s.value]));
  const delta = (s: Sample) => s.value - (was.get(key(s)) ?? 0);
  const webhookFailOpen: Record<string, number> = {};
  const outgoingPosts: { host: string; code: string; count: number }[] = [];
  let imagePolicyWebhookEnabled = false;
  // A host the apiserver also GETs from is an API server (its own loopback client, an aggregated
  // API), not an admission backend: those are only ever POSTed to.
  const apiHosts = new Set([apiserverHost, ...after.samples.filter((s) => s.name === "rest_client_requests_total" && s.labels.method !== "POST").map((s) => s.labels.host)]);
  for (const s of after.samples) {
    if (s.name === "apiserver_admission_controller_admission_duration_seconds_count" && s.labels.name === "ImagePolicyWebhook") imagePolicyWebhookEnabled = true;
    const d = delta(s);
    if (d <= 0) continue;
    if (s.name === "apiserver_admission_webhook_fail_open_count" && s.labels.name) webhookFailOpen[s.labels.name] = (webhookFailOpen[s.labels.name] ?? 0) + d;
    if (s.name === "rest_client_requests_total" && s.labels.method === "POST" && s.labels.host && !apiHosts.has(s.labels.host)) {
      outgoingPosts.push({ host: s.labels.host, code: s.labels.code ?? "", count: d });
    }
  }
  return { readable: true, imagePolicyWebhookEnabled, webhookFailOpen, outgoingPosts };
}
