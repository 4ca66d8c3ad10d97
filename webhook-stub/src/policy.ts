// The stub's policy: loaded from a versioned YAML file (or JSON over the control API), validated
// strictly, normalized once, then evaluated per image against normalized references (reference.ts).
import { stringify } from "yaml";
import { z } from "zod";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { parseYamlSource, readYamlSource, type YamlSource } from "../../harness/src/util/yaml-source.ts";
import {
  ANY_REGISTRY,
  canonicalForms,
  compileGlob,
  normalizeDenyPattern,
  normalizeRegistry,
  normalizeRepositoryPrefix,
  parseReference,
  registryMatches,
  repositoryMatches,
  type EntryResult,
  type ImageReference,
} from "./reference.ts";
import { schemaIssues } from "./schema-issues.ts";
import type { ImageReviewSpec, ImageReviewStatus, StubPolicy } from "./types.ts";

export const POLICY_API_VERSION = "imagepolicy-lab.dev/v1alpha1";
export const POLICY_KIND = "StubPolicy";

/** The substring the apiserver requires in a pod annotation key before it forwards it (behavior spec §5). */
export const FORWARDED_ANNOTATION_MARKER = ".image-policy.k8s.io/";

/** One rule set: the top level, or a namespace's replacement. */
export type PolicyRules = StubPolicy["namespaces"][string];

// ---- shared field validators (used by the YAML schema and the JSON schema alike) ----

function entry(normalize: (s: string) => EntryResult) {
  return z.string().superRefine((value, ctx) => {
    const r = normalize(value);
    if (!r.ok) ctx.addIssue({ code: "custom", message: r.reason });
  });
}

const registryEntry = entry(normalizeRegistry);
const repositoryEntry = entry(normalizeRepositoryPrefix);
const patternEntry = z.string().superRefine((value, ctx) => {
  if (value === "") ctx.addIssue({ code: "custom", message: "empty pattern" });
});

const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const namespaceKey = z.string().superRefine((value, ctx) => {
  if (value.length > 63 || !NAMESPACE_RE.test(value)) {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a namespace name (DNS-1123 label)` });
  }
});

const breakGlassAnnotation = z.string().superRefine((value, ctx) => {
  if (!value.includes(FORWARDED_ANNOTATION_MARKER)) {
    ctx.addIssue({
      code: "custom",
      message: `the apiserver forwards only annotation keys containing "${FORWARDED_ANNOTATION_MARKER}", so "${value}" would never arrive (e.g. use "mycluster.image-policy.k8s.io/break-glass")`,
    });
  }
});

// Any non-empty key is accepted, even one that would not make a valid qualified name after the
// apiserver prefixes it: scenarios use such keys to check that the apiserver drops them (spec §10).
const auditKey = z.string().min(1, "audit annotation keys must not be empty");
const auditAnnotations = z.record(auditKey, z.string());

// ---- the YAML file format ----

const fileRules = {
  allow: z
    .strictObject({
      registries: z.array(registryEntry).default([]).describe('Registries (host[:port]) whose images are allowed; "*" allows any.'),
      repositories: z.array(repositoryEntry).default([]).describe("Repository prefixes (registry/path) whose images are allowed."),
    })
    .prefault({}),
  deny: z
    .strictObject({
      patterns: z.array(patternEntry).default([]).describe("Globs over the normalized reference that deny even allowed images."),
    })
    .prefault({}),
  requireDigest: z.boolean().default(false).describe("Deny references without a digest."),
  denyLatest: z.boolean().default(false).describe("Deny the latest tag, explicit or implicit."),
};

const PolicyFileSchema = z.strictObject({
  apiVersion: z.literal(POLICY_API_VERSION),
  kind: z.literal(POLICY_KIND),
  ...fileRules,
  namespaces: z.record(namespaceKey, z.strictObject(fileRules)).default({}).describe("Rules that replace the top level for a namespace."),
  breakGlass: z
    .strictObject({
      annotation: breakGlassAnnotation,
      auditAnnotation: auditKey.default("break-glass"),
    })
    .optional(),
  auditAnnotations: auditAnnotations.default({}).describe("Audit annotations returned on every decision."),
});

type PolicyFile = z.output<typeof PolicyFileSchema>;
type FileRules = PolicyFile["namespaces"][string];

// ---- the in-memory shape (PUT /policy, StubControl.setPolicy) ----

const jsonRules = {
  allowRegistries: z.array(registryEntry),
  allowRepositories: z.array(repositoryEntry),
  denyPatterns: z.array(patternEntry),
  requireDigest: z.boolean(),
  denyLatest: z.boolean(),
};

const StubPolicySchema = z.strictObject({
  ...jsonRules,
  namespaces: z.record(namespaceKey, z.strictObject(jsonRules)),
  breakGlass: z.strictObject({ annotation: breakGlassAnnotation, auditAnnotation: auditKey }).optional(),
  auditAnnotations,
});

function normalizeRules(r: PolicyRules): PolicyRules {
  const norm = (list: string[], f: (s: string) => EntryResult) => [...new Set(list.map((s) => unwrap(f(s))))];
  return {
    allowRegistries: norm(r.allowRegistries, normalizeRegistry),
    allowRepositories: norm(r.allowRepositories, normalizeRepositoryPrefix),
    denyPatterns: [...new Set(r.denyPatterns.map(normalizeDenyPattern))],
    requireDigest: r.requireDigest,
    denyLatest: r.denyLatest,
  };
}

function unwrap(r: EntryResult): string {
  if (!r.ok) throw new Error(`internal: entry passed validation but does not normalize: ${r.reason}`);
  return r.value;
}

function fromFileRules(r: FileRules): PolicyRules {
  return normalizeRules({
    allowRegistries: r.allow.registries,
    allowRepositories: r.allow.repositories,
    denyPatterns: r.deny.patterns,
    requireDigest: r.requireDigest,
    denyLatest: r.denyLatest,
  });
}

/** Parses a policy YAML document; a ConfigError names file, line and field of every problem. */
export function parsePolicyYaml(file: string, text: string): StubPolicy {
  return policyFromSource(parseYamlSource(file, text));
}

/** Reads and parses a policy YAML file. */
export async function loadPolicyFile(file: string): Promise<StubPolicy> {
  return policyFromSource(await readYamlSource(file));
}

function policyFromSource(src: YamlSource): StubPolicy {
  const result = PolicyFileSchema.safeParse(src.value);
  if (!result.success) throw new ConfigError(schemaIssues(result.error, src.file, src.lineOf), `invalid stub policy in ${src.file}`);
  const f = result.data;
  return {
    ...fromFileRules(f),
    namespaces: Object.fromEntries(Object.entries(f.namespaces).map(([ns, r]) => [ns, fromFileRules(r)])),
    ...(f.breakGlass ? { breakGlass: { annotation: f.breakGlass.annotation, auditAnnotation: f.breakGlass.auditAnnotation } } : {}),
    auditAnnotations: f.auditAnnotations,
  };
}

/**
 * Validates a StubPolicy given as data (control API, in-process callers) and returns it normalized.
 * `label` names the source in errors, e.g. `PUT /policy`.
 */
export function validatePolicy(value: unknown, label = "policy"): StubPolicy {
  const result = StubPolicySchema.safeParse(value);
  if (!result.success) throw new ConfigError(schemaIssues(result.error, label), `invalid stub policy from ${label}`);
  const p = result.data;
  return {
    ...normalizeRules(p),
    namespaces: Object.fromEntries(Object.entries(p.namespaces).map(([ns, r]) => [ns, normalizeRules(r)])),
    ...(p.breakGlass ? { breakGlass: { ...p.breakGlass } } : {}),
    auditAnnotations: { ...p.auditAnnotations },
  };
}

/** Renders a policy in the YAML file format (round-trips through parsePolicyYaml). */
export function formatPolicyYaml(policy: StubPolicy): string {
  const rules = (r: PolicyRules) => ({
    allow: { registries: r.allowRegistries, repositories: r.allowRepositories },
    deny: { patterns: r.denyPatterns },
    requireDigest: r.requireDigest,
    denyLatest: r.denyLatest,
  });
  return stringify({
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    ...rules(policy),
    namespaces: Object.fromEntries(Object.entries(policy.namespaces).map(([ns, r]) => [ns, rules(r)])),
    ...(policy.breakGlass ? { breakGlass: policy.breakGlass } : {}),
    auditAnnotations: policy.auditAnnotations,
  });
}

const NO_RULES: PolicyRules = { allowRegistries: [], allowRepositories: [], denyPatterns: [], requireDigest: false, denyLatest: false };
const ALLOW_ALL: PolicyRules = { ...NO_RULES, allowRegistries: [ANY_REGISTRY] };

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * What a kind cluster needs and nothing else: registry.k8s.io (control plane, CoreDNS, pause) and
 * docker.io/kindest (kindnetd, local-path-provisioner) anywhere; kube-system and local-path-storage
 * allow everything, because a denied system pod breaks the cluster rather than the scenario.
 * Everything else is denied. Frozen; copy it to change it.
 */
export const DEFAULT_POLICY: StubPolicy = deepFreeze({
  allowRegistries: ["registry.k8s.io"],
  allowRepositories: ["docker.io/kindest"],
  denyPatterns: [],
  requireDigest: false,
  denyLatest: false,
  namespaces: { "kube-system": { ...ALLOW_ALL }, "local-path-storage": { ...ALLOW_ALL } },
  auditAnnotations: {},
});

/**
 * The quick `--trust` allowlist: images from exactly these registries (`host[:port]`) or repository
 * prefixes (`registry/path`, anything with a `/`) are allowed, all else denied.
 * `namespaces` defaults to none; pass `DEFAULT_POLICY.namespaces` to keep a kind cluster's system pods running.
 * Throws ConfigError (label `--trust`) for an entry that is neither.
 */
export function trustPolicy(entries: string[], options: { namespaces?: StubPolicy["namespaces"] } = {}): StubPolicy {
  const allowRepositories = entries.filter((e) => e.includes("/"));
  const allowRegistries = entries.filter((e) => !e.includes("/"));
  return validatePolicy({ ...NO_RULES, allowRegistries, allowRepositories, namespaces: options.namespaces ?? {}, auditAnnotations: {} }, "--trust");
}

// ---- evaluation ----

interface CompiledRules {
  /** Field-path prefix for reasons: "" or `namespaces.<ns>.`. */
  where: string;
  rules: PolicyRules;
  deny: { pattern: string; re: RegExp }[];
}

interface CompiledPolicy {
  top: CompiledRules;
  namespaces: Map<string, CompiledRules>;
}

// Policies are replaced, never mutated, so compiled globs can be cached per policy object.
const compiled = new WeakMap<StubPolicy, CompiledPolicy>();

function compile(policy: StubPolicy): CompiledPolicy {
  let c = compiled.get(policy);
  if (!c) {
    const one = (raw: PolicyRules, where: string): CompiledRules => {
      const rules = normalizeRules(raw);
      return { where, rules, deny: rules.denyPatterns.map((pattern) => ({ pattern, re: compileGlob(pattern) })) };
    };
    c = {
      top: one(policy, ""),
      namespaces: new Map(Object.entries(policy.namespaces).map(([ns, r]) => [ns, one(r, `namespaces.${ns}.`)])),
    };
    compiled.set(policy, c);
  }
  return c;
}

export interface EvaluateOptions {
  /**
   * A review listing more images than this is denied without looking at them, so one request cannot
   * hold the event loop for long. Default: no limit (the server passes its `maxImagesPerReview`).
   */
  maxImages?: number;
}

/**
 * Decides an ImageReview. Every image must pass; `reason` names each refused image (normalized, with
 * the original when it differs) and the rule that refused it, at most MAX_LISTED_REASONS of them.
 * `auditAnnotations` come with every decision. A non-empty break-glass annotation allows everything
 * and is echoed as an audit annotation. Linear in the number of images.
 */
export function evaluate(policy: StubPolicy, spec: ImageReviewSpec, options: EvaluateOptions = {}): ImageReviewStatus {
  const audit: Record<string, string> = { ...policy.auditAnnotations };
  const withAudit = (status: ImageReviewStatus): ImageReviewStatus =>
    Object.keys(audit).length ? { ...status, auditAnnotations: audit } : status;

  const glass = policy.breakGlass;
  const glassValue = glass ? spec.annotations?.[glass.annotation] : undefined;
  if (glass && typeof glassValue === "string" && glassValue.trim() !== "") {
    audit[glass.auditAnnotation] = glassValue;
    return withAudit({ allowed: true, reason: `break-glass annotation ${glass.annotation} is set; all images allowed` });
  }

  const count = spec.containers?.length ?? 0;
  if (options.maxImages !== undefined && count > options.maxImages) {
    return withAudit({ allowed: false, reason: `the review lists ${count} images; this backend evaluates at most ${options.maxImages} per review (maxImagesPerReview)` });
  }

  const c = compile(policy);
  const rules = (spec.namespace !== undefined && c.namespaces.get(spec.namespace)) || c.top;
  // Sets, not list searches: a review may carry thousands of unique images (the server caps them),
  // and the work must stay linear in its size.
  const seen = new Set<string>();
  const problems = new Set<string>();
  for (const container of spec.containers ?? []) {
    const image = container.image ?? "";
    if (seen.has(image)) continue;
    seen.add(image);
    const problem = checkImage(rules, image);
    if (problem) problems.add(problem);
  }
  return withAudit(problems.size ? { allowed: false, reason: joinReasons([...problems]) } : { allowed: true });
}

/**
 * A denial lists at most this many refused images; the apiserver puts the reason into the error the
 * user sees and into events, and a reason of thousands of lines helps nobody.
 */
export const MAX_LISTED_REASONS = 20;

function joinReasons(problems: string[]): string {
  if (problems.length <= MAX_LISTED_REASONS) return problems.join("; ");
  const more = problems.length - MAX_LISTED_REASONS;
  return `${problems.slice(0, MAX_LISTED_REASONS).join("; ")}; and ${more} more refused image${more === 1 ? "" : "s"}`;
}

function checkImage(c: CompiledRules, image: string): string | undefined {
  const parsed = parseReference(image);
  if (!parsed.ok) return `"${image}": invalid image reference: ${parsed.reason}`;
  const ref = parsed.ref;
  const why = refusal(c, ref);
  if (!why) return undefined;
  const shown = ref.original === ref.normalized ? ref.normalized : `${ref.normalized} (from "${ref.original}")`;
  return `${shown}: ${why}`;
}

function refusal({ where, rules, deny }: CompiledRules, ref: ImageReference): string | undefined {
  const canonical = canonicalForms(ref);
  for (const d of deny) {
    // Match the full reference and the bare name, so `docker.io/library/nginx` denies every tag of it.
    if (d.re.test(canonical.normalized) || d.re.test(canonical.name)) return `matches ${where}deny.patterns "${d.pattern}"`;
  }
  const allowed =
    rules.allowRegistries.some((r) => registryMatches(ref, r)) || rules.allowRepositories.some((p) => repositoryMatches(ref, p));
  if (!allowed) {
    const regs = `${where}allow.registries [${rules.allowRegistries.join(", ")}]`;
    const repos = `${where}allow.repositories [${rules.allowRepositories.join(", ")}]`;
    if (!rules.allowRegistries.length && !rules.allowRepositories.length) {
      return `nothing is allowed (${where}allow.registries and ${where}allow.repositories are empty)`;
    }
    if (!rules.allowRepositories.length) return `registry ${ref.registry} not in ${regs}`;
    if (!rules.allowRegistries.length) return `repository ${canonical.name} not under ${repos}`;
    return `registry ${ref.registry} not in ${regs} and repository ${canonical.name} not under ${repos}`;
  }
  if (rules.requireDigest && ref.digest === undefined) return `no digest (${where}requireDigest)`;
  // With a digest the runtime ignores the tag, so `:latest@sha256:…` is pinned and passes.
  if (rules.denyLatest && ref.digest === undefined && ref.tag === "latest") {
    return ref.tagDefaulted ? `no tag or digest, which means latest (${where}denyLatest)` : `tag latest (${where}denyLatest)`;
  }
  return undefined;
}
