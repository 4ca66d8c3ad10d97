// The scenario file format (scenarios/*.yaml): what to set up, what to do, what must happen.
// Strict: an unknown key is an error, so a misspelled expectation can never pass silently.
import { z } from "zod";
import { parseFault } from "../../../webhook-stub/src/faults.ts";
import { MECHANISM_NAMES } from "../mechanism/names.ts";
import { ConfigError } from "../util/errors.ts";
import { patternRegExp } from "./checks.ts";

/** Longest wait or budget a step may name: the slowest catalog scenario waits 30 s. */
export const MAX_STEP_DURATION_MS = 600_000;
/** Most steps in one scenario (the catalog's longest has 10). */
export const MAX_STEPS = 500;
const durationMs = z.number().int().nonnegative().max(MAX_STEP_DURATION_MS, `at most ${MAX_STEP_DURATION_MS} ms (10 minutes)`);
const range = z.strictObject({ min: z.number().optional(), max: z.number().optional() }).describe("inclusive bounds");
const countOrRange = z.union([z.number().int().nonnegative(), range]);
const stringMap = z.record(z.string(), z.string());

/** Patterns: a plain string is a substring; `/.../flags` is a regular expression, compiled at load time. */
const textPattern = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    try {
      patternRegExp(p);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/** A stub fault spec, parsed at load time so a typo names its line instead of failing mid-run. */
const faultSpec = z.string().superRefine((spec, ctx) => {
  try {
    parseFault(spec);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: err instanceof ConfigError ? err.issues.map((i) => i.message).join("; ") : (err as Error).message });
  }
});

/** A namespace suffix: `<scenario namespace>-<suffix>` must stay a DNS label of at most 63 characters. */
export const NAMESPACE_SUFFIX_MAX = 13;
const namespaceSuffix = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a namespace suffix must be lower-case letters, digits and '-'")
  .max(NAMESPACE_SUFFIX_MAX, `a namespace suffix has at most ${NAMESPACE_SUFFIX_MAX} characters (it is appended to the scenario's namespace)`);

const profile = z
  .strictObject({
    defaultAllow: z.boolean().optional(),
    allowTTL: z.number().optional(),
    denyTTL: z.number().optional(),
    retryBackoff: z.number().optional(),
  })
  .describe("admission profile; missing fields take the lab defaults; checked by the profile lint");

const policyRules = z.strictObject({
  allowRegistries: z.array(z.string()).optional(),
  allowRepositories: z.array(z.string()).optional(),
  denyPatterns: z.array(z.string()).optional(),
  requireDigest: z.boolean().optional(),
  denyLatest: z.boolean().optional(),
});

const inlinePolicy = policyRules.extend({
  namespaces: z.record(z.string(), policyRules).optional(),
  breakGlass: z.strictObject({ annotation: z.string(), auditAnnotation: z.string() }).optional(),
  auditAnnotations: stringMap.optional(),
});

/** Backend state: a quick allowlist, an inline policy or a policy file, and a fault. */
const backend = z
  .strictObject({
    trust: z.array(z.string()).optional().describe("allowed registries or repositories (quick allowlist)"),
    policy: inlinePolicy.optional(),
    policyFile: z.string().optional().describe("stub policy YAML, relative to the scenario file"),
    fault: faultSpec.optional().describe("fault spec, e.g. status:500 or first:2:reset; default healthy"),
  })
  .refine((b) => [b.trust, b.policy, b.policyFile].filter((x) => x !== undefined).length <= 1, {
    error: "give at most one of trust, policy, policyFile",
  });

const podAction = z.strictObject({
  name: z.string().optional().describe("pod name; default p<step number>"),
  generateName: z.string().optional(),
  images: z.array(z.string()).min(1).describe("one container per image, in order"),
  initImages: z.array(z.string()).optional(),
  annotations: stringMap.optional(),
  labels: stringMap.optional(),
  namespace: z.string().optional().describe("another namespace (created for the scenario); default the scenario's own"),
  ownerReference: z.boolean().optional().describe("add an ownerReference as a controller would"),
  dryRun: z.boolean().optional().describe("server-side dry run; default true"),
});

const updatePod = z.strictObject({
  name: z.string(),
  namespace: z.string().optional(),
  image: z.string().optional().describe("new image of the first container"),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  dryRun: z.boolean().optional(),
});

const ephemeral = z.strictObject({
  pod: z.string(),
  namespace: z.string().optional(),
  image: z.string(),
  name: z.string().optional(),
});

const workload = z.strictObject({
  name: z.string(),
  image: z.string(),
  replicas: z.number().int().positive().optional(),
  namespace: z.string().optional(),
  dryRun: z.boolean().optional(),
});

const received = z.strictObject({
  images: z.array(z.string()).optional().describe("exact images of the last review in this step, in order"),
  namespace: z.string().optional().describe("'$ns' is the scenario's namespace"),
  annotations: stringMap.optional().describe("exact forwarded annotations ({} for none)"),
  which: z.enum(["last", "first", "all"]).optional().describe("which reviews of the step to check; default last"),
});

/** A mechanism name; the error lists the valid ones. */
const mechanismName = z.enum(MECHANISM_NAMES, { error: (i) => `unknown mechanism ${JSON.stringify(i.input)}; expected one of ${MECHANISM_NAMES.join(", ")}` });

const expectationFields = {
  allowed: z.boolean().optional(),
  code: z.number().int().optional().describe("HTTP status of the API request"),
  message: textPattern.optional().describe("substring, or /regex/ on the API error message"),
  notMessage: textPattern.optional(),
  backendCalls: countOrRange.optional().describe("reviews the backend received during this step"),
  backendCallsSince: z.strictObject({ mark: z.string(), count: countOrRange }).optional(),
  received: received.optional(),
  callGapsMs: z.array(range).optional().describe("gaps between consecutive reviews of this step"),
  callGapsGrow: z.boolean().optional().describe("each gap between reviews is longer than the one before"),
  durationMs: range.optional().describe("wall time of the step's request"),
  sinceMarkMs: z.strictObject({ mark: z.string(), min: z.number().optional(), max: z.number().optional() }).optional(),
  events: z
    .strictObject({ reason: z.string(), message: textPattern.optional(), withinMs: durationMs.optional(), on: z.string().optional() })
    .optional()
    .describe("an event on the workload's objects, e.g. FailedCreate"),
  auditAnnotations: z.record(z.string(), z.string().nullable()).optional().describe("audit annotations of the request (null = absent); needs an audit log"),
  podAnnotationsAbsent: z.array(z.string()).optional().describe("annotation keys the created pod must not carry"),
};

/** Where one mechanism differs: its fields replace the shared ones; `null` drops a shared expectation. */
const expectationOverride = z.strictObject(Object.fromEntries(Object.entries(expectationFields).map(([k, v]) => [k, v.unwrap().nullable().optional()])) as {
  [K in keyof typeof expectationFields]: z.ZodOptional<z.ZodNullable<ReturnType<(typeof expectationFields)[K]["unwrap"]>>>;
});

const expectation = z.strictObject({
  ...expectationFields,
  byMechanism: z
    .partialRecord(mechanismName, expectationOverride)
    .optional()
    .describe("what a mechanism does differently, e.g. { vap: { code: 422 } }; merged over the shared expectations"),
});

const repeat = z
  .strictObject({ untilExpected: z.literal(true), intervalMs: durationMs.optional(), timeoutMs: durationMs })
  .describe("replay the step until its expectations hold, within timeoutMs");

const stepBase = {
  name: z.string().optional(),
  mechanisms: z.array(mechanismName).min(1).optional().describe("play this step only under these mechanisms; default all of the scenario's"),
  expect: expectation.optional(),
  repeat: repeat.optional(),
  mark: z.string().optional().describe("name a mark at the start of this step (journal position and time)"),
};

/** One schema per action; a step has exactly one action key. Validated per step for precise errors. */
export const stepSchemas = {
  createPod: z.strictObject({ ...stepBase, createPod: podAction }),
  updatePod: z.strictObject({ ...stepBase, updatePod }),
  addEphemeralContainer: z.strictObject({ ...stepBase, addEphemeralContainer: ephemeral }),
  createDeployment: z.strictObject({ ...stepBase, createDeployment: workload }),
  createJob: z.strictObject({ ...stepBase, createJob: workload }),
  setBackend: z.strictObject({ ...stepBase, setBackend: backend }),
  wait: z.strictObject({ ...stepBase, wait: durationMs.describe("sleep this many ms") }),
} as const;

export type StepAction = keyof typeof stepSchemas;
export const STEP_ACTIONS = Object.keys(stepSchemas) as StepAction[];
export const stepSchema = z.union(Object.values(stepSchemas) as unknown as [z.ZodType, ...z.ZodType[]]);

export const SCENARIO_API_VERSION = "imagepolicy-lab.dev/v1alpha1";

export const scenarioSchema = z.strictObject({
  apiVersion: z.literal(SCENARIO_API_VERSION, { error: (i) => `apiVersion must be ${SCENARIO_API_VERSION}, got ${i.input === undefined ? "none" : JSON.stringify(i.input)}` }),
  kind: z.literal("Scenario", { error: (i) => `kind must be Scenario, got ${i.input === undefined ? "none" : JSON.stringify(i.input)}` }),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "name must be lower-case letters, digits and '-'").max(40),
  description: z.string().min(1).describe("what the scenario teaches"),
  specRef: z.string().optional().describe("section of imagepolicy-behavior.md it pins down"),
  tags: z.array(z.string()).optional(),
  profile: profile.optional(),
  backend: backend.optional(),
  namespaces: z.array(namespaceSuffix).optional().describe("extra namespaces to create (suffixes); steps name them in `namespace:`"),
  requires: z.array(z.enum(["auditLog", "controllers"])).optional().describe("provider capabilities the scenario needs"),
  mechanisms: z
    .array(mechanismName)
    .min(1)
    .optional()
    .describe("the admission mechanisms the scenario applies to; default [imagepolicywebhook]"),
  slow: z.boolean().optional().describe("takes tens of seconds (e.g. a hung backend)"),
  /** Each step is checked against its action's schema by the loader (see load.ts). */
  steps: z.array(z.unknown()).min(1, "a scenario needs at least one step").max(MAX_STEPS, `a scenario has at most ${MAX_STEPS} steps`),
});

export type ScenarioDoc = Omit<z.output<typeof scenarioSchema>, "steps"> & { steps: StepDoc[] };
export type StepDoc = { [K in StepAction]: z.output<(typeof stepSchemas)[K]> }[StepAction];
export type Expectation = z.output<typeof expectation>;
export type BackendDoc = z.output<typeof backend>;
export type Range = z.output<typeof range>;
