// The one interface every cluster provider implements (local processes, kind). The lab facade
// (lab/lab.ts) and `down` (lab/down.ts, through the registry in select.ts) talk only to this, so new
// providers (probe mode, other versions) slot in unchanged.
import type { AdmissionProfile } from "../profile/profile.ts";
import type { FaultSpec, StubControl, StubPolicy } from "../../../webhook-stub/src/types.ts";
import type { Logger, Progress } from "../util/logger.ts";
import type { UserRegoPolicy } from "../opa/byo-policy.ts";
import type { LabState, ProviderRecords } from "./lab-state.ts";

export type ProviderName = "local" | "kind";

/** Where and how the apiserver reaches the ImagePolicyWebhook backend. */
export interface BackendEndpoint {
  /** URL as the apiserver sees it, e.g. https://127.0.0.1:8443/review or https://image-policy-stub:8443/review. */
  url: string;
  /** PEM of the CA that signed the backend's serving certificate. */
  caPem: string;
  /** Optional client certificate the apiserver presents (mTLS). */
  client?: { certPem: string; keyPem: string };
}

export interface PreflightResult {
  usable: boolean;
  /** Each missing prerequisite with how to fix it; empty when usable. */
  reasons: string[];
  /** What was found, e.g. "kind v0.32.0, docker 28.2.2". */
  detail?: string;
}

export interface ClusterStartOptions {
  /** Directory that holds the cluster's files (kubeconfig, admission files, keys, logs). Created if missing. */
  stateDir: string;
  /** Kubernetes release, e.g. "1.36.1". */
  k8sVersion: string;
  profile: AdmissionProfile;
  backend: BackendEndpoint;
  /**
   * Whether the apiserver runs the ImagePolicyWebhook plugin (default true). False in labs whose
   * mechanism is a validating webhook or a ValidatingAdmissionPolicy: those are API objects the lab
   * creates once the cluster runs; the provider only leaves the plugin out.
   */
  imagePolicyWebhook?: boolean;
  /** Leave processes running after this process exits (`up`); otherwise they die with us. */
  detached?: boolean;
  /** Keep a failed cluster for debugging instead of deleting it. */
  retain?: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface ProfileSwitch {
  /** Wall time from the restart request to the apiserver answering /readyz again. */
  elapsedMs: number;
}

/** A running cluster. `stop()` is idempotent and removes everything the provider created. */
export interface StartedCluster extends AsyncDisposable {
  readonly provider: ProviderName;
  readonly stateDir: string;
  /** Admin kubeconfig file (written by the provider). */
  readonly kubeconfigPath: string;
  readonly profile: AdmissionProfile;
  /** Rewrites the admission files and restarts the apiserver (and what must follow it: the local controller-manager). */
  applyProfile(profile: AdmissionProfile): Promise<ProfileSwitch>;
  /** What the cluster can show beyond admission answers; scenarios that need more are skipped with a reason. */
  readonly capabilities?: { auditLog?: boolean; controllers?: boolean };
  /** Recent log text of a component ("kube-apiserver", "etcd", "kube-controller-manager", "audit"). */
  logs(component: string, tailLines?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface BackendStartOptions {
  /** Same state directory as the cluster; the backend's files go to `<stateDir>/backend/`. */
  stateDir: string;
  policy?: StubPolicy;
  fault?: FaultSpec;
  /** Require the apiserver to present a client certificate (mTLS). */
  mtls?: boolean;
  detached?: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

/** The stub backend, started where the provider's apiserver can reach it. */
export interface StartedBackend extends AsyncDisposable {
  /** How the apiserver reaches it (goes into the webhook kubeconfig). */
  readonly endpoint: BackendEndpoint;
  /** Control from this process (policy, faults, journal). */
  readonly control: StubControl;
  /** Control endpoint as this host reaches it (loopback), its token file and CA file, for other commands. */
  readonly controlUrl: string;
  readonly tokenFile: string;
  readonly caFile: string;
  /**
   * Where the backend runs (a pid, a container id), for the provider's own record in the state file:
   * the lab facade stores it without reading it, and only this provider's `removeDetached` does.
   */
  readonly record?: ProviderRecords;
  stop(): Promise<void>;
}

export interface OpaStartOptions {
  /** Same state directory as the cluster; OPA's token and authz policy go to `<stateDir>/opa/`. It serves with the backend's certificate (`<stateDir>/backend/`), so startBackend comes first. */
  stateDir: string;
  /** A user's own policy to load instead of the shipped ones (prepareUserPolicy: the file, its wrapper, v0 or v1). */
  userPolicy?: UserRegoPolicy;
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

/**
 * An OPA server (the opa mechanism's backend), started where the provider's apiserver can reach it,
 * over TLS with the backend's CA. Its data lives in memory only: after `resume()` the caller PUTs
 * it again.
 */
export interface StartedOpa extends AsyncDisposable {
  /** Base URL as the apiserver reaches it, e.g. https://127.0.0.1:40123 (no path). */
  readonly url: string;
  /** PEM of the CA that signed OPA's serving certificate (the webhook's caBundle). */
  readonly caPem: string;
  /** The user's policy it runs instead of the shipped one, if any. */
  readonly userPolicy?: UserRegoPolicy;
  /** The bearer token file (0600) and CA file, for other commands (`stub set --trust`). */
  readonly tokenFile: string;
  readonly caFile: string;
  /** Replaces the document at `/v1/data/<path>` (e.g. "lab/trust"). */
  putData(path: string, value: unknown): Promise<void>;
  /** Stops the server but keeps the handle (the fault "OPA down"); idempotent. */
  pause(): Promise<void>;
  /** Starts it again, on the same address with the same files, once it answers; a no-op when running. */
  resume(): Promise<void>;
  /** Where it runs, for the provider's own record in the state file (see StartedBackend.record). */
  readonly record?: ProviderRecords;
  stop(): Promise<void>;
}

export interface RemoveDetachedOptions {
  /** The lab's state directory (absolute). */
  stateDir: string;
  /**
   * Its state file, when there is one and it names this provider. Undefined when there is none (an
   * `up` killed before it wrote one): the provider then removes only what it can recognize as this
   * lab's without it (the local provider: processes whose command line names `stateDir`).
   */
  state?: LabState;
  logger?: Logger;
}

export interface ClusterProvider {
  readonly name: ProviderName;
  /** Whether this provider can run here, and if not, exactly why. Cheap; starts nothing. */
  preflight(): Promise<PreflightResult>;
  /** Starts the stub backend first: with defaultAllow false, the cluster's own pods need it (kind). */
  startBackend(options: BackendStartOptions): Promise<StartedBackend>;
  /**
   * Starts an OPA server for the opa mechanism, after startBackend (it serves with the backend's
   * certificate). Absent on providers that cannot run one yet (kind): the lab then refuses the opa
   * mechanism before anything starts.
   */
  startOpa?(options: OpaStartOptions): Promise<StartedOpa>;
  /**
   * Starts the cluster; resolves only when a user can create a pod at once in `default`,
   * `kube-system` and `kube-public` (their `default` ServiceAccounts exist: common/user-ready.ts).
   */
  start(options: ClusterStartOptions): Promise<StartedCluster>;
  /**
   * Removes what a detached lab of this provider left (`down`, from another process than `up`):
   * processes, containers, clusters, networks, found through its record in the state file. Idempotent.
   * Resolves to one line per thing it removed, e.g. "etcd (pid 123)", "kind cluster iplab-1a2b3c";
   * rejects with an AggregateError naming every part it failed to remove, having tried them all.
   * Keys and the state file are the caller's (removeSecrets).
   */
  removeDetached(options: RemoveDetachedOptions): Promise<string[]>;
  /**
   * Labs of this provider on this machine, found by what they left (processes, containers, clusters),
   * not by a state file: for `down --all` and the orphan warnings of `up`/`run`. Cheap; starts nothing.
   */
  findLeftovers(): Promise<Leftover[]>;
}

/** Something a lab left running, grouped by its state directory when that can be told. */
export interface Leftover {
  /** The lab's state directory; undefined when nothing left names it (then `remove` is set). */
  stateDir?: string;
  /** What runs, e.g. "kube-apiserver (pid 123)", "kind cluster iplab-1a2b3c". */
  parts: string[];
  /** Removes a leftover that has no state directory; returns what it removed. */
  remove?: () => Promise<string[]>;
}
