// Minimal HTTPS GET with a private CA and optional client certificate, for health checks.
import { request } from "node:https";

export interface TlsClientMaterial {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

export function httpsGet(url: string, tls: TlsClientMaterial, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end();
  });
}
