// The package's public API (package.json "exports": "."). Everything else under harness/src is
// internal and may change; the CLI (cli/) is a thin shell over exactly these names.

// A lab: stub backend + cluster whose apiserver runs ImagePolicyWebhook.
export { startLab, type LabOptions, type StartedLab } from "./lab/lab.ts";
export { downLab } from "./lab/down.ts";

// Cluster providers and how one is chosen.
export { LocalProvider, type LocalProviderOptions } from "./providers/local/local-provider.ts";
export { KindProvider, type KindProviderOptions } from "./providers/kind/kind-provider.ts";
export { selectProvider, type ProviderChoice, type ProviderSelection, type SelectOptions } from "./providers/select.ts";
export type {
  BackendEndpoint,
  BackendStartOptions,
  ClusterProvider,
  ClusterStartOptions,
  PreflightResult,
  ProfileSwitch,
  ProviderName,
  RemoveDetachedOptions,
  StartedBackend,
  StartedCluster,
} from "./providers/provider.ts";

// The admission profile and its lint.
export {
  DEFAULT_PROFILE,
  PROFILE_API_VERSION,
  effectiveDurations,
  lintProfile,
  profileKey,
  resolveProfile,
  worstCaseRetryMs,
  type AdmissionProfile,
  type LintResult,
} from "./profile/profile.ts";
export { lintAdmissionFile } from "./profile/lint-file.ts";

// Scenarios: load, plan, play, and what a run produced.
export { CATALOG_DIR, loadScenarioFile, loadScenarios, resolveScenarioArgs, type LoadedScenario } from "./scenario/load.ts";
export { createPlayer, runScenarios, type RunEvent, type RunOptions, type ScenarioPlayer } from "./scenario/runner.ts";
export { SCENARIO_API_VERSION, type ScenarioDoc, type StepDoc } from "./scenario/schema.ts";
export { exitCodeFor, type CheckResult, type RunReport, type ScenarioResult, type StepResult, type Verdict } from "./scenario/result.ts";

// Training exercises (exercises/*.yaml) on a local lab whose apiserver runs from a static pod manifest, or on kind (the node's real manifest).
export { EXERCISES_DIR, findExercise, loadExerciseFile, loadExercises, type LoadedExercise } from "./exercise/load.ts";
export { applySolution, checkExercise, nextHint, resetExercise, startExercise, type CheckOutcome, type StartExerciseOptions } from "./exercise/session.ts";
export type { ExerciseDoc, ExerciseEdit } from "./exercise/schema.ts";

// Reports rendered from a RunReport.
export * from "./report/index.ts";

// Probe an existing cluster against a trust list with server-side dry runs (`probe`).
export * from "./probe/index.ts";

// Kubernetes binaries for the local provider.
export {
  BINARIES_ENV,
  DEFAULT_K8S_VERSION,
  ensureBinaries,
  resolveBinaries,
  supportedVersions,
  type ControlPlaneBinaries,
  type ResolveBinariesOptions,
} from "./binaries/index.ts";

// Errors callers branch on (instanceof and fields), logging and cleanup hooks.
export {
  BinariesUnavailableError,
  CommandError,
  ConfigError,
  LabError,
  ProcessExitedError,
  ProviderUnavailableError,
  WaitTimeoutError,
  formatIssue,
  type ConfigIssue,
} from "./util/errors.ts";
export { silentLogger, silentProgress, type Logger, type Progress, type ProgressTask } from "./util/logger.ts";
export { CleanupRegistry } from "./util/cleanup.ts";

// The ImageReview stub backend (startStub, StubClient, policies, faults, journal).
export * from "../../webhook-stub/src/index.ts";
