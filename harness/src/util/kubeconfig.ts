// Kubeconfig files for clients of the lab's apiserver (admin, controller-manager).
import { stringify } from "yaml";

export interface KubeconfigInput {
  /** Cluster and context name. */
  name: string;
  server: string;
  caPem: string;
  /** Client certificate and key: embedded PEM, or file paths. */
  client: { certPem: string; keyPem: string } | { certFile: string; keyFile: string };
}

export function renderKubeconfig(k: KubeconfigInput): string {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const user =
    "certPem" in k.client
      ? { "client-certificate-data": b64(k.client.certPem), "client-key-data": b64(k.client.keyPem) }
      : { "client-certificate": k.client.certFile, "client-key": k.client.keyFile };
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: k.name, cluster: { server: k.server, "certificate-authority-data": b64(k.caPem) } }],
    users: [{ name: `${k.name}-user`, user }],
    contexts: [{ name: k.name, context: { cluster: k.name, user: `${k.name}-user` } }],
    "current-context": k.name,
  });
}
