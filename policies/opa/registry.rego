# The lab's registry rule in Rego v1, shared by the AdmissionReview and ImageReview decisions.
# It decides exactly as the webhook stub does (webhook-stub/src/reference.ts, policy.ts): image
# references are parsed and normalized the way container runtimes do (distribution/reference),
# registries are compared for equality on host[:port], repositories as prefixes on "/" boundaries,
# and an invalid reference is refused. harness/src/opa/policy.test.ts checks the agreement.
#
# The trust list is data, PUT by the lab at run time (docs/opa.md):
#   PUT /v1/data/lab/trust  {"registries": ["trusted.example"], "repositories": ["docker.io/kindest"]}
# A namespace may have its own list, which then replaces the global one for reviews in it:
#   PUT /v1/data/lab/trust_by_namespace/<namespace>  {"registries": [...], "repositories": [...]}
# Without a list (or with a malformed one) every review is denied with a reason that says so.
package lab.registry

# ---- image references (distribution/reference's grammar, as in reference.ts) ----

alphanumeric := `[a-z0-9]+`

separator := `(?:[._]|__|[-]+)`

path_component := concat("", [alphanumeric, "(?:", separator, alphanumeric, ")*"])

remote_name := concat("", [path_component, "(?:/", path_component, ")*"])

domain_component := `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`

domain_name := concat("", [domain_component, `(?:\.`, domain_component, ")*"])

domain_and_port := concat("", ["(?:", domain_name, `|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?`])

tag_pattern := `[\w][\w.-]{0,127}`

digest_pattern := `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`

# Groups: 1 name, 2 tag, 3 digest.
reference_pattern := concat("", ["^((?:", domain_and_port, "/)?", remote_name, ")(?::(", tag_pattern, "))?(?:@(", digest_pattern, "))?$"])

digest_hex_length := {"sha256": 64, "sha384": 96, "sha512": 128}

# Docker's rule: the first path component names a registry only if it has "." or ":", is
# "localhost", or has upper case; otherwise the image is on Docker Hub ("nginx", "bitnami/redis").
host_like(s) if contains(s, ".")

host_like(s) if contains(s, ":")

host_like(s) if s == "localhost"

host_like(s) if lower(s) != s

# [domain, remainder] of a name, with Docker Hub's implicit domain and "library/" filled in.
split_domain(name) := [domain, with_library(domain, remainder)] if {
	[written, remainder] := split_host(name)
	domain := hub_alias(written)
}

split_host(name) := [first, substring(name, i + 1, -1)] if {
	i := indexof(name, "/")
	i >= 0
	first := substring(name, 0, i)
	host_like(first)
} else := ["docker.io", name]

# As in distribution/reference: only the exact spelling is an alias; matching lower-cases later.
hub_alias(domain) := "docker.io" if {
	domain == "index.docker.io"
} else := domain

with_library(domain, remainder) := concat("", ["library/", remainder]) if {
	domain == "docker.io"
	not contains(remainder, "/")
} else := remainder

digest_ok("")

digest_ok(digest) if {
	[algorithm, hex] := split(digest, ":")
	count(hex) == digest_hex_length[algorithm]
	regex.match(`^[a-f0-9]+$`, hex)
}

# reference(image) is {"registry", "repository", "name"} for a valid reference (registry as written,
# name with the registry lower-cased: the form trust entries are compared with); undefined otherwise.
reference(image) := {"registry": registry, "repository": repository, "name": concat("/", [lower(registry), repository])} if {
	is_string(image)
	image != ""
	count(image) <= 1024
	not regex.match(`^[a-f0-9]{64}$`, image)
	[domain, remainder] := split_domain(image)

	# Upstream's quirk: the lower-case check looks at everything before the first ":".
	remote := split(remainder, ":")[0]
	lower(remote) == remote
	[[_, name, _, digest]] := regex.find_all_string_submatch_n(reference_pattern, concat("/", [domain, remainder]), 1)
	count(name) <= 255
	digest_ok(digest)
	slash := indexof(name, "/")
	registry := substring(name, 0, slash)
	repository := substring(name, slash + 1, -1)
}

# ---- the trust list (data.lab.trust, or the namespace's own in data.lab.trust_by_namespace) ----

# The namespace under review: an AdmissionReview's request.namespace, an ImageReview's spec.namespace.
review_namespace := input.request.namespace if {
	is_string(input.request.namespace)
} else := input.spec.namespace if {
	is_string(input.spec.namespace)
}

# A namespace's own list replaces the global one (it is not merged with it): the lab gives every
# scenario namespace its own list, so scenarios played side by side do not see each other's.
trust := own if {
	own := data.lab.trust_by_namespace[review_namespace]
} else := data.lab.trust

# Where the list in force came from, for messages about a malformed one.
trust_path := sprintf("data.lab.trust_by_namespace[%q]", [review_namespace]) if {
	data.lab.trust_by_namespace[review_namespace]
} else := "data.lab.trust"

trust_keys := {"registries", "repositories"}

trust_problems contains "no trust list: PUT {\"registries\": [...], \"repositories\": [...]} to /v1/data/lab/trust (until then nothing is trusted)" if {
	not trust_given
}

# A helper rule: `not is_object(trust)` would be undefined, not true, without the document.
trust_given if is_object(trust)

trust_problems contains sprintf("%s.%s must be a list of strings, got %v", [trust_path, key, value]) if {
	is_object(trust)
	some key in trust_keys
	value := object.get(trust, key, [])
	not string_list(value)
}

trust_problems contains sprintf("%s has the unknown key %q (expected registries and repositories)", [trust_path, key]) if {
	is_object(trust)
	some key, _ in trust
	not key in trust_keys
}

string_list(value) if {
	is_array(value)
	every v in value {
		is_string(v)
	}
}

# Registry entries: host[:port], lower-cased, index.docker.io = docker.io; "*" trusts every registry.
normalize_registry(entry) := "docker.io" if {
	lower(entry) == "index.docker.io"
} else := lower(entry)

# Repository entries: with an explicit registry ("docker.io/kindest") the path is taken literally;
# without one the runtime's shorthand applies ("nginx" is docker.io/library/nginx). Entries that are
# no repository are ignored here; the lab refuses them before it PUTs the list (opa/trust.ts).
normalize_repository(entry) := concat("/", [normalize_registry(first), substring(entry, i + 1, -1)]) if {
	i := indexof(entry, "/")
	i >= 0
	first := substring(entry, 0, i)
	explicit_registry(first)
} else := reference(entry).name

explicit_registry(s) if contains(s, ".")

explicit_registry(s) if contains(s, ":")

explicit_registry(s) if s == "localhost"

trusted_registries := {normalize_registry(r) | some r in trust.registries}

trusted_repositories := {normalize_repository(r) | some r in trust.repositories}

trusted(_) if "*" in trusted_registries

trusted(ref) if lower(ref.registry) in trusted_registries

trusted(ref) if {
	some prefix in trusted_repositories
	under(ref.name, prefix)
}

under(name, prefix) if name == prefix

under(name, prefix) if startswith(name, concat("", [prefix, "/"]))

# ---- the verdict on a list of images ----

# How a refused image is shown: as written, plus its normalized name when normalization changed more
# than the tag ("nginx (docker.io/library/nginx)"), or marked invalid.
shown(image) := sprintf("%q (invalid image reference)", [image]) if {
	not reference(image)
} else := image if {
	startswith(image, reference(image).name)
} else := sprintf("%s (%s)", [image, reference(image).name])

refused(images) := {shown(image) |
	some image in images
	not trusted_image(image)
}

trusted_image(image) if trusted(reference(image))

# A denial lists at most this many images (the stub's MAX_LISTED_REASONS): the message ends up in
# the error the user sees and in events.
max_listed := 20

listed(names) := concat(", ", names) if {
	count(names) <= max_listed
} else := sprintf("%s and %d more", [concat(", ", array.slice(names, 0, max_listed)), count(names) - max_listed])

trust_summary := sprintf("trusted registries [%s], repositories [%s]", [
	concat(", ", sort(trusted_registries)),
	concat(", ", sort(trusted_repositories)),
])

# verdict(images) is {"allowed": true} when every image is trusted, else {"allowed": false, "reason"}.
verdict(images) := {"allowed": false, "reason": concat("; ", sort(trust_problems))} if {
	count(trust_problems) > 0
} else := {"allowed": false, "reason": sprintf("untrusted image(s): %s (%s)", [listed(sort(names)), trust_summary])} if {
	names := refused(images)
	count(names) > 0
} else := {"allowed": true}
