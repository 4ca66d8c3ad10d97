// Command lines of the local control plane, built from documented defaults. The ImagePolicyWebhook
// flags come from the same kubeadm patch the kind provider applies (kind/control-plane-patch.ts).
import { imagePolicyControlPlanePatch } from "../../kind/control-plane-patch.ts";
export { AUDIT_POLICY } from "../../kind/control-plane-patch.ts";
import { Flags } from "../../util/flags.ts";
import type { ClusterPki } from "./cluster-pki.ts";

export interface LocalLayout {
  /** Directory holding the admission files, as the (local) apiserver sees it. */
  admissionDir: string;
  etcdDataDir: string;
  auditPolicyFile: string;
  auditLogFile: string;
  controllerManagerKubeconfig: string;
}

export interface LocalPorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
}

export function etcdFlags(pki: ClusterPki, layout: LocalLayout, ports: LocalPorts): string[] {
  const client = `https://127.0.0.1:${ports.etcdClient}`;
  const peer = `https://127.0.0.1:${ports.etcdPeer}`;
  return new Flags()
    .set("name", "imagepolicy-lab")
    .set("data-dir", layout.etcdDataDir)
    .set("listen-client-urls", client)
    .set("advertise-client-urls", client)
    .set("listen-peer-urls", peer)
    .set("initial-advertise-peer-urls", peer)
    .set("initial-cluster", `imagepolicy-lab=${peer}`)
    // TLS everywhere, even on loopback: client certificates are required, and only the etcd CA's
    // (the apiserver's etcd client certificate) are accepted, not the cluster CA's (cluster-pki.ts).
    .set("cert-file", pki.files.etcdCert)
    .set("key-file", pki.files.etcdKey)
    .set("trusted-ca-file", pki.files.etcdCa)
    .set("client-cert-auth", true)
    .set("peer-cert-file", pki.files.etcdCert)
    .set("peer-key-file", pki.files.etcdKey)
    .set("peer-trusted-ca-file", pki.files.etcdCa)
    .set("peer-client-cert-auth", true)
    // A lab's etcd is throwaway: skip fsync-heavy work that only slows a 2-core machine.
    .set("unsafe-no-fsync", true)
    // A single member elects itself after one election timeout (default 1 s); on loopback 100 ms is plenty.
    .set("heartbeat-interval", 10)
    .set("election-timeout", 100)
    .set("log-level", "warn")
    .render();
}

export function apiserverFlags(pki: ClusterPki, layout: LocalLayout, ports: LocalPorts, o: { imagePolicyWebhook?: boolean } = {}): string[] {
  const patch = imagePolicyControlPlanePatch(layout.admissionDir, { audit: { policyFile: layout.auditPolicyFile, logFile: layout.auditLogFile }, imagePolicyWebhook: o.imagePolicyWebhook });
  return new Flags()
    .set("etcd-servers", `https://127.0.0.1:${ports.etcdClient}`)
    .set("etcd-cafile", pki.files.etcdCa)
    .set("etcd-certfile", pki.files.etcdClientCert)
    .set("etcd-keyfile", pki.files.etcdClientKey)
    .set("bind-address", "127.0.0.1")
    .set("advertise-address", "127.0.0.1")
    .set("secure-port", ports.apiserver)
    .set("tls-cert-file", pki.files.apiserverCert)
    .set("tls-private-key-file", pki.files.apiserverKey)
    // The cluster CA only: an etcd certificate (etcd CA) does not log in here.
    .set("client-ca-file", pki.files.ca)
    // As kubeadm runs it: Node and RBAC authorization, so workloads meet the same checks as in kind.
    .set("authorization-mode", "Node,RBAC")
    .set("service-account-issuer", "https://kubernetes.default.svc.cluster.local")
    .set("service-account-key-file", pki.files.serviceAccountPub)
    .set("service-account-signing-key-file", pki.files.serviceAccountKey)
    .set("service-cluster-ip-range", "10.96.0.0/16")
    .set("profiling", false)
    .setAll(patch.extraArgs, ["enable-admission-plugins"])
    .render();
}

export function controllerManagerFlags(pki: ClusterPki, layout: LocalLayout, ports: LocalPorts): string[] {
  return new Flags()
    .set("kubeconfig", layout.controllerManagerKubeconfig)
    .set("authentication-kubeconfig", layout.controllerManagerKubeconfig)
    .set("authorization-kubeconfig", layout.controllerManagerKubeconfig)
    // Otherwise it reads the extension-apiserver-authentication ConfigMap at startup, and exits when
    // the RBAC authorizer has not yet seen the bootstrap binding that allows it (a race on a fresh
    // cluster). Its own port needs no request-header authentication in a lab.
    .set("authentication-skip-lookup", true)
    .set("bind-address", "127.0.0.1")
    .set("secure-port", ports.controllerManager)
    // As kubeadm: each controller uses its own ServiceAccount credentials.
    .set("use-service-account-credentials", true)
    .set("service-account-private-key-file", pki.files.serviceAccountKey)
    .set("root-ca-file", pki.files.ca)
    // One controller-manager per lab: leader election would only delay its start by seconds.
    .set("leader-elect", false)
    .set("controllers", "*,-nodeipam,-nodelifecycle,-service-lb-controller,-cloud-node-lifecycle,-persistentvolume-binder,-attachdetach")
    .render();
}
