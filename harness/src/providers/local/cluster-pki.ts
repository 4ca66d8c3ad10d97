// Certificates and keys for a local control plane: one cluster CA signs the apiserver's and etcd's
// serving certificates and the client certificates of the admin, the controller-manager and the
// apiserver (towards etcd). Keys are written 0600.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCA, createSigningKeyPem, type KeyPairPem } from "../../pki/pki.ts";

export interface ClusterPki {
  dir: string;
  caPem: string;
  admin: KeyPairPem;
  /** Absolute paths of every file written, by role. */
  files: {
    ca: string;
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
  const ca = await createCA("imagepolicy-lab cluster CA");
  const [apiserver, etcd, etcdClient, kcm, admin, sa] = await Promise.all([
    ca.issue({ commonName: "kube-apiserver", hosts: APISERVER_HOSTS, usage: "server" }),
    ca.issue({ commonName: "etcd", hosts: ["127.0.0.1", "localhost"], usage: "both" }),
    ca.issue({ commonName: "kube-apiserver-etcd-client", usage: "client" }),
    // The bootstrap RBAC binding `system:kube-controller-manager` grants this user what it needs.
    ca.issue({ commonName: "system:kube-controller-manager", usage: "client" }),
    ca.issue({ commonName: "kubernetes-admin", organizations: ["system:masters"], usage: "client" }),
    createSigningKeyPem(),
  ]);
  // One table: each role's file name and content; paths and writes are derived from it.
  const table: Record<keyof ClusterPki["files"], [name: string, content: string]> = {
    ca: ["ca.crt", ca.certPem],
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
  return { dir, caPem: ca.certPem, admin, files };
}
