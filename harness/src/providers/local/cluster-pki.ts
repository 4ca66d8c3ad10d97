// Certificates and keys for a local control plane, with two separate trust domains as kubeadm sets
// them up (https://kubernetes.io/docs/setup/best-practices/certificates/):
//   - the cluster CA signs the apiserver's serving certificate and the clients of the apiserver (the
//     admin, the controller-manager); the apiserver's --client-ca-file trusts only it;
//   - the etcd CA signs etcd's serving (and peer) certificate and the one etcd client certificate,
//     the apiserver's; etcd's --trusted-ca-file trusts only it.
// So no Kubernetes client certificate opens etcd (which would bypass authorization and admission
// altogether), and no etcd certificate logs in to the apiserver. Neither CA's key is written: the lab
// never issues another certificate. Keys are written 0600.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCA, createSigningKeyPem, type KeyPairPem } from "../../pki/pki.ts";

export interface ClusterPki {
  dir: string;
  /** The cluster CA (the apiserver's serving certificate and its clients). */
  caPem: string;
  /** The etcd CA (etcd's serving certificate and the apiserver's etcd client certificate); trusted by etcd only. */
  etcdCaPem: string;
  admin: KeyPairPem;
  /** Absolute paths of every file written, by role. */
  files: {
    ca: string;
    etcdCa: string;
    apiserverCert: string;
    apiserverKey: string;
    etcdCert: string;
    etcdKey: string;
    etcdClientCert: string;
    etcdClientKey: string;
    controllerManagerCert: string;
    controllerManagerKey: string;
    adminCert: string;
    adminKey: string;
    serviceAccountPub: string;
    serviceAccountKey: string;
  };
}

/** Names and addresses the apiserver is reached by, in and out of the cluster. */
const APISERVER_HOSTS = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"];

export async function writeClusterPki(dir: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [ca, etcdCa] = await Promise.all([createCA("imagepolicy-lab cluster CA"), createCA("imagepolicy-lab etcd CA")]);
  const [apiserver, etcd, etcdClient, kcm, admin, sa] = await Promise.all([
    ca.issue({ commonName: "kube-apiserver", hosts: APISERVER_HOSTS, usage: "server" }),
    // Serving and peer: etcd presents it on both sides of its peer connections.
    etcdCa.issue({ commonName: "etcd", hosts: ["127.0.0.1", "localhost"], usage: "both" }),
    etcdCa.issue({ commonName: "kube-apiserver-etcd-client", usage: "client" }),
    // The bootstrap RBAC binding `system:kube-controller-manager` grants this user what it needs.
    ca.issue({ commonName: "system:kube-controller-manager", usage: "client" }),
    ca.issue({ commonName: "kubernetes-admin", organizations: ["system:masters"], usage: "client" }),
    createSigningKeyPem(),
  ]);
  // One table: each role's file name and content; paths and writes are derived from it.
  const table: Record<keyof ClusterPki["files"], [name: string, content: string]> = {
    ca: ["ca.crt", ca.certPem],
    etcdCa: ["etcd-ca.crt", etcdCa.certPem],
    apiserverCert: ["apiserver.crt", apiserver.certPem],
    apiserverKey: ["apiserver.key", apiserver.keyPem],
    etcdCert: ["etcd.crt", etcd.certPem],
    etcdKey: ["etcd.key", etcd.keyPem],
    etcdClientCert: ["apiserver-etcd-client.crt", etcdClient.certPem],
    etcdClientKey: ["apiserver-etcd-client.key", etcdClient.keyPem],
    controllerManagerCert: ["controller-manager.crt", kcm.certPem],
    controllerManagerKey: ["controller-manager.key", kcm.keyPem],
    adminCert: ["admin.crt", admin.certPem],
    adminKey: ["admin.key", admin.keyPem],
    serviceAccountPub: ["sa.pub", sa.publicPem],
    serviceAccountKey: ["sa.key", sa.privatePem],
  };
  const entries = Object.entries(table) as [keyof ClusterPki["files"], [string, string]][];
  const files = Object.fromEntries(entries.map(([role, [name]]) => [role, join(dir, name)])) as ClusterPki["files"];
  await Promise.all(entries.map(([role, [name, content]]) => writeFile(files[role], content, { mode: name.endsWith(".key") ? 0o600 : 0o644 })));
  return { dir, caPem: ca.certPem, etcdCaPem: etcdCa.certPem, admin, files };
}
