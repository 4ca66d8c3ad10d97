# A registry allowlist written the way many guides print one. It is WRONG on purpose: the lint test
# (rego-lint.test.ts) expects a finding on each line marked "mistake". Do not fix it.
package cluster.images

default permitted = false

# mistake: v0 syntax (no `if`), which OPA 1.x refuses to load
permitted {
	# mistake: Gatekeeper's input shape; mistake: one matching container is enough ([_])
	input.review.object.spec.containers[_].image == "ghcr.io/platform-team/*"
}

permitted {
	some k
	img := input.review.object.spec.containers[k].image
	# mistake: no "/" boundary, so registry.corp.example.attacker.net passes
	startswith(img, "registry.corp.example")
}

permitted {
	# mistake: default delimiters, so "*" cannot cross the "." in a tag like 1.2
	glob.match("quay.io/corp/*", [], input.review.object.spec.containers[_].image)
}
