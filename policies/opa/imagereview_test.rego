# opa test policies/opa: the ImageReview decision (POST /v0/data/lab/imagereview/review).
package lab.imagereview_test

import data.lab.imagereview

trust := {"registries": ["trusted.example"], "repositories": ["docker.io/kindest"]}

image_review(images) := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"spec": {"containers": [{"image": image} | some image in images], "namespace": "default"},
}

review(images) := r if {
	r := imagereview.review with input as image_review(images) with data.lab.trust as trust
}

test_allowed_is_a_complete_image_review if {
	review(["trusted.example/app:1", "kindest/kindnetd:v1"]) == {
		"apiVersion": "imagepolicy.k8s.io/v1alpha1",
		"kind": "ImageReview",
		"status": {"allowed": true},
	}
}

test_denied_carries_the_reason if {
	review(["trusted.example/app:1", "trusted.example.evil.com/app"]).status == {
		"allowed": false,
		"reason": "untrusted image(s): trusted.example.evil.com/app (trusted registries [trusted.example], repositories [docker.io/kindest])",
	}
}

test_no_containers_is_allowed if {
	review([]).status.allowed
}

test_without_trust_list_denied_with_a_reason if {
	s := imagereview.review.status with input as image_review(["trusted.example/app"])
	not s.allowed
	startswith(s.reason, "no trust list")
}

# The ImageReview's spec.namespace picks a namespace's own list, as request.namespace does for an AdmissionReview.
test_a_namespace_list_applies_to_image_reviews_of_that_namespace if {
	by_namespace := {"default": {"registries": ["evil.example"], "repositories": []}}
	s := imagereview.review.status with input as image_review(["evil.example/x"]) with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
	s.allowed
	t := imagereview.review.status with input as image_review(["trusted.example/app"]) with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
	not t.allowed
}
