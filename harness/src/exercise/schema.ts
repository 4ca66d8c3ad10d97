// The exercise file format (exercises/*.yaml, issue 14): a break-and-fix task on a real control
// plane. Strict like the scenario format: an unknown key is an error. Checks are scenario steps and
// expectations, played against the running apiserver; nothing is checked by reading files.
import { z } from "zod";
import { SCENARIO_API_VERSION, stepSchemas } from "../scenario/schema.ts";

export const EXERCISE_API_VERSION = SCENARIO_API_VERSION;

/** The scenario format's backend block (trust, policy, policyFile, fault), reused as is. */
const backend = stepSchemas.setBackend.shape.setBackend;

/**
 * Files an edit may touch, relative to the state dir: the apiserver's manifest and the admission files.
 * Anything else (keys, the lab's kubeconfig) is the lab's, not the exercise's.
 */
export const EDITABLE_FILE = /^(manifests\/kube-apiserver\.yaml|admission\/[A-Za-z0-9._-]+)$/;

/**
 * Where an edit applies. The admission files are the same on every provider (one renderer), but the
 * apiserver manifest is not: the local lab renders its own, a kind node has kubeadm's (other layout,
 * other volume names, the audit flags). An edit without `provider` applies everywhere.
 */
const provider = z.enum(["local", "kind"]).optional().describe("apply only on this provider (default: every provider)");

/**
 * One change a human could make with an editor or `stub set`. In `replace` and `with`,
 * `{{admissionDir}}` stands for the admission directory as the apiserver sees it (local: the state
 * dir's admission/, kind: /etc/kubernetes/imagepolicy in the node) and `{{stateDir}}` for the lab's
 * state directory (the files name absolute paths).
 */
const fileEdit = z.strictObject({
  file: z.string().regex(EDITABLE_FILE, "an edit may change manifests/kube-apiserver.yaml or a file in admission/").describe("path relative to the state dir"),
  replace: z.string().min(1).describe("exact text that must occur once in the file"),
  with: z.string().describe("its replacement"),
  provider,
});
const stubEdit = z.strictObject({ stub: backend.describe("the stub's policy or fault, as `stub set` would set it") });
const restartEdit = z.strictObject({
  restartApiserver: z.literal(true).describe("restart the apiserver (local: touch the manifest; kind: change it): it reads admission files only when it starts"),
  provider,
});
export const editSchema = z.union([fileEdit, stubEdit, restartEdit]);

const profile = z.strictObject({
  defaultAllow: z.boolean().optional(),
  allowTTL: z.number().optional(),
  denyTTL: z.number().optional(),
  retryBackoff: z.number().optional(),
});

const check = z.strictObject({
  name: z.string().min(1).describe("what the check proves, in the trainee's words"),
  whenFailing: z.string().min(1).describe("what the cluster did when the check fails, and what that means"),
  /** Checked against the scenario step schemas by the loader (load.ts). */
  steps: z.array(z.unknown()).min(1, "a check needs at least one step"),
});

export const exerciseSchema = z.strictObject({
  apiVersion: z.literal(EXERCISE_API_VERSION, { error: (i) => `apiVersion must be ${EXERCISE_API_VERSION}, got ${i.input === undefined ? "none" : JSON.stringify(i.input)}` }),
  kind: z.literal("Exercise", { error: (i) => `kind must be Exercise, got ${i.input === undefined ? "none" : JSON.stringify(i.input)}` }),
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "name must be lower-case letters, digits and '-'").max(30),
  title: z.string().min(1),
  task: z.string().min(1).describe("what the trainee is asked to do"),
  start: z
    .strictObject({
      profile: profile.optional().describe("the admission profile the lab starts with (not linted: a broken start is allowed)"),
      backend: backend.optional().describe("the stub's state at start"),
      edits: z.array(editSchema).optional().describe("applied once the lab is up: what the trainee finds broken"),
    })
    .optional(),
  hints: z.array(z.string().min(1)).min(1, "an exercise needs at least one hint"),
  checks: z.array(check).min(1, "an exercise needs at least one check"),
  solution: z.strictObject({
    text: z.string().min(1).describe("the fix, explained"),
    edits: z.array(editSchema).min(1).describe("the reference solution; a test applies it and expects every check to pass"),
  }),
});

export type ExerciseDoc = z.output<typeof exerciseSchema>;
export type ExerciseEdit = z.output<typeof editSchema>;
export type ExerciseCheck = ExerciseDoc["checks"][number];
