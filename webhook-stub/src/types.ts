// The contract between the webhook stub and everything that drives it (harness, scenarios, CLI).
// The stub implements it in-process (StartedStub.control) and over its HTTPS control port (StubClient).

/** ImageReview spec as the apiserver sends it (imagepolicy.k8s.io/v1alpha1). */
export interface ImageReviewSpec {
  containers?: { image?: string }[];
  annotations?: Record<string, string>;
  namespace?: string;
}

export interface ImageReviewStatus {
  allowed: boolean;
  reason?: string;
  auditAnnotations?: Record<string, string>;
}

/** A fault spec string, as accepted by `stub set --fault` and scenarios. See faults.ts for the grammar:
 *  refuse | status:CODE | status:429:retry-after:SECONDS | delay:MS | hang | reset | malformed |
 *  content-type | empty | bad-cert | first:N:SPEC | healthy */
export type FaultSpec = string;

/**
 * What the journal keeps of an AdmissionReview's request (admission.k8s.io/v1, the `/validate`
 * endpoint), besides the images, namespace and annotations every entry has.
 */
export interface AdmissionSummary {
  /** `request.uid`, echoed in the response. */
  uid: string;
  /** `request.kind.kind`, e.g. Pod, Deployment, CronJob. */
  kind: string;
  /** `request.resource.resource`, with `/<subResource>` when there is one: "pods", "pods/ephemeralcontainers", "deployments". */
  resource: string;
  /** `request.operation`: CREATE, UPDATE, DELETE or CONNECT. */
  operation: string;
  /** `request.name`; absent when the apiserver sent none (e.g. a create with generateName). */
  name?: string;
  /** `request.dryRun` (false when absent). */
  dryRun: boolean;
  /** `request.userInfo.username`, when sent. */
  user?: string;
}

/** One request the review port received (every request, faults included). */
export interface JournalEntry {
  /** Monotonic sequence number, starting at 1 for the stub's first request; never reused after reset. */
  seq: number;
  /**
   * The protocol of the endpoint the request went to: "ImageReview" (the review path, and paths the
   * stub does not serve) or "AdmissionReview" (the admission path). Set on every entry since the
   * admission endpoint exists; absent (older stubs) means ImageReview.
   */
  review?: "ImageReview" | "AdmissionReview";
  /** For valid AdmissionReview requests: what the request said besides the images. */
  admission?: AdmissionSummary;
  /** Wall-clock receive time, ISO 8601. */
  time: string;
  /** Milliseconds since the stub started (monotonic clock), for measuring gaps between calls. */
  atMs: number;
  method: string;
  /** Request path and query as received, e.g. /review?timeout=30s */
  url: string;
  /**
   * Images in the order the apiserver sent them (for an AdmissionReview: in the order the stub reviews
   * them, see admission-review.ts). Empty when the body was not a valid review. At most
   * the stub's `maxImagesPerReview`; the rest are counted in `imagesOmitted`.
   */
  images: string[];
  /** Images the review carried but this entry does not list (over `maxImagesPerReview`, or an entry too big for the journal). */
  imagesOmitted?: number;
  namespace: string;
  /**
   * Forwarded annotations exactly as received ({} when none); for an AdmissionReview, the pod's (or
   * pod template's) annotations the ImagePolicyWebhook plugin would forward.
   */
  annotations: Record<string, string>;
  /** Annotations not kept because the entry alone was too big for the journal's byte limit. */
  annotationsOmitted?: number;
  /** What the stub did: its policy verdict, a fault it applied, or a rejected (invalid) request. */
  outcome: "allowed" | "denied" | "fault" | "invalid";
  /** Reason text sent back (deny reason, or the 4xx message for invalid requests). */
  reason?: string;
  /** Audit annotations sent back. */
  auditAnnotations?: Record<string, string>;
  /** The fault spec applied to this request, if any. */
  fault?: FaultSpec;
  /**
   * HTTP status sent; 0 when no response was sent (reset, hang, or the client closed the connection
   * first, e.g. during a `delay`). `outcome` still says what the stub had decided.
   */
  status: number;
  /** Time from request received to response finished (or to the socket closing). */
  latencyMs: number;
}

export interface JournalQuery {
  /** Only entries with seq > since (use a mark). */
  since?: number;
}

export interface Counters {
  requests: number;
  allowed: number;
  denied: number;
  faults: number;
  invalid: number;
  /** Entries dropped (oldest first) to stay within the journal's entry and byte limits. */
  dropped: number;
}

export interface JournalSnapshot {
  entries: JournalEntry[];
  counters: Counters;
  /** Highest seq so far; pass it back as `since` to see only later requests. */
  lastSeq: number;
  /** What the journal holds now: entries and their estimated bytes (see the stub's journal limits). */
  retained: { entries: number; bytes: number };
}

/**
 * A namespace's own policy and fault, applied to reviews whose `spec.namespace` (ImageReview) or
 * `request.namespace` (AdmissionReview) is that namespace,
 * ahead of the global ones. Lets several labs or scenarios share one stub without seeing each
 * other's settings. Only request-level faults can be scoped (not `refuse` or `bad-cert`, which act on
 * connections before the namespace is known). A scope without `policy` uses the global policy; a
 * scope without `fault` is healthy: the global fault does not reach a scoped namespace.
 */
export interface NamespaceScope {
  policy?: StubPolicy;
  fault?: FaultSpec;
}

export interface StubStatus {
  policy: StubPolicy;
  fault: FaultSpec;
  /** Namespaces with their own settings: the fault in force and whether a policy is set. */
  scopes?: Record<string, { fault: FaultSpec; policy: boolean }>;
  reviewListening: boolean;
  lastSeq: number;
}

/** The stub's policy (the YAML file's schema, after defaults). Rules are evaluated per image. */
export interface StubPolicy {
  /** Registries (host[:port]) whose images are allowed, matched on the component boundary. */
  allowRegistries: string[];
  /** Repository prefixes (registry/path) allowed, matched on path-component boundaries. */
  allowRepositories: string[];
  /** Glob patterns over the normalized reference that deny even when allowed (`*` = within a component, `**` = across). */
  denyPatterns: string[];
  /** Deny references without a @sha256 digest. */
  requireDigest: boolean;
  /** Deny the `latest` tag and references with neither tag nor digest. */
  denyLatest: boolean;
  /** Per-namespace rules that replace the top-level ones for that namespace. */
  namespaces: Record<string, Omit<StubPolicy, "namespaces" | "breakGlass" | "auditAnnotations">>;
  /** Allow everything when the review carries this forwarded annotation key with a non-empty value. */
  breakGlass?: { annotation: string; auditAnnotation: string };
  /** Audit annotations returned on every decision (keys without prefix). */
  auditAnnotations: Record<string, string>;
}

/** Control surface, identical in-process and over HTTP. */
export interface StubControl {
  setPolicy(policy: StubPolicy): Promise<void>;
  setFault(fault: FaultSpec): Promise<void>;
  /** Sets (or with null removes) a namespace's own policy and fault. */
  setScope(namespace: string, scope: NamespaceScope | null): Promise<void>;
  status(): Promise<StubStatus>;
  journal(query?: JournalQuery): Promise<JournalSnapshot>;
  resetJournal(): Promise<void>;
}
