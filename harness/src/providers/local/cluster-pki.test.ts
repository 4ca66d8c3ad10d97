// The two trust domains of a local lab (issue 10): which CA signed what, checked cryptographically.
// The e2e test beside it shows the same against a real etcd.
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeClusterPki, type ClusterPki } from "./cluster-pki.ts";

let dir: string;
let pki: ClusterPki;
const cert = async (file: string) => new X509Certificate(await readFile(file, "utf8"));
/** Whether `leaf` is signed by `ca` (issuer name and signature). */
const signedBy = (leaf: X509Certificate, ca: X509Certificate) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cluster-pki-"));
  pki = await writeClusterPki(join(dir, "pki"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("writeClusterPki", () => {
  it("signs etcd's certificates with the etcd CA and everything else with the cluster CA", async () => {
    const ca = await cert(pki.files.ca);
    const etcdCa = await cert(pki.files.etcdCa);
    expect(ca.fingerprint256).not.toBe(etcdCa.fingerprint256);
    expect(ca.publicKey.equals(etcdCa.publicKey)).toBe(false);
    for (const f of [pki.files.etcdCert, pki.files.etcdClientCert]) {
      expect(signedBy(await cert(f), etcdCa), f).toBe(true);
      expect(signedBy(await cert(f), ca), f).toBe(false);
    }
    for (const f of [pki.files.apiserverCert, pki.files.adminCert, pki.files.controllerManagerCert]) {
      expect(signedBy(await cert(f), ca), f).toBe(true);
      expect(signedBy(await cert(f), etcdCa), f).toBe(false);
    }
    expect(pki.etcdCaPem).toBe(await readFile(pki.files.etcdCa, "utf8"));
  });

  it("gives an etcd client certificate to the apiserver only", async () => {
    const etcdCa = await cert(pki.files.etcdCa);
    const certFiles = Object.entries(pki.files).filter(([role]) => role.endsWith("Cert"));
    const opensEtcd = [];
    for (const [role, file] of certFiles) if (signedBy(await cert(file), etcdCa)) opensEtcd.push(role);
    // etcdCert is etcd's own (serving and peer); etcdClientCert is the apiserver's.
    expect(opensEtcd.sort()).toEqual(["etcdCert", "etcdClientCert"]);
    expect((await cert(pki.files.etcdClientCert)).subject).toBe("CN=kube-apiserver-etcd-client");
  });

  it("writes neither CA's key, and every key 0600", async () => {
    const contents = await Promise.all(Object.values(pki.files).map((f) => readFile(f, "utf8")));
    const keys = contents.filter((c) => c.includes("PRIVATE KEY"));
    expect(keys).toHaveLength(Object.keys(pki.files).filter((r) => r.endsWith("Key")).length);
    for (const [role, file] of Object.entries(pki.files)) {
      if (role.endsWith("Key")) expect((await stat(file)).mode & 0o777, role).toBe(0o600);
    }
  });
});
