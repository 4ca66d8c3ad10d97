// The one HTTPS helper, against a real TLS server that demands a client certificate: a readiness
// check with what a kubeconfig holds gets in, one without the client certificate does not.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCA } from "../pki/pki.ts";
import { LabError } from "./errors.ts";
import { httpsRequest, kubeconfigTarget } from "./https-get.ts";
import { renderKubeconfig } from "./kubeconfig.ts";

let server: Server;
let url: string;
let kubeconfig: string;

beforeAll(async () => {
  const ca = await createCA("https-get test CA");
  const serving = await ca.issue({ commonName: "apiserver", hosts: ["127.0.0.1"], usage: "server" });
  const admin = await ca.issue({ commonName: "admin", usage: "client" });
  server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const authorized = (req.socket as import("node:tls").TLSSocket).authorized;
    res.writeHead(authorized ? 200 : 401).end(authorized ? "ok" : "no client certificate");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  kubeconfig = renderKubeconfig({ name: "test", server: url, caPem: ca.certPem, client: admin });
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const load = (text: string) => {
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
};

describe("kubeconfigTarget", () => {
  it("carries the kubeconfig's CA and client certificate, so /readyz answers 200", async () => {
    const target = await kubeconfigTarget(load(kubeconfig));
    expect(target.server).toBe(url);
    const r = await httpsRequest(`${target.server}/readyz`, target.tls, { headers: target.headers });
    expect(r).toEqual({ status: 200, body: "ok" });
  });

  it("without the client certificate the same server says 401 (the check really used it)", async () => {
    const { tls } = await kubeconfigTarget(load(kubeconfig));
    expect((await httpsRequest(`${url}/readyz`, { caPem: tls.caPem })).status).toBe(401);
  });

  it("passes a bearer token on as a header", async () => {
    const kc = load(kubeconfig);
    kc.users[0] = { name: kc.users[0]!.name, token: "s3cret" };
    expect((await kubeconfigTarget(kc)).headers).toMatchObject({ Authorization: "Bearer s3cret" });
  });

  it("refuses a cluster without a CA rather than skip verification", async () => {
    const kc = load(kubeconfig);
    kc.clusters[0] = { ...kc.clusters[0]!, caData: undefined };
    await expect(kubeconfigTarget(kc)).rejects.toBeInstanceOf(LabError);
  });
});
