// Test fixture for the local provider's command lines: every pki file is /pki/<role>, so each flag's
// value says which file it names; paths and ports are fixed so argv compares exactly.
import type { ClusterPki } from "./cluster-pki.ts";
import type { LocalLayout, LocalPorts } from "./component-flags.ts";

const files = new Proxy({} as ClusterPki["files"], { get: (_t, k) => `/pki/${String(k)}` });
export const FIXTURE_PKI = { dir: "/pki", caPem: "", admin: { certPem: "", keyPem: "" }, files } as unknown as ClusterPki;
export const FIXTURE_LAYOUT: LocalLayout = {
  admissionDir: "/state/admission",
  etcdDataDir: "/state/etcd",
  auditPolicyFile: "/state/audit-policy.yaml",
  auditLogFile: "/state/logs/audit.log",
  controllerManagerKubeconfig: "/state/kcm.kubeconfig",
};
export const FIXTURE_PORTS: LocalPorts = { etcdClient: 20001, etcdPeer: 20002, apiserver: 20003, controllerManager: 20004 };
