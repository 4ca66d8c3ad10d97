// Image references parsed and normalized the way container runtimes do it (distribution/reference's
// ParseNormalizedNamed, as used by containerd and CRI-O). The apiserver forwards `image` strings
// exactly as written in the pod spec, so a policy that compared raw strings could be fooled by
// `nginx` vs `docker.io/library/nginx:latest`, or by `trusted.io.evil.com/x`. Everything here works
// on the normalized form and compares registries and paths on component boundaries.
//
// Grammar (github.com/distribution/reference, regexp.go):
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [domain '/'] remote-name
//   domain           := host [':' port-number]
//   host             := domain-name | '[' IPv6address ']'
//   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   path-component   := /[a-z0-9]+/ [ separator /[a-z0-9]+/ ]*
//   separator        := /[_.]|__|[-]+/
//   tag              := /[\w][\w.-]{0,127}/
//   digest           := algorithm ":" hex   (sha256/64, sha384/96, sha512/128, lowercase hex)

/** A parsed, normalized image reference. */
export interface ImageReference {
  /** The string as given. */
  original: string;
  /**
   * Registry host[:port] as written (`docker.io` when implicit). Not lower-cased: `A/b` names host `A`,
   * while `a/b` is Docker Hub's `a/b`, so case carries meaning in the string. Matching ignores case.
   */
  registry: string;
  /** Path without the registry, e.g. `library/nginx`. */
  repository: string;
  /** `registry/repository`. */
  name: string;
  /** The tag; `latest` when the reference had neither tag nor digest (see `tagDefaulted`). */
  tag?: string;
  /** True when `tag` is the implicit `latest`. */
  tagDefaulted: boolean;
  /** `algorithm:hex`, e.g. `sha256:…`. */
  digest?: string;
  /** `name[:tag][@digest]`. With both a tag and a digest, runtimes pull by digest and ignore the tag. */
  normalized: string;
}

export type ReferenceParseResult = { ok: true; ref: ImageReference } | { ok: false; input: string; reason: string };

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
/** distribution/reference NameTotalLengthMax. */
const NAME_TOTAL_LENGTH_MAX = 255;
/** No valid reference comes close (255 name + 128 tag + sha512 digest); bounds the regex work on hostile input. */
const INPUT_LENGTH_MAX = 1024;

const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6Address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainAndPort = `(?:${domainName}|${ipv6Address})(?::[0-9]+)?`;
const tagPattern = "[\\w][\\w.-]{0,127}";
const digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

const referenceRe = new RegExp(`^((?:${domainAndPort}/)?${remoteName})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const anchoredDomainRe = new RegExp(`^${domainAndPort}$`);
const anchoredRemoteNameRe = new RegExp(`^${remoteName}$`);
const anchoredIdentifierRe = /^[a-f0-9]{64}$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Parses `input` like containerd's ParseNormalizedNamed plus TagNameOnly (default tag `latest`). */
export function parseReference(input: string): ReferenceParseResult {
  const fail = (reason: string): ReferenceParseResult => ({ ok: false, input, reason });
  if (typeof input !== "string" || input === "") return fail("repository name must have at least one component");
  if (input.length > INPUT_LENGTH_MAX) return fail(`reference is longer than ${INPUT_LENGTH_MAX} characters`);
  if (anchoredIdentifierRe.test(input)) return fail("cannot specify 64-byte hexadecimal strings");

  const [domain, remainder] = splitDockerDomain(input);
  // Same quirk as upstream: the lowercase check looks at everything before the first ':'.
  const tagSep = remainder.indexOf(":");
  const remote = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remote.toLowerCase() !== remote) return fail(`repository name (${remote}) must be lowercase`);

  const full = `${domain}/${remainder}`;
  const m = referenceRe.exec(full);
  if (!m) {
    return fail(referenceRe.test(full.toLowerCase()) ? "repository name must be lowercase" : "invalid reference format");
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) return fail(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  const digest = m[3];
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem) return fail(problem);
  }
  const slash = name.indexOf("/");
  const registry = name.slice(0, slash);
  const repository = name.slice(slash + 1);
  const tagDefaulted = m[2] === undefined && digest === undefined;
  const tag = tagDefaulted ? "latest" : m[2];
  const normalizedName = `${registry}/${repository}`;
  return {
    ok: true,
    ref: {
      original: input,
      registry,
      repository,
      name: normalizedName,
      tag,
      tagDefaulted,
      digest,
      normalized: `${normalizedName}${tag !== undefined ? `:${tag}` : ""}${digest !== undefined ? `@${digest}` : ""}`,
    },
  };
}

// distribution/reference splitDockerDomain: the first component is a registry only if it looks like
// a host (has '.' or ':', or is `localhost`, or has upper case); otherwise the image is on Docker Hub.
function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf("/");
  let domain: string;
  let remainder: string;
  const first = i === -1 ? "" : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

// go-digest Validate: only registered algorithms, exact length, lowercase hex.
function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) return `unsupported digest algorithm "${algorithm}"`;
  if (hex.length !== length) return `invalid checksum digest length (${algorithm} needs ${length} hex characters, got ${hex.length})`;
  if (!/^[a-f0-9]+$/.test(hex)) return "invalid checksum digest format (hex must be lower case)";
  return undefined;
}

/** A policy entry after normalization, or why it is not usable. */
export type EntryResult = { ok: true; value: string } | { ok: false; reason: string };

/** Wildcard registry entry: every registry. Used by the allow-all namespace rules. */
export const ANY_REGISTRY = "*";

/**
 * Normalizes an `allow.registries` entry: `host[:port]`, lower-cased, `index.docker.io` → `docker.io`.
 * `*` means any registry.
 */
export function normalizeRegistry(entry: string): EntryResult {
  if (entry === ANY_REGISTRY) return { ok: true, value: entry };
  if (entry.includes("/")) {
    return { ok: false, reason: `"${entry}" is not a registry (host[:port]); list repository prefixes under allow.repositories` };
  }
  if (!anchoredDomainRe.test(entry)) return { ok: false, reason: `"${entry}" is not a valid registry host[:port]` };
  const lower = entry.toLowerCase();
  return { ok: true, value: lower === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : lower };
}

/**
 * Normalizes an `allow.repositories` entry to `registry/path`. With an explicit registry the path is
 * taken literally, so `docker.io/kindest` covers the kindest organization (write
 * `docker.io/library/nginx` for the official image); without one, the runtime's shorthand applies
 * (`nginx` → `docker.io/library/nginx`). Tags and digests are refused: a prefix names repositories.
 * A single component that looks like a host (`trusted.io`) is refused too, because the grammar would
 * read it as `docker.io/library/trusted.io`, which is surely not what was meant.
 */
export function normalizeRepositoryPrefix(entry: string): EntryResult {
  const slash = entry.indexOf("/");
  const first = slash === -1 ? entry : entry.slice(0, slash);
  const looksLikeHost = /[.:]/.test(first) || first === "localhost";
  const hostPart = first.split(":")[0]!;
  if (slash === -1 && (hostPart.includes(".") || hostPart === "localhost")) {
    return {
      ok: false,
      reason: `"${entry}" would mean docker.io/library/${entry}; to allow a registry list it under allow.registries, or write registry/path`,
    };
  }
  if (slash !== -1 && looksLikeHost) {
    const registry = normalizeRegistry(first);
    if (!registry.ok) return { ok: false, reason: `"${entry}": ${registry.reason}` };
    const path = entry.slice(slash + 1);
    if (!anchoredRemoteNameRe.test(path)) {
      return { ok: false, reason: `"${entry}" is not a valid repository: path "${path}" must be lower-case components separated by "/"` };
    }
    return { ok: true, value: `${registry.value}/${path}` };
  }
  const parsed = parseReference(entry);
  if (!parsed.ok) return { ok: false, reason: `"${entry}" is not a valid repository: ${parsed.reason}` };
  if (!parsed.ref.tagDefaulted) return { ok: false, reason: `"${entry}" has a tag or digest; a repository prefix is registry/path only` };
  // Lower-case the registry (`Quay/team` names host `Quay`): repositoryMatches compares lower-cased names.
  return { ok: true, value: canonicalForms(parsed.ref).name };
}

/**
 * Normalizes a deny pattern: the part before the first `/` (the registry) is lower-cased, because
 * patterns are matched against canonicalForms(), whose registry is lower-cased; `Trusted.Example/**`
 * would otherwise never deny anything. Paths are lower-case by grammar; tags keep their case.
 */
export function normalizeDenyPattern(pattern: string): string {
  const slash = pattern.indexOf("/");
  return slash === -1 ? pattern : pattern.slice(0, slash).toLowerCase() + pattern.slice(slash);
}

/** `ref.name` and `ref.normalized` with the registry lower-cased: the forms policy entries are compared with. */
export function canonicalForms(ref: ImageReference): { name: string; normalized: string } {
  const registry = ref.registry.toLowerCase();
  return { name: `${registry}/${ref.repository}`, normalized: `${registry}${ref.normalized.slice(ref.registry.length)}` };
}

/** True when `ref` is served by `registry` (a normalized entry): exact host and port, any case, or `*`. */
export function registryMatches(ref: ImageReference, registry: string): boolean {
  return registry === ANY_REGISTRY || ref.registry.toLowerCase() === registry;
}

/** True when `ref`'s repository is `prefix` or lies under it on a `/` boundary (`…/nginx` ≠ `…/nginx-evil`). */
export function repositoryMatches(ref: ImageReference, prefix: string): boolean {
  const name = canonicalForms(ref).name;
  return name === prefix || name.startsWith(`${prefix}/`);
}

/**
 * Compiles a deny glob: `*` and `?` stay within one path component, `**` crosses `/`. Anchored at both ends.
 * Throws on an empty pattern.
 */
export function compileGlob(pattern: string): RegExp {
  if (pattern === "") throw new Error("empty pattern");
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
