// The `vap` mechanism's API objects: ValidatingAdmissionPolicies and their bindings
// (admissionregistration.k8s.io/v1, GA since 1.30) that restrict images to a trust list and decide
// exactly as the lab's stub does for `allow.registries` and `allow.repositories`
// (webhook-stub/src/policy.ts, reference.ts), and the per-namespace ConfigMap that holds the list.
// Background and pitfalls: mechanisms.md §B; the boundary-correct host rule: §A7.
//
// How an image is judged, in CEL, mirroring reference.ts's parseReference (distribution/reference):
//   1. the first path component is the registry only if it has "." or ":", is "localhost", or has
//      upper case; otherwise the image is on docker.io (`index.docker.io` is docker.io too);
//   2. on docker.io a one-component path gets `library/` (`nginx` → docker.io/library/nginx);
//   3. the whole reference must match the reference grammar (else: "invalid image reference");
//   4. it is trusted when its registry, lower-cased, equals a listed registry (or "*"), or when
//      `registry/path` equals a listed repository prefix or lies under it on a "/" boundary.
// Registries are compared for equality, never by prefix: `trusted.example.evil.com`,
// `trusted.example-evil` and `trusted.example:5000` are all other registries (§A7, B5 item 2).
//
// Measured on kube-apiserver 1.36.1 (vap-objects.e2e.test.ts): denials are 403; a namespace without
// the ConfigMap is refused with 422 ("failed to configure binding: no params found ..."), because
// `reason` applies to validations only; an edited ConfigMap decides the very next request. UPDATEs
// are judged like CREATEs (as ImagePolicyWebhook does), and params are resolved before matchConditions
// run, so once a namespace's ConfigMap is gone even a finalizer removal on a terminating pod is
// refused: delete the ConfigMap last.
import type { V1ConfigMap, V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from "@kubernetes/client-node";
import { Document } from "yaml";
import { MAX_LISTED_REASONS, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { normalizeRegistry, normalizeRepositoryPrefix, type EntryResult } from "../../../webhook-stub/src/reference.ts";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";
import { MANAGED_LABELS } from "./webhook-config.ts";

/**
 * Name of the ConfigMap that holds a namespace's trust list. Each binding's paramRef names it without
 * a namespace, so the apiserver reads it from the namespace of the request being admitted: parallel
 * scenarios in different namespaces can trust different registries. The flip side: whoever may edit
 * ConfigMaps in a namespace may widen its trust list. That suits a lab; a production setup would keep
 * params in a namespace of its own (`paramRef.namespace`) or a cluster-scoped CRD.
 */
export const TRUST_PARAM_NAME = "imagepolicy-lab-trust";

/** The policies (each with a binding of the same name); separate per object shape, see vapObjects(). */
export const VAP_POLICY_NAMES = ["imagepolicy-lab-images-pods", "imagepolicy-lab-images-workloads", "imagepolicy-lab-images-cronjobs"] as const;
export type VapPolicyName = (typeof VAP_POLICY_NAMES)[number];

/**
 * Namespaces no binding covers: kube-system, because a fail-closed policy over the control plane's own
 * pods (static-pod mirrors, CoreDNS, kube-proxy, CNI) can keep a broken cluster from recovering, and
 * every namespace where the stub's DEFAULT_POLICY allows everything (local-path-storage: kind's volume
 * helper pods), because with no ConfigMap there parameterNotFoundAction would refuse them all.
 */
export const VAP_EXEMPT_NAMESPACES = ["kube-system", "local-path-storage"] as const;

/** A trust list as the VAP reads it: registries (`host[:port]` or "*") and repository prefixes (`registry/path`). */
export interface VapTrust {
  registries: readonly string[];
  repositories: readonly string[];
}

/**
 * Splits a scenario's `backend: { trust: [...] }` list (or `--trust` flags) the way the stub does:
 * through trustPolicy(), so an entry with a "/" is a repository prefix and anything else a registry,
 * both normalized. Throws the stub's ConfigError (label `--trust`) for an entry that is neither.
 */
export function trustFromEntries(entries: string[]): VapTrust {
  const p = trustPolicy(entries);
  return { registries: p.allowRegistries, repositories: p.allowRepositories };
}

/**
 * The ConfigMap `TRUST_PARAM_NAME` for `namespace`: `data.registries` and `data.repositories` are
 * comma-separated (empty when none). Entries are normalized as the stub normalizes them (lower-case
 * host, `index.docker.io` → docker.io, `nginx` → docker.io/library/nginx), because the policies compare
 * them verbatim. Throws ConfigError naming every entry the stub would refuse.
 */
export function trustConfigMap(namespace: string, trust: VapTrust): V1ConfigMap {
  const issues: ConfigIssue[] = [];
  const norm = (field: keyof VapTrust, f: (s: string) => EntryResult) => [
    ...new Set(
      trust[field].flatMap((entry, i) => {
        const r = f(entry);
        if (r.ok) return [r.value];
        issues.push({ file: `ConfigMap ${namespace}/${TRUST_PARAM_NAME}`, path: `${field}.${i}`, message: r.reason });
        return [];
      }),
    ),
  ];
  const registries = norm("registries", normalizeRegistry);
  const repositories = norm("repositories", normalizeRepositoryPrefix);
  if (issues.length) throw new ConfigError(issues, "invalid trust list for the vap mechanism");
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: TRUST_PARAM_NAME, namespace, labels: { ...MANAGED_LABELS } },
    // A normalized entry never holds a comma (the reference grammar has none), so joining is lossless.
    data: { registries: registries.join(","), repositories: repositories.join(",") },
  };
}

// ---- the reference grammar, as RE2 patterns ----

// reference.ts's grammar (distribution/reference regexp.go), restated because CEL needs it as
// strings, and split in two. CEL charges `matches` by string length times pattern length, so one
// pattern over the whole reference ran over the per-expression cost limit at about 300 images of 400
// characters; the two halves below cost about a third of that. The split is exact: the stub's regex
// matches `domain/rest` iff `domain` is a domain or a single path component (the optional domain
// group absent) and `rest` matches REMAINDER_PATTERN. The digest part is stricter than reference.ts's
// regex: it also encodes digestProblem() (sha256/384/512, exact length, lower-case hex), which the
// stub checks after matching. vap-objects.test.ts checks these patterns against parseReference;
// vap-objects.e2e.test.ts checks the CEL (RE2) verdicts against the stub's evaluate().
const domainComponent = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const tag = "\\w[\\w.-]{0,127}";
const digest = "sha(?:256:[a-f0-9]{64}|384:[a-f0-9]{96}|512:[a-f0-9]{128})";

/** The reference grammar in RE2 and JavaScript syntax alike, anchored, for the CEL `matches` calls. */
export const REFERENCE_PATTERNS = {
  /** `host[:port]`, host a DNS name (any case) or a bracketed IPv6 address. */
  domain: `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
  /** One path component: what the stub's regex reads a first component as when it is no domain. */
  pathComponent: `^${pathComponent}$`,
  /** Everything after the domain: `path[:tag][@digest]`. */
  remainder: `^${pathComponent}(?:/${pathComponent})*(?::${tag})?(?:@${digest})?$`,
} as const;

// ---- the CEL ----

/**
 * The images of a pod spec reached by `spec` (a CEL path; `.?` steps where a level may be absent).
 * Each list is mapped to strings before the lists are concatenated: Container and EphemeralContainer
 * are different types, so `containers + ephemeralContainers` would not type-check. `image` is optional
 * in the schema (a template may leave it to config management); a missing one becomes "", which the
 * grammar check refuses, as the stub refuses an empty image. `orValue([])` makes the element type dyn,
 * and Kubernetes' CEL requires list literals of one type, so `string()` gives the later
 * `[image, …]` tuples a single element type.
 */
function imagesOf(spec: string): string {
  return ["containers", "initContainers", "ephemeralContainers"].map((f) => `${spec}.?${f}.orValue([]).map(c, string(c.?image.orValue('')))`).join("\n+ ");
}

/** Lists of offending images up to this long are deduplicated in messages (see untrustedListed). */
const DISTINCT_MAX = 100;

// CEL in Kubernetes has no user functions and (as of 1.36) no cel.bind, so the host rule cannot be
// written once and called per image. Instead each step is a variable that maps the whole list to
// small string tuples ([image, …]) the next step reads; variables are evaluated lazily, once per
// request, and every step is linear in the number and length of images. Measured on 1.36.1: 3000
// images of ~25 characters, or 300 of ~400, stay within the cost limits; 600 of ~400 run over the
// per-expression limit, an error that failurePolicy Fail turns into a refusal (422, not 403).
const commonVariables = [
  {
    name: "heads",
    // [image, first path component or ""]
    expression: "variables.images.map(i, [i, i.indexOf('/') < 0 ? '' : i.substring(0, i.indexOf('/'))])",
  },
  {
    name: "domains",
    // [image, registry as written, rest]: the first component is a registry only if it looks like a
    // host ("." or ":" or localhost, or upper case, which a Docker Hub path cannot have).
    expression: `variables.heads.map(h,
  h[1] != '' && (h[1].contains('.') || h[1].contains(':') || h[1] == 'localhost' || h[1].lowerAscii() != h[1])
    ? [h[0], h[1] == 'index.docker.io' ? 'docker.io' : h[1], h[0].substring(size(h[1]) + 1)]
    : [h[0], 'docker.io', h[0]])`,
  },
  {
    name: "refs",
    // [image, registry, rest]: Docker Hub's official images live under library/.
    expression: "variables.domains.map(d, [d[0], d[1], d[1] == 'docker.io' && !d[2].contains('/') ? 'library/' + d[2] : d[2]])",
  },
  {
    name: "names",
    // [image, lower-cased registry, registry/path] for a valid reference, [image, '', ''] otherwise.
    // Validity as in parseReference: at most 1024 characters, not a bare 64-hex id, the grammar, and
    // a name of at most 255 characters. Tag and digest are cut off to compare repositories.
    expression: `variables.refs.map(r,
  size(r[0]) <= 1024
  && !(size(r[0]) == 64 && r[0].matches('^[a-f0-9]{64}$'))
  && (r[1].matches(r'${REFERENCE_PATTERNS.domain}') || r[1].matches(r'${REFERENCE_PATTERNS.pathComponent}'))
  && r[2].matches(r'${REFERENCE_PATTERNS.remainder}')
  && size(r[1]) + size(r[2].split('@')[0].split(':')[0]) < 255
    ? [r[0], r[1].lowerAscii(), r[1].lowerAscii() + '/' + r[2].split('@')[0].split(':')[0]]
    : [r[0], '', ''])`,
  },
  {
    name: "registries",
    // A missing key or an empty string is an empty list (''.split(',') is [''], hence the filter).
    expression: "params.?data.?registries.orValue('').split(',').map(s, s.trim()).filter(s, s != '')",
  },
  {
    name: "repositories",
    expression: "params.?data.?repositories.orValue('').split(',').map(s, s.trim()).filter(s, s != '')",
  },
  {
    name: "invalid",
    expression: "variables.names.filter(n, n[1] == '').map(n, n[0])",
  },
  {
    name: "untrusted",
    // Equality for registries, a "/" boundary for repository prefixes: docker.io/library/nginx
    // covers docker.io/library/nginx/x but not docker.io/library/nginx-evil.
    expression: `variables.names.filter(n, n[1] != '' && !(
  variables.registries.exists(r, r == '*' || r == n[1])
  || variables.repositories.exists(p, n[2] == p || n[2].startsWith(p + '/'))
)).map(n, n[0])`,
  },
  // For messages only (variables are evaluated when first used, so only for a denial). distinct() is
  // quadratic in CEL's cost accounting: on the lists above it ran over the per-expression limit at
  // 1000 images, so lists longer than DISTINCT_MAX are listed with their repeats.
  { name: "invalidListed", expression: `size(variables.invalid) <= ${DISTINCT_MAX} ? variables.invalid.distinct() : variables.invalid` },
  { name: "untrustedListed", expression: `size(variables.untrusted) <= ${DISTINCT_MAX} ? variables.untrusted.distinct() : variables.untrusted` },
];

/** A CEL string expression listing `list` (a variable name) like the stub: at most MAX_LISTED_REASONS, then a count. */
function listed(list: string): string {
  const v = `variables.${list}`;
  return `(size(${v}) <= ${MAX_LISTED_REASONS} ? ${v}.join(', ') : ${v}.slice(0, ${MAX_LISTED_REASONS}).join(', ') + ', and ' + string(size(${v}) - ${MAX_LISTED_REASONS}) + ' more')`;
}

const validations = [
  {
    expression: "size(variables.invalid) == 0",
    messageExpression: `'invalid image reference(s): ' + ${listed("invalidListed")}`,
    // 403 like ImagePolicyWebhook's denials; without a reason the apiserver answers 422 Invalid
    // while its message still says "is forbidden" (mechanisms.md §B3).
    reason: "Forbidden",
  },
  {
    expression: "size(variables.untrusted) == 0",
    messageExpression: `'untrusted registry for image(s): ' + ${listed("untrustedListed")}
  + ' (this namespace trusts registries [' + variables.registries.join(', ') + '] and repositories ['
  + variables.repositories.join(', ') + '] in ConfigMap ${TRUST_PARAM_NAME})'`,
    reason: "Forbidden",
  },
];

interface Shape {
  name: VapPolicyName;
  /** Why this shape is a policy of its own. */
  rules: { apiGroups: string[]; resources: string[] }[];
  /** CEL path to the pod spec. */
  spec: string;
}

// One policy per object shape: a policy's expressions are type-checked against every kind it
// matches, so `object.spec.template` in a policy that also matches Pods is a typeChecking warning
// (mechanisms.md §B5 item 5), and a kind guard does not silence it. Within a shape all kinds share
// the path. The policy's name in the denial also says which layer refused.
const SHAPES: Shape[] = [
  {
    name: "imagepolicy-lab-images-pods",
    // Subresources are matched only when named: without pods/ephemeralcontainers, `kubectl debug`
    // adds any image (mechanisms.md §0 item 8). Its requests carry the whole Pod as `object`.
    rules: [{ apiGroups: [""], resources: ["pods", "pods/ephemeralcontainers"] }],
    spec: "object.spec",
  },
  {
    name: "imagepolicy-lab-images-workloads",
    // Refused at apply time instead of leaving a FailedCreate event on the controller (§C4).
    rules: [
      { apiGroups: ["apps"], resources: ["deployments", "replicasets", "statefulsets", "daemonsets"] },
      { apiGroups: ["batch"], resources: ["jobs"] },
      { apiGroups: [""], resources: ["replicationcontrollers"] },
    ],
    spec: "object.spec.?template.?spec",
  },
  {
    name: "imagepolicy-lab-images-cronjobs",
    rules: [{ apiGroups: ["batch"], resources: ["cronjobs"] }],
    spec: "object.spec.?jobTemplate.?spec.?template.?spec",
  },
];

function policy(s: Shape): V1ValidatingAdmissionPolicy {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: s.name, labels: { ...MANAGED_LABELS } },
    spec: {
      // Fail (also the default): a CEL error, or going over the cost budget, refuses the request.
      failurePolicy: "Fail",
      paramKind: { apiVersion: "v1", kind: "ConfigMap" },
      matchConstraints: {
        resourceRules: s.rules.map((r) => ({ ...r, apiVersions: ["v1"], operations: ["CREATE", "UPDATE"] })),
      },
      variables: [{ name: "images", expression: imagesOf(s.spec) }, ...commonVariables],
      validations: validations.map((v) => ({ ...v })),
    },
  };
}

function binding(name: VapPolicyName): V1ValidatingAdmissionPolicyBinding {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name, labels: { ...MANAGED_LABELS } },
    spec: {
      policyName: name,
      // No namespace: the param is looked up in the admitted object's own namespace. No ConfigMap
      // there means deny, not "no policy" (the default, AllowAction, would fail open).
      paramRef: { name: TRUST_PARAM_NAME, parameterNotFoundAction: "Deny" },
      // Required; [Warn, Audit] would only observe.
      validationActions: ["Deny"],
      matchResources: {
        namespaceSelector: {
          matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: [...VAP_EXEMPT_NAMESPACES] }],
        },
      },
    },
  };
}

/**
 * The policies and bindings, one binding per policy with the same name (VAP_POLICY_NAMES): pods
 * (containers, init and ephemeral containers, including the pods/ephemeralcontainers subresource),
 * workload templates (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
 * ReplicationControllers) and CronJobs, on CREATE and UPDATE, in every namespace except
 * VAP_EXEMPT_NAMESPACES. Denials are HTTP 403. Each namespace needs a trustConfigMap().
 */
export function vapObjects(): { policies: V1ValidatingAdmissionPolicy[]; bindings: V1ValidatingAdmissionPolicyBinding[] } {
  return { policies: SHAPES.map(policy), bindings: SHAPES.map((s) => binding(s.name)) };
}

/**
 * The objects as one multi-document YAML file for `kubectl apply -f`, with a header that says what
 * it is, plus a trust ConfigMap for each entry of `namespaces` (none by default: without one, every
 * pod in a covered namespace is refused).
 */
export function renderVapYaml(o: { namespaces?: Record<string, VapTrust> } = {}): string {
  const { policies, bindings } = vapObjects();
  const configMaps = Object.entries(o.namespaces ?? {}).map(([ns, trust]) => trustConfigMap(ns, trust));
  const header = [
    " imagepolicy-lab: ValidatingAdmissionPolicies that allow only trusted image registries and",
    " repositories (admissionregistration.k8s.io/v1, Kubernetes 1.30+). Generated; edit the generator",
    " (harness/src/mechanism/vap-objects.ts), not this file.",
    ` Each namespace's trust list is the ConfigMap "${TRUST_PARAM_NAME}" in that namespace:`,
    "   data.registries:    comma-separated host[:port], lower case (\"*\" = any)",
    "   data.repositories:  comma-separated registry/path prefixes (docker.io/library/nginx)",
    ` Without it every pod in the namespace is refused. Not covered: ${VAP_EXEMPT_NAMESPACES.join(", ")}.`,
  ].join("\n");
  return [...policies, ...bindings, ...configMaps]
    .map((obj, i) => {
      const doc = new Document(obj);
      if (i === 0) doc.commentBefore = header;
      // lineWidth 0: long CEL lines stay on one line instead of being folded.
      return doc.toString({ lineWidth: 0 });
    })
    .join("---\n");
}

