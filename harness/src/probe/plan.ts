// The probe plan: which dry-run requests to send and what the declared trust list expects of each.
// Expectations come from the stub's own boundary-correct matcher (webhook-stub/src/policy.ts), so the
// probe and the lab's backend read a trust list the same way: a registry is `host[:port]`, compared
// for equality; a repository prefix matches on `/` boundaries; `nginx` is docker.io/library/nginx.
// Only images the user names are expected to be admitted: whether a registry's images are really
// accepted (signatures, digests, tags) is the cluster's business, and only the user knows one that is.
import { evaluate, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { parseReference } from "../../../webhook-stub/src/reference.ts";
import type { StubPolicy } from "../../../webhook-stub/src/types.ts";
import { ConfigError, type ConfigIssue } from "../util/errors.ts";
import type { ProbeCase, SpoofKind } from "./model.ts";

/** The image the probe expects every cluster to refuse (no trust list the probe accepts names it). */
export const UNTRUSTED_IMAGE = "evil.example/imagepolicy-lab-probe:1";
/** The repository the generated images use, so a backend's log shows at once where they came from. */
const PROBE_REPO = "imagepolicy-lab-probe";
const EVIL_DOMAIN = "evil.example";
/** Docker Hub names written the short ways users write them (mechanisms.md §A7). */
const DOCKER_HUB_IMAGES: { id: string; image: string; form: string }[] = [
  { id: "docker-hub-short", image: "nginx:1.27", form: "a one-word name" },
  { id: "docker-hub-library", image: "library/nginx:1.27", form: "library/<name>" },
  { id: "docker-hub-org", image: "bitnami/redis:7", form: "<org>/<name>" },
];

export interface ProbePlanInput {
  /** The declared trust list: registries (`host[:port]`) and repository prefixes (`registry/path`), as `--trust` takes them. */
  trust: string[];
  /** Images the user knows the cluster admits; each must be on the trust list. */
  trustedImages: string[];
  /** An existing pod in the namespace: adds the ephemeral-container cases (`kubectl debug`). */
  pod?: string;
  /** This run's nonce; it tags the ephemeral untrusted image so no cached verdict answers for it. */
  nonce: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Every problem with the probe's inputs, each naming its flag, before any request is sent. The
 * trust list must parse as the stub parses it, each trusted image must be on it, and the list must
 * leave the probe's untrusted image untrusted.
 */
export function checkProbeInput(o: { trust: string[]; trustedImages: string[]; namespace?: string; pod?: string }): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const flag = (file: string, message: string) => issues.push({ file, path: "", message });
  if (!o.trust.length) flag("--trust", "at least one registry or repository is needed: the probe checks the cluster against it");
  if (!o.trustedImages.length) flag("--image-trusted", "name at least one image the cluster should admit; only you know one it really does");
  let policy: StubPolicy | undefined;
  try {
    policy = trustPolicy(o.trust);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    issues.push(...err.issues);
  }
  if (policy) {
    if (policy.allowRegistries.includes("*")) flag("--trust", `"*" trusts every registry: nothing would be left to refuse`);
    else if (declaredAllowed(policy, UNTRUSTED_IMAGE)) flag("--trust", `the list trusts ${UNTRUSTED_IMAGE}, the image the probe expects to be refused`);
  }
  for (const image of o.trustedImages) {
    const parsed = parseReference(image);
    if (!parsed.ok) flag("--image-trusted", `"${image}" is not an image reference: ${parsed.reason}`);
    else if (policy && !declaredAllowed(policy, image)) flag("--image-trusted", `"${image}" (${parsed.ref.normalized}) is not on the --trust list [${o.trust.join(", ")}]`);
  }
  if (o.namespace !== undefined && (!DNS_LABEL.test(o.namespace) || o.namespace.length > 63)) {
    flag("--namespace", `"${o.namespace}" is not a namespace name (lower-case letters, digits and "-", at most 63)`);
  }
  if (o.pod !== undefined && (!DNS_SUBDOMAIN.test(o.pod) || o.pod.length > 253)) flag("--pod", `"${o.pod}" is not a pod name`);
  return issues;
}

function declaredAllowed(policy: StubPolicy, image: string): boolean {
  return evaluate(policy, { containers: [{ image }] }).allowed;
}

/** `host[:port]` split; the host keeps brackets for IPv6. */
function splitRegistry(registry: string): { host: string; port?: string } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(registry);
  return m ? { host: m[1]!, port: m[2] } : { host: registry };
}

/** Images that imitate one trusted entry the ways naive checks get wrong (mechanisms.md §A7). */
function spoofsOf(entry: { registry: string; path?: string }): { spoof: SpoofKind; image: string; how: string }[] {
  const { host, port } = splitRegistry(entry.registry);
  const portPart = port ? `:${port}` : "";
  const path = entry.path ? `${entry.path}/` : "";
  const otherPort = port === "5000" ? "5001" : "5000";
  const trusted = entry.path ? `${entry.registry}/${entry.path}` : entry.registry;
  const out: { spoof: SpoofKind; image: string; how: string }[] = [];
  if (!host.startsWith("[")) out.push({ spoof: "suffix-domain", image: `${host}.${EVIL_DOMAIN}${portPart}/${path}${PROBE_REPO}:1`, how: `another domain that starts with "${host}"` });
  // For a registry, a name that continues the host; for a repository prefix, one that continues the path.
  out.push(
    entry.path
      ? { spoof: "hyphen", image: `${entry.registry}/${entry.path}-evil/${PROBE_REPO}:1`, how: `a repository that starts with "${trusted}" without a "/" after it` }
      : { spoof: "hyphen", image: `${host}-evil${portPart}/${PROBE_REPO}:1`, how: `another host that starts with "${host}"` },
  );
  out.push({ spoof: "port", image: `${host}:${otherPort}/${path}${PROBE_REPO}:1`, how: `the same host on port ${otherPort}: another registry` });
  if (!host.startsWith("[")) out.push({ spoof: "path", image: `${EVIL_DOMAIN}/${host.toLowerCase()}/${path}${PROBE_REPO}:1`, how: `${EVIL_DOMAIN}, with "${host}" only in the path` });
  return out;
}

/** The cases, in the order they are sent. Throws ConfigError (naming flags) for unusable input. */
export function planProbe(input: ProbePlanInput): ProbeCase[] {
  const issues = checkProbeInput(input);
  if (issues.length) throw new ConfigError(issues, "cannot probe with these flags");
  const policy = trustPolicy(input.trust);
  const listed = `[${input.trust.join(", ")}]`;
  const notListed = (image: string) => !declaredAllowed(policy, image);
  const cases: ProbeCase[] = [];
  const trustedImage = input.trustedImages[0]!;

  input.trustedImages.forEach((image, i) =>
    cases.push({
      id: input.trustedImages.length > 1 ? `trusted-${i + 1}` : "trusted",
      group: "trusted",
      kind: "Pod",
      title: "Pod, trusted image (yours)",
      images: [image],
      expect: "admitted",
      why: `you named it as trusted (--image-trusted), and it is on the trust list ${listed}`,
    }),
  );
  cases.push({ id: "untrusted", group: "untrusted", kind: "Pod", title: "Pod, untrusted image", images: [UNTRUSTED_IMAGE], expect: "refused", why: `${EVIL_DOMAIN} is not on the trust list ${listed}` });

  // Spoofs of every registry and repository prefix; an image the list really trusts (two entries
  // that overlap) or that another entry already produced is left out.
  const seen = new Set<string>(cases.flatMap((c) => c.images));
  const entries: { registry: string; path?: string }[] = [
    ...policy.allowRegistries.map((registry) => ({ registry })),
    ...policy.allowRepositories.map((r) => {
      const slash = r.indexOf("/");
      return { registry: r.slice(0, slash), path: r.slice(slash + 1) };
    }),
  ];
  entries.forEach((entry, n) => {
    for (const s of spoofsOf(entry)) {
      if (seen.has(s.image) || !notListed(s.image) || !parseReference(s.image).ok) continue;
      seen.add(s.image);
      const trusted = entry.path ? `${entry.registry}/${entry.path}` : entry.registry;
      cases.push({
        id: entries.length > 1 ? `spoof-${s.spoof}-${n + 1}` : `spoof-${s.spoof}`,
        group: "spoofing",
        kind: "Pod",
        title: `Pod, spoofed ${trusted} (${s.spoof})`,
        images: [s.image],
        expect: "refused",
        why: `${s.how}; not on the trust list ${listed}`,
        spoof: s.spoof,
      });
    }
  });

  for (const d of DOCKER_HUB_IMAGES) {
    if (!notListed(d.image)) continue;
    const ref = parseReference(d.image);
    cases.push({
      id: d.id,
      group: "docker-hub",
      kind: "Pod",
      title: `Pod, Docker Hub name as ${d.form}`,
      images: [d.image],
      expect: "refused",
      why: `"${d.image}" means ${ref.ok ? ref.ref.normalized : d.image}, and docker.io is not on the trust list ${listed}`,
    });
  }

  cases.push({
    id: "init-container",
    group: "init-container",
    kind: "Pod",
    title: "Pod, untrusted init container beside your trusted image",
    images: [trustedImage],
    initImages: [UNTRUSTED_IMAGE],
    expect: "refused",
    why: `the init container's image ${UNTRUSTED_IMAGE} is not on the trust list ${listed}`,
  });
  for (const kind of ["Deployment", "Job"] as const) {
    cases.push({
      id: kind.toLowerCase(),
      group: "workload",
      kind,
      title: `${kind}, untrusted image`,
      images: [UNTRUSTED_IMAGE],
      expect: "refused-or-pods-refused",
      why: `its pod template's image is not on the trust list ${listed}: refused at create, or its pods refused when the controller creates them`,
    });
  }
  if (input.pod !== undefined) {
    // The tag carries the nonce: ImagePolicyWebhook's cache key for an ephemeral container is its image
    // and the pod's annotations, which a subresource update cannot change.
    const debugImage = `${EVIL_DOMAIN}/${PROBE_REPO}:debug-${input.nonce}`;
    cases.push({
      id: "ephemeral-untrusted",
      group: "ephemeral",
      kind: "EphemeralContainer",
      title: `ephemeral container on pod ${input.pod}, untrusted image`,
      images: [debugImage],
      expect: "refused",
      why: `what \`kubectl debug ${input.pod} --image=${debugImage}\` adds; ${EVIL_DOMAIN} is not on the trust list ${listed}`,
    });
    cases.push({
      id: "ephemeral-trusted",
      group: "ephemeral",
      kind: "EphemeralContainer",
      title: `ephemeral container on pod ${input.pod}, your trusted image`,
      images: [trustedImage],
      expect: "admitted",
      why: `you named it as trusted (--image-trusted): a debug container with it must be admitted`,
    });
  }
  return cases;
}
