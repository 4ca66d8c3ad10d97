// Separate trust for etcd, against a real etcd (issue 10 "Must show"): started from the lab's own
// certificates and flags, it accepts the apiserver's etcd client certificate and refuses the
// admin's and the controller-manager's. Needs the cached etcd binary (`imagepolicy-lab binaries`);
// skips, saying so, when it is not there. Loopback only; a few seconds.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_K8S_VERSION, resolveBinaries } from "../../binaries/index.ts";
import { httpsGet } from "../../util/https-get.ts";
import { ManagedProcess } from "../../util/managed-process.ts";
import { freePort } from "../../util/ports.ts";
import { waitFor } from "../../util/wait.ts";
import { writeClusterPki, type ClusterPki } from "./cluster-pki.ts";
import { etcdFlags } from "./component-flags.ts";

const etcdBinary = await resolveBinaries({ k8sVersion: DEFAULT_K8S_VERSION, env: { ...process.env, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", IMAGEPOLICY_LAB_NO_BUILD: "1" } }).then(
  (b) => b.etcd,
  (err: Error) => {
    console.warn(`skipping: no cached etcd (run \`imagepolicy-lab binaries\`): ${err.message.split("\n")[0]}`);
    return undefined;
  },
);

describe.skipIf(!etcdBinary)("etcd started with the lab's certificates", () => {
  let dir: string;
  let pki: ClusterPki;
  let etcd: ManagedProcess;
  let url: string;
  const pair = async (certFile: string, keyFile: string) => ({ certPem: await readFile(certFile, "utf8"), keyPem: await readFile(keyFile, "utf8") });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "etcd-trust-e2e-"));
    pki = await writeClusterPki(join(dir, "pki"));
    const ports = { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: 0, controllerManager: 0 };
    const layout = { admissionDir: "", etcdDataDir: join(dir, "etcd-data"), auditPolicyFile: "", auditLogFile: "", controllerManagerKubeconfig: "" };
    url = `https://127.0.0.1:${ports.etcdClient}/health`;
    etcd = await ManagedProcess.start({ name: "etcd", command: etcdBinary!, args: etcdFlags(pki, layout, ports), logFile: join(dir, "etcd.log"), cwd: dir });
    const apiserverClient = await pair(pki.files.etcdClientCert, pki.files.etcdClientKey);
    await waitFor("etcd /health", async () => ((await httpsGet(url, { caPem: pki.etcdCaPem, ...apiserverClient })).status === 200 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
      abortIf: () => etcd.throwIfExited(),
    });
  }, 60_000);

  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts the apiserver's etcd client certificate", async () => {
    const r = await httpsGet(url, { caPem: pki.etcdCaPem, ...(await pair(pki.files.etcdClientCert, pki.files.etcdClientKey)) });
    expect(r.status).toBe(200);
  });

  it.each([
    ["the admin's", "adminCert", "adminKey"],
    ["the controller-manager's", "controllerManagerCert", "controllerManagerKey"],
  ] as const)("refuses the connection with %s certificate", async (_who, certRole, keyRole) => {
    const err: NodeJS.ErrnoException = await httpsGet(url, { caPem: pki.etcdCaPem, ...(await pair(pki.files[certRole], pki.files[keyRole])) }).then(
      (r) => new Error(`etcd answered HTTP ${r.status}: ${r.body}`),
      (e: NodeJS.ErrnoException) => e,
    );
    // etcd ends the TLS handshake: the client sees an alert about its certificate or a reset.
    expect(`${err.code ?? ""} ${err.message}`).toMatch(/ECONNRESET|EPIPE|certificate|unknown ca|alert/i);
    expect(err.message).not.toMatch(/^etcd answered/);
    console.info(`etcd with ${_who} certificate: ${err.code ?? ""} ${err.message}`);
  });

  it("refuses a client without a certificate", async () => {
    const err = await httpsGet(url, { caPem: pki.etcdCaPem }).then(
      (r) => new Error(`etcd answered HTTP ${r.status}`),
      (e: Error) => e,
    );
    expect(err.message).not.toMatch(/^etcd answered/);
  });

  it("is not trusted through the cluster CA (its serving certificate is the etcd CA's)", async () => {
    const err = await httpsGet(url, { caPem: pki.caPem, ...(await pair(pki.files.etcdClientCert, pki.files.etcdClientKey)) }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });
});
