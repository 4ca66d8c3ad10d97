# opa test policies/opa: the registry rule, with the cases of mechanisms.md §A7 and the tricky
# references the stub's tests use (webhook-stub/src/reference.test.ts).
package lab.registry_test

import data.lab.registry

hex64 := concat("", [x | some _ in numbers.range(1, 16); some x in ["a", "b", "c", "f"]])

digest := concat("", ["sha256:", hex64])

repeat(s, n) := concat("", [s | some _ in numbers.range(1, n)])

allowed(images, trust) if {
	registry.verdict(images).allowed with data.lab.trust as trust
}

refused(images, trust) if {
	not registry.verdict(images).allowed with data.lab.trust as trust
}

host_trust := {"registries": ["trusted-registry.io"], "repositories": []}

# ---- mechanisms.md §A7 ----

test_a7_tag_with_dots_allowed if allowed(["trusted-registry.io/app:1.2"], host_trust)

test_a7_nested_path_and_digest_allowed if allowed([concat("@", ["trusted-registry.io/team/app", digest])], host_trust)

test_a7_upper_case_host_allowed if allowed(["TRUSTED-REGISTRY.IO/app"], host_trust)

test_a7_prefix_bug_refused if refused(["trusted-registry.io.evil.com/app"], host_trust)

test_a7_other_port_refused if refused(["trusted-registry.io:443/app"], host_trust)

test_a7_docker_hub_short_names_refused if {
	refused(["nginx"], host_trust)
	refused(["library/nginx"], host_trust)
	refused(["bitnami/redis"], host_trust)
}

test_a7_docker_hub_short_names_allowed_when_docker_io_trusted if {
	trust := {"registries": ["docker.io"]}
	allowed(["nginx", "library/nginx", "bitnami/redis", "docker.io/library/nginx:1"], trust)
}

test_a7_index_docker_io_is_docker_hub if {
	allowed(["index.docker.io/library/nginx"], {"registries": ["docker.io"]})
	allowed(["nginx"], {"registries": ["index.docker.io"]})
	allowed(["index.docker.io/library/nginx"], {"registries": ["Index.Docker.IO"]})
}

test_a7_localhost_refused if refused(["localhost:5000/x"], host_trust)

test_a7_untrusted_init_container_beside_a_trusted_one_refused if {
	refused(["trusted-registry.io/app:1", "quay.io/evil/x"], host_trust)
}

# ---- host rule ----

test_registry_boundaries if {
	trust := {"registries": ["trusted.io"]}
	allowed(["trusted.io/x"], trust)
	allowed([concat("@", ["trusted.io/x:1", digest])], trust)
	allowed(["TRUSTED.IO/x", "Trusted.Io/team/app:1"], trust)
	refused(["trusted.io-evil/x"], trust)
	refused(["evil.com/trusted.io/x"], trust)
	refused(["trusted.io:5000/x"], trust)
	refused(["eviltrusted.io/x"], trust)
	refused(["docker.io/trusted.io/x"], trust)

	# One component: the image docker.io/library/trusted.io (tag 5000 in the second).
	refused(["trusted.io"], trust)
	refused(["trusted.io:5000"], trust)
}

test_registry_with_port if {
	trust := {"registries": ["trusted.io:5000", "localhost:5000"]}
	allowed(["trusted.io:5000/x", "localhost:5000/x:1"], trust)
	refused(["trusted.io/x"], trust)
	refused(["localhost/x"], trust)
}

test_ipv6_registry if {
	allowed(["[2001:db8::1]:5000/repo:tag"], {"registries": ["[2001:db8::1]:5000"]})
	refused(["[2001:db8::1]/repo"], {"registries": ["[2001:db8::1]:5000"]})
}

test_upper_case_first_component_is_a_host if {
	# "A/b" names host A; "a/b" is Docker Hub's a/b.
	allowed(["A/b"], {"registries": ["a"]})
	refused(["a/b"], {"registries": ["a"]})
	allowed(["a/b"], {"registries": ["docker.io"]})
}

test_legacy_alias_only_in_its_exact_spelling if {
	# As in distribution/reference: INDEX.DOCKER.IO is a host of its own, not Docker Hub.
	refused(["INDEX.DOCKER.IO/library/nginx"], {"registries": ["docker.io"]})
}

test_any_registry if {
	allowed(["evil.com/x", "nginx"], {"registries": ["*"]})
	refused(["Not A Reference"], {"registries": ["*"]})
}

# ---- repository prefixes ----

test_repository_prefix_boundaries if {
	trust := {"repositories": ["docker.io/library/nginx"]}
	allowed(["nginx", "nginx:1.25", concat("@", ["docker.io/library/nginx", digest])], trust)
	allowed(["index.docker.io/library/nginx:1", "library/nginx", "docker.io/library/nginx/sub"], trust)
	refused(["nginx-evil"], trust)
	refused(["nginxx"], trust)
	refused(["library/nginx-evil:1"], trust)
	refused(["evil.com/docker.io/library/nginx"], trust)
	refused(["docker.io.evil.com/library/nginx"], trust)
	refused(["docker.io:5000/library/nginx"], trust)
	refused(["other/nginx"], trust)
}

test_repository_entries_normalize_like_the_stub if {
	# Shorthand: "nginx" is docker.io/library/nginx.
	allowed(["nginx:1"], {"repositories": ["nginx"]})

	# Explicit registry: the path is literal, so docker.io/kindest is the kindest organization.
	allowed(["kindest/kindnetd:v1"], {"repositories": ["docker.io/kindest"]})
	refused(["kindest"], {"repositories": ["docker.io/kindest"]})
	allowed(["quay.io/team/app"], {"repositories": ["Quay.IO/team"]})
	allowed(["index.docker.io/kindest/x"], {"repositories": ["index.docker.io/kindest"]})

	# An upper-case first component is a host: Quay/team is registry "quay", path team.
	allowed(["Quay/team/app:1"], {"repositories": ["Quay/team"]})
	refused(["quay/team/app:1"], {"repositories": ["Quay/team"]})
}

test_registries_and_repositories_together if {
	trust := {"registries": ["trusted.example"], "repositories": ["quay.io/team"]}
	allowed(["trusted.example/a", "quay.io/team/b"], trust)
	refused(["trusted.example/a", "quay.io/other/b"], trust)
}

# ---- invalid references are refused, whatever is trusted ----

test_invalid_references_refused if {
	every image in [
		"", ":justtag", concat("", ["@", digest]), "https://github.com/docker/docker", "docker/Docker",
		"Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "-docker", "docker///docker", "a..b",
		"a___b", "a-", hex64, concat("", ["validname@invaliddigest:", hex64]),
		concat("", ["repo@sha256:", substring(hex64, 0, 63)]), concat("", ["repo@sha256:", hex64, "f"]),
		concat("", ["repo@sha256:", upper(hex64)]), concat("", ["repo:", repeat("t", 129)]),
		"[2001:db8::1]", "[fe80::1%eth0]:5000/repo", "trusted.io./x", "nginx:1.25 ", "nginx\n",
		concat("", [repeat("a/", 128), "a:tag"]), repeat("x", 2000), null, 42,
	] {
		refused([image], {"registries": ["*"]})
	}
}

test_valid_edge_references_allowed_by_any if {
	every image in [
		"localhost:5000", "192.168.0.1", "test.com:tag", "foo_bar.com:8080", "lowercase:Uppercase",
		"a__b/c--d/e.f_g", "xn--n3h.com/myimage:xn--n3h.com", concat("", ["docker.io/", hex64]),
		concat("", ["example.com/", repeat("a", 243), ":tag"]),
		concat("", ["nginx:1.25@sha512:", repeat("f", 128)]),
	] {
		allowed([image], {"registries": ["*"]})
	}
}

test_name_of_256_characters_refused if {
	refused([concat("", ["example.com/", repeat("a", 244), ":tag"])], {"registries": ["*"]})
}

# ---- the trust document ----

test_absent_trust_list_denies_everything if {
	v := registry.verdict(["trusted.example/app"])
	not v.allowed
	contains(v.reason, "no trust list")
	contains(v.reason, "/v1/data/lab/trust")
}

test_absent_trust_list_denies_even_no_images if {
	not registry.verdict([]).allowed
}

test_empty_trust_list_denies_every_image if {
	refused(["trusted.example/app"], {"registries": [], "repositories": []})
	refused(["trusted.example/app"], {})
	allowed([], {})
}

test_malformed_trust_list_fails_closed if {
	v := registry.verdict(["trusted.example/app"]) with data.lab.trust as {"registries": "trusted.example"}
	not v.allowed
	contains(v.reason, "data.lab.trust.registries must be a list of strings")

	w := registry.verdict(["trusted.example/app"]) with data.lab.trust as {"registries": ["trusted.example"], "registry": ["x"]}
	not w.allowed
	contains(w.reason, `unknown key "registry"`)

	refused(["trusted.example/app"], ["trusted.example"])
}

# ---- the reason ----

test_reason_lists_each_untrusted_image_once_with_its_normalized_name if {
	v := registry.verdict(["nginx", "trusted.example/a", "quay.io/x:1", "nginx", "Bad Image"]) with data.lab.trust as {"registries": ["trusted.example"]}
	v.reason == `untrusted image(s): "Bad Image" (invalid image reference), nginx (docker.io/library/nginx), quay.io/x:1 (trusted registries [trusted.example], repositories [])`
}

test_reason_lists_at_most_twenty_images if {
	images := [sprintf("evil.example/x%02d", [i]) | some i in numbers.range(1, 25)]
	v := registry.verdict(images) with data.lab.trust as {"registries": ["trusted.example"]}
	endswith(v.reason, "evil.example/x20 and 5 more (trusted registries [trusted.example], repositories [])")
}
