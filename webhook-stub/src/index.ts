// Public API of the webhook stub. The harness, the CLI and scenarios import from here only.
export type {
  AdmissionSummary,
  Counters,
  FaultSpec,
  ImageReviewSpec,
  ImageReviewStatus,
  JournalEntry,
  JournalQuery,
  JournalSnapshot,
  StubControl,
  StubPolicy,
  StubStatus,
} from "./types.ts";
export { startStub, DEFAULT_ADMISSION_PATH, DEFAULT_MAX_BODY_BYTES, DEFAULT_REVIEW_PATH, DEFAULT_STUB_LIMITS, IMAGE_REVIEW_API_VERSION } from "./server.ts";
export { ADMISSION_REVIEW_API_VERSION, ADMISSION_REVIEW_KIND, parseAdmissionReview } from "./admission-review.ts";
export type { ParsedAdmissionReview } from "./admission-review.ts";
export type { StartedStub, StubLimits, StubOptions } from "./server.ts";
export { StubClient, StubControlError } from "./stub-client.ts";
export type { StubClientOptions } from "./stub-client.ts";
export {
  DEFAULT_POLICY,
  evaluate,
  formatPolicyYaml,
  loadPolicyFile,
  parsePolicyYaml,
  trustPolicy,
  validatePolicy,
  FORWARDED_ANNOTATION_MARKER,
  POLICY_API_VERSION,
  POLICY_KIND,
} from "./policy.ts";
export type { PolicyRules } from "./policy.ts";
export { parseFault, formatFault, FAULT_FORMS } from "./faults.ts";
export type { Fault } from "./faults.ts";
export { parseReference, normalizeRegistry, normalizeRepositoryPrefix, registryMatches, repositoryMatches } from "./reference.ts";
export type { ImageReference, ReferenceParseResult } from "./reference.ts";
export { Journal, DEFAULT_JOURNAL_CAPACITY, DEFAULT_JOURNAL_MAX_BYTES } from "./journal.ts";
export { serveMain, loadServeConfig, SERVE_CONFIG_API_VERSION, SERVE_CONFIG_KIND } from "./main.ts";
export type { StubServeConfig, StubReadyFile, ServeIo } from "./main.ts";
export { prepareStubImageContext } from "../build-context.ts";
export type { StubImageContext } from "../build-context.ts";
