// Public API of the OPA part: the binary, the shipped policies and their data contract, and the
// Rego linter. docs/opa.md explains them; mechanisms.md §A has the background.
export { ensureOpa, findOpa, OPA_ENV, OPA_MODULE, OPA_VERSION, opaCacheDir, opaInstallCommand, type EnsureOpaOptions, type OpaLookup } from "./opa-binary.ts";
export {
  OPA_ADMISSION_PATH,
  OPA_IMAGEREVIEW_PATH,
  OPA_POLICY_DIR,
  OPA_TRUST_DATA_PATH,
  opaPolicyFiles,
  opaTrustDocument,
  type OpaTrustDocument,
} from "./opa-policy.ts";
export { analyzeModules, lintRego, REGO_CHECKS, type LintRegoOptions, type RegoCheck, type RegoFinding, type RegoLintResult } from "./rego-lint.ts";
