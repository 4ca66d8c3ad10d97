// Minimal HTTPS requests with a private CA and optional client certificate, for health checks and
// the few calls the harness makes before a Kubernetes client is worth building.
import { request } from "node:https";

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
        headers: payload === undefined ? {} : { "content-type": "application/json" },
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
