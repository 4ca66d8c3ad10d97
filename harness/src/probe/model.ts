// What a probe is made of and what it produced: the planned cases, the apiserver's answer to each
// (as received, then classified), the verdict against the declared trust list, and the findings in
// plain words. Every renderer (terminal, JSON, JUnit, HTML) reads a ProbeReport and nothing else.

/** Which part of the checklist a case belongs to (issue 12, "What to build" 1). */
export type CaseGroup = "trusted" | "untrusted" | "spoofing" | "docker-hub" | "init-container" | "workload" | "ephemeral";

/** How a spoofing variant imitates a trusted entry; each has its own explanation when admitted. */
export type SpoofKind = "suffix-domain" | "hyphen" | "port" | "path";

/** The object a case sends as a server-side dry run. */
export type ProbeKind = "Pod" | "Deployment" | "Job" | "EphemeralContainer";

/**
 * What the declared trust list says should happen. `refused-or-pods-refused`: a workload may be
 * refused at create (a webhook or VAP that matches workloads) or accepted with pods that will be
 * refused when its controller creates them (ImagePolicyWebhook reviews pods only); both keep the
 * image out, and the report says which.
 */
export type Expectation = "admitted" | "refused" | "refused-or-pods-refused";

/** One planned request. */
export interface ProbeCase {
  /** Stable, short, unique in a plan: `untrusted`, `spoof-suffix-domain-1`, `deployment`. */
  id: string;
  group: CaseGroup;
  kind: ProbeKind;
  /** What a reader sees in tables: "Pod with an untrusted image". */
  title: string;
  /** Container images (for EphemeralContainer: the ephemeral container's image). */
  images: string[];
  initImages?: string[];
  expect: Expectation;
  /** Why the trust list expects that: "evil.example is not on the trust list". */
  why: string;
  spoof?: SpoofKind;
}

/** An admission mechanism, as named by the apiserver's own message. */
export type MechanismId =
  | { kind: "imagepolicywebhook" }
  | { kind: "webhook"; name: string }
  | { kind: "vap"; policy: string; binding: string }
  | { kind: "other"; what: string };

/** Answers that refuse but say nothing about the image policy. */
export type NotADenialCause =
  /** A webhook with sideEffects Unknown/Some refuses every dry run, whatever the image. */
  | "dry-run-unsupported"
  /** The backend could not be asked and the mechanism fails closed: a refusal, but not a verdict. */
  | "backend-error"
  /** A ValidatingAdmissionPolicy that could not evaluate (missing params, CEL error) under failurePolicy Fail. */
  | "policy-error"
  /** RBAC forbids the probe's own request. */
  | "rbac"
  /** The namespace does not exist. */
  | "namespace-missing"
  /** `--pod` names a pod the probe cannot read (absent, or not readable with these credentials). */
  | "pod-unreadable"
  /** Something else refused (PodSecurity, a quota, a LimitRange, validation). */
  | "unrelated";

/** The classified answer to one request. */
export type Answer =
  | { outcome: "admitted"; warnings: string[] }
  | { outcome: "refused"; by: MechanismId; reason: string }
  | { outcome: "not-a-denial"; cause: NotADenialCause; by?: MechanismId; detail: string }
  /** No HTTP answer (connection refused, TLS, timeout). */
  | { outcome: "no-response"; detail: string };

/**
 * A case's verdict against the declared trust list:
 * - `as-expected`;
 * - `hole`: an image the trust list excludes got in;
 * - `trusted-refused`: an image the user names as trusted was refused;
 * - `inconclusive`: the answer says nothing about the image policy (RBAC, PodSecurity, no dry-run support).
 */
export type CaseVerdict = "as-expected" | "hole" | "trusted-refused" | "inconclusive";

export interface CaseResult extends ProbeCase {
  request: { kind: ProbeKind; name: string; namespace: string; dryRun: "All"; pod?: string };
  /** The answer as received; absent when none arrived (then `answer` is no-response). */
  response?: {
    /** HTTP status received; undefined when none was observed. */
    code: number | undefined;
    allowed: boolean;
    /** The Status message of a refusal, verbatim. */
    message?: string;
    /** `Warning` headers of the answer (a policy in Warn mode speaks only there). */
    warnings?: string[];
    durationMs: number;
  };
  answer: Answer;
  verdict: CaseVerdict;
  /** One line of what happened, in words: "refused by ImagePolicyWebhook: <reason>". */
  observed: string;
}

/**
 * - `hole`: an untrusted image gets in (exit 1);
 * - `problem`: a trusted image is refused (exit 1);
 * - `cannot-run`: part of the probe could not ask (exit 2 unless a hole or problem was found);
 * - `note`: worth knowing, not wrong (a Deployment accepted whose pods will be refused later).
 */
export type FindingSeverity = "hole" | "problem" | "cannot-run" | "note";

export interface Finding {
  severity: FindingSeverity;
  /** The statement, complete on its own line; codes and messages in it are the received ones. */
  text: string;
  /** The ids of the cases it is drawn from. */
  cases: string[];
}

/** What the apiserver's /metrics showed across the probe (best effort: needs `get` on /metrics). */
export type MetricsEvidence =
  | { readable: false; reason: string }
  | {
      readable: true;
      /** The ImagePolicyWebhook admission plugin has run in this apiserver (it has admission metrics). */
      imagePolicyWebhookEnabled: boolean;
      /** Validating webhooks that failed open during the probe, and how often (apiserver_admission_webhook_fail_open_count). */
      webhookFailOpen: Record<string, number>;
      /** The apiserver's outgoing POSTs during the probe, by host and code (rest_client_requests_total), its own address left out. */
      outgoingPosts: { host: string; code: string; count: number }[];
    };

export interface ProbeTarget {
  /** The kubeconfig file as given (or found through KUBECONFIG, or the default path). */
  kubeconfig: string;
  context: string;
  server: string;
  namespace: string;
  /** The apiserver's version (GET /version); undefined when it could not be read. */
  k8sVersion?: string;
}

export interface ProbeTotals {
  cases: number;
  asExpected: number;
  holes: number;
  trustedRefused: number;
  inconclusive: number;
}

/** Version of the JSON layout (probe.json); bump when a field is renamed, removed or changes meaning. */
export const PROBE_SCHEMA_VERSION = 1;

export interface ProbeReport {
  tool: { name: "imagepolicy-lab"; version: string };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  target: ProbeTarget;
  /** The declared trust list, as given. */
  trust: string[];
  trustedImages: string[];
  /** The value of the nonce annotation every probe pod carried (defeats ImagePolicyWebhook's cache). */
  nonce: string;
  cases: CaseResult[];
  findings: Finding[];
  metrics: MetricsEvidence;
  /** Set when the probe could not ask at all (cluster unreachable, credentials refused); then no cases ran. */
  cannotRun?: string;
  totals: ProbeTotals;
  /** 0 all as expected, 1 a hole or a refused trusted image, 2 the probe could not run (fully or in part). */
  exitCode: 0 | 1 | 2;
}

/** The annotation that makes every probe's ImageReview new to ImagePolicyWebhook's cache (mechanisms.md §E item 4). */
export const NONCE_ANNOTATION = "probe.image-policy.k8s.io/nonce";
