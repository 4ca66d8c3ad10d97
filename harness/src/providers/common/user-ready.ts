// "Ready" means ready for what a user does next: create a pod in `default`, `kube-system` or
// `kube-public`. A pod create needs its namespace's `default` ServiceAccount, which the
// controller-manager creates only seconds after the apiserver answers; a user who creates a pod
// before that gets `serviceaccount "default" not found`, which looks like an admission failure.
// Both providers finish start() with waitUntilUsable(), so that error never reaches a user.
import { KubeConfig } from "@kubernetes/client-node";
import { LabError } from "../../util/errors.ts";
import { httpsRequest, kubeconfigTarget, type KubeconfigTarget } from "../../util/https-get.ts";
import { waitFor } from "../../util/wait.ts";

/** The namespaces a lab is ready to run pods in when start() returns (README: "Ready"). */
export const USER_NAMESPACES = Object.freeze(["default", "kube-system", "kube-public"] as const);

function serviceAccountUrl(server: string, namespace: string, name = ""): string {
  return `${server}/api/v1/namespaces/${namespace}/serviceaccounts${name ? `/${name}` : ""}`;
}

/**
 * Creates the `default` ServiceAccount in each namespace that already exists, as envtest does, so
 * the lab need not wait for the controller-manager's first pass. 409 (it was faster) and 404 (the
 * namespace is not created yet) are fine: waitUntilUsable() waits for those.
 */
export async function createDefaultServiceAccounts(target: KubeconfigTarget): Promise<void> {
  await Promise.all(
    USER_NAMESPACES.map(async (namespace) => {
      const { status, body } = await httpsRequest(serviceAccountUrl(target.server, namespace), target.tls, {
        method: "POST",
        headers: target.headers,
        json: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace } },
        timeoutMs: 10_000,
      });
      if (status !== 201 && status !== 409 && status !== 404) throw new LabError(`failed to create the default ServiceAccount in ${namespace}: HTTP ${status} ${body.slice(0, 200)}`);
    }),
  );
}

/** Resolves once every USER_NAMESPACES namespace has its `default` ServiceAccount. */
export async function waitUntilUsable(kubeconfigPath: string, o: { timeoutMs: number; signal?: AbortSignal; onWaiting?: (namespaces: string[]) => void }): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const target = await kubeconfigTarget(kc);
  const missing = new Set<string>(USER_NAMESPACES);
  await waitFor(
    `the default ServiceAccount in ${USER_NAMESPACES.join(", ")}`,
    async () => {
      for (const namespace of [...missing]) {
        const { status } = await httpsRequest(serviceAccountUrl(target.server, namespace, "default"), target.tls, { headers: target.headers, timeoutMs: 5_000 });
        if (status === 200) missing.delete(namespace);
      }
      if (missing.size) o.onWaiting?.([...missing]);
      return missing.size === 0 ? true : undefined;
    },
    { timeoutMs: o.timeoutMs, intervalMs: 250, ...(o.signal ? { signal: o.signal } : {}) },
  );
}
