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
  const f = (name: string) => join(dir, name);
  const files: ClusterPki["files"] = {
    ca: f("ca.crt"),
    apiserverCert: f("apiserver.crt"),
    apiserverKey: f("apiserver.key"),
    etcdCert: f("etcd.crt"),
    etcdKey: f("etcd.key"),
    etcdClientCert: f("apiserver-etcd-client.crt"),
    etcdClientKey: f("apiserver-etcd-client.key"),
    controllerManagerCert: f("controller-manager.crt"),
    controllerManagerKey: f("controller-manager.key"),
    adminCert: f("admin.crt"),
    adminKey: f("admin.key"),
    serviceAccountPub: f("sa.pub"),
    serviceAccountKey: f("sa.key"),
  };
  const writes: [string, string][] = [
    [files.ca, ca.certPem],
    [files.apiserverCert, apiserver.certPem],
    [files.apiserverKey, apiserver.keyPem],
    [files.etcdCert, etcd.certPem],
    [files.etcdKey, etcd.keyPem],
    [files.etcdClientCert, etcdClient.certPem],
    [files.etcdClientKey, etcdClient.keyPem],
    [files.controllerManagerCert, kcm.certPem],
    [files.controllerManagerKey, kcm.keyPem],
    [files.adminCert, admin.certPem],
    [files.adminKey, admin.keyPem],
    [files.serviceAccountPub, sa.publicPem],
    [files.serviceAccountKey, sa.privatePem],
  ];
  await Promise.all(writes.map(([path, content]) => writeFile(path, content, { mode: path.endsWith(".key") ? 0o600 : 0o644 })));
  return { dir, caPem: ca.certPem, admin, files };
}
