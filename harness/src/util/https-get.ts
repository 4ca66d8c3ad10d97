// Minimal HTTPS requests with a private CA and optional client certificate, for health checks and
// the few calls the harness makes before a Kubernetes client is worth building. The project's one
// HTTPS client for readiness: providers use it rather than node:https directly.
import { request } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { LabError } from "./errors.ts";

export interface TlsClientMaterial {
  caPem: string;
  certPem?: string;
  keyPem?: string;
  /** TLS server name to verify when it differs from the URL's host (e.g. a container reached through a mapped port). */
  servername?: string;
}

export interface HttpsRequestOptions {
  method?: string;
  /** JSON body (sent with content-type application/json). */
  json?: unknown;
  /** Extra request headers (e.g. Authorization from a kubeconfig). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function httpsRequest(url: string, tls: TlsClientMaterial, o: HttpsRequestOptions = {}): Promise<{ status: number; body: string }> {
  const method = o.method ?? "GET";
  const timeoutMs = o.timeoutMs ?? 2_000;
  const payload = o.json === undefined ? undefined : JSON.stringify(o.json);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: tls.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        servername: tls.servername,
        timeout: timeoutMs,
        agent: false,
        headers: { ...o.headers, ...(payload === undefined ? {} : { "content-type": "application/json" }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

export function httpsGet(url: string, tls: TlsClientMaterial, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return httpsRequest(url, tls, { timeoutMs });
}

/** Where a kubeconfig's current context points, and the credentials to present there. */
export interface KubeconfigTarget {
  server: string;
  tls: TlsClientMaterial;
  headers: Record<string, string>;
}

/**
 * The server, CA, client certificate and auth headers of a kubeconfig's current context, as
 * client-node itself would use them (KubeConfig.applyToHTTPSOptions), for a readiness check against
 * an apiserver. Throws when the context names no server or no CA: this helper never skips verification.
 */
export async function kubeconfigTarget(kc: KubeConfig): Promise<KubeconfigTarget> {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new LabError(`kubeconfig context ${JSON.stringify(kc.getCurrentContext())} names no cluster server`);
  const opts: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string; headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts as Parameters<KubeConfig["applyToHTTPSOptions"]>[0]);
  if (!opts.ca) throw new LabError(`kubeconfig cluster ${cluster.name} names no certificate authority, so its server's certificate cannot be verified`);
  const text = (v: string | Buffer | undefined) => (v === undefined ? undefined : v.toString());
  return {
    server: cluster.server,
    tls: { caPem: text(opts.ca)!, certPem: text(opts.cert), keyPem: text(opts.key), servername: opts.servername },
    headers: { ...opts.headers },
  };
}
