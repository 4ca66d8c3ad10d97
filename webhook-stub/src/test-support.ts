// Shared by the stub's tests: a CA with serving and client certificates, and a plain node:https
// client that reports exactly what came back (status, headers, body) or how the connection failed.
import { Agent, request } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import { createCA, type KeyPairPem } from "../../harness/src/pki/pki.ts";

export interface TestPki {
  caPem: string;
  server: KeyPairPem;
  client: KeyPairPem;
  /** A client certificate from a CA the stub does not trust. */
  strangerClient: KeyPairPem;
}

export async function createTestPki(): Promise<TestPki> {
  const ca = await createCA("stub test CA");
  const stranger = await createCA("stranger CA");
  return {
    caPem: ca.certPem,
    server: await ca.issue({ commonName: "stub", hosts: ["127.0.0.1", "localhost"], usage: "server" }),
    client: await ca.issue({ commonName: "kube-apiserver", usage: "client" }),
    strangerClient: await stranger.issue({ commonName: "stranger", usage: "client" }),
  };
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The socket the request went over (to check reuse and closing). */
  socket: Socket;
}

export interface SendOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string | number>;
  caPem: string;
  agent?: Agent | false;
  cert?: KeyPairPem;
  /** Socket idle budget; the request fails with ETIMEDOUT-like "client timeout" after it. Default 5,000 ms. */
  timeoutMs?: number;
}

/** Sends one request; rejects with the connection error (code kept) when no complete response arrives. */
export function send(url: string, o: SendOptions): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    const req = request(
      url,
      {
        method: o.method ?? "POST",
        ca: o.caPem,
        agent: o.agent ?? false,
        headers: {
          ...(o.body !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(o.body) } : {}),
          ...o.headers,
        },
        ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
        timeout: o.timeoutMs ?? 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), socket: socket! }),
        );
      },
    );
    req.on("socket", (s) => (socket = s as Socket));
    req.on("timeout", () => req.destroy(Object.assign(new Error("client timeout"), { code: "CLIENT_TIMEOUT" })));
    req.on("error", reject);
    req.end(o.body);
  });
}

/** The error a failing `send` produced (fails the test when it succeeded). */
export async function sendError(url: string, o: SendOptions): Promise<NodeJS.ErrnoException> {
  try {
    const r = await send(url, o);
    throw new Error(`expected the request to fail, got HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("expected the request to fail")) throw err;
    return err as NodeJS.ErrnoException;
  }
}

/** An ImageReview as kube-apiserver 1.28 sends it (behavior spec §5). */
export function reviewBody(images: string[], namespace = "default", annotations?: Record<string, string>): string {
  return JSON.stringify({
    kind: "ImageReview",
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    metadata: { creationTimestamp: null },
    spec: { containers: images.map((image) => ({ image })), ...(annotations ? { annotations } : {}), namespace },
    status: { allowed: false },
  });
}
