// The Kubernetes requests scenarios make, through @kubernetes/client-node. Each returns the API's
// answer as data (code, allowed, message), never throws for an admission denial.
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";

/** What the apiserver answered to one request, as received. */
export interface ApiOutcome {
  /**
   * HTTP status of the response that arrived; undefined when none was observed (a response without
   * a usable status). Never filled in from what a status "should" be.
   */
  code: number | undefined;
  /** The request succeeded (2xx); false for every error status. */
  allowed: boolean;
  /** The `message` of an error's Status body; allowed responses carry none. */
  message?: string;
  /** Measured from sending the request to the answer (or the error). */
  durationMs: number;
}

/** What a `*WithHttpInfo` call resolves to; only the status is read. */
export interface ReceivedResponse {
  httpStatusCode?: number;
}

/** The status code if it is one an HTTP response can carry, else undefined (not observed). */
export function observedStatus(code: unknown): number | undefined {
  return typeof code === "number" && Number.isInteger(code) && code >= 100 && code <= 599 ? code : undefined;
}

/**
 * Runs one API call (a client-node `*WithHttpInfo` variant, so the status is the one received) and
 * turns the response or an ApiException into an outcome. Other errors (no HTTP response at all)
 * propagate: the step errors instead of reporting a status nobody saw.
 */
export async function apiOutcome(call: () => Promise<ReceivedResponse>): Promise<ApiOutcome> {
  const t0 = performance.now();
  try {
    const res = await call();
    return { code: observedStatus(res.httpStatusCode), allowed: true, durationMs: performance.now() - t0 };
  } catch (err) {
    const durationMs = performance.now() - t0;
    if (err instanceof ApiException) return { code: observedStatus(err.code), allowed: false, message: statusMessage(err.body), durationMs };
    throw err;
  }
}

export class K8s {
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly batch: BatchV1Api;
  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
  }

  async ensureNamespace(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.core.createNamespace({ body: { metadata: { name, labels } } });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }

  /** Creates the namespace's `default` ServiceAccount unless the controller-manager already did. */
  async ensureDefaultServiceAccount(namespace: string): Promise<void> {
    try {
      await this.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "default" } } });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }

  async deleteNamespace(name: string): Promise<void> {
    try {
      await this.core.deleteNamespace({ name });
    } catch {
      /* best effort: namespaces are unique per run */
    }
  }

  async readPod(namespace: string, name: string): Promise<V1Pod> {
    return this.core.readNamespacedPod({ name, namespace });
  }
}

/** The `message` of a Status body (client-node keeps the raw text). */
export function statusMessage(body: unknown): string {
  if (typeof body !== "string") return JSON.stringify(body);
  try {
    const parsed = JSON.parse(body) as { message?: string };
    return parsed.message ?? body;
  } catch {
    return body;
  }
}

export function podManifest(o: {
  name?: string;
  generateName?: string;
  images: string[];
  initImages?: string[];
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  ownerReference?: boolean;
}): V1Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: o.name,
      generateName: o.generateName,
      annotations: o.annotations,
      labels: o.labels,
      ownerReferences: o.ownerReference
        ? [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "owner", uid: "00000000-0000-0000-0000-000000000001", controller: true }]
        : undefined,
    },
    spec: {
      containers: o.images.map((image, i) => ({ name: `c${i}`, image })),
      initContainers: o.initImages?.map((image, i) => ({ name: `init${i}`, image })),
      // No scheduler runs in the local lab; nothing here needs the pod to start.
      terminationGracePeriodSeconds: 0,
    },
  };
}
