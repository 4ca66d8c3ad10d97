# opa test policies/opa: the AdmissionReview decision (POST /v0/data/lab/admission/review).
package lab.admission_test

import data.lab.admission

trust := {"registries": ["trusted.example"], "repositories": []}

containers(images) := [{"name": sprintf("c%d", [i]), "image": image} | some i, image in images]

pod_request(spec) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "0f3c-uid",
		"kind": {"group": "", "version": "v1", "kind": "Pod"},
		"resource": {"group": "", "version": "v1", "resource": "pods"},
		"namespace": "default",
		"operation": "CREATE",
		"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec},
	},
}

workload_request(group, kind, object) := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"request": {
		"uid": "w-uid",
		"kind": {"group": group, "version": "v1", "kind": kind},
		"namespace": "default",
		"operation": "CREATE",
		"object": object,
	},
}

review(request) := r if {
	r := admission.review with input as request with data.lab.trust as trust
}

response(request) := review(request).response

test_allowed_pod_is_a_complete_admission_review if {
	review(pod_request({"containers": containers(["trusted.example/app:1"])})) == {
		"apiVersion": "admission.k8s.io/v1",
		"kind": "AdmissionReview",
		"response": {"uid": "0f3c-uid", "allowed": true},
	}
}

test_denied_pod_carries_403_and_lists_the_untrusted_images if {
	r := response(pod_request({"containers": containers(["trusted.example/app:1", "nginx", "quay.io/x"])}))
	r.uid == "0f3c-uid"
	r.allowed == false
	r.status.code == 403
	r.status.reason == "Forbidden"
	r.status.message == "untrusted image(s): nginx (docker.io/library/nginx), quay.io/x (trusted registries [trusted.example], repositories [])"
}

# The classic mistakes' counterparts: every container list counts, and one untrusted image is enough.
test_untrusted_init_container_denies if {
	not response(pod_request({"containers": containers(["trusted.example/app"]), "initContainers": containers(["evil.example/init"])})).allowed
}

test_untrusted_ephemeral_container_in_a_pod_denies if {
	not response(pod_request({"containers": containers(["trusted.example/app"]), "ephemeralContainers": containers(["evil.example/debug"])})).allowed
}

test_ephemeralcontainers_subresource_reviews_only_ephemeral_containers if {
	base := pod_request({"containers": containers(["evil.example/already-running"]), "ephemeralContainers": containers(["trusted.example/debug"])})
	request := json.patch(base, [{"op": "add", "path": "/request/subResource", "value": "ephemeralcontainers"}])
	response(request).allowed

	bad := json.patch(request, [{"op": "replace", "path": "/request/object/spec/ephemeralContainers/0/image", "value": "evil.example/debug"}])
	r := response(bad)
	not r.allowed
	r.status.message == "untrusted image(s): evil.example/debug (trusted registries [trusted.example], repositories [])"
}

test_other_pod_subresources_carry_no_images if {
	base := pod_request({"containers": containers(["evil.example/x"])})
	response(json.patch(base, [{"op": "add", "path": "/request/subResource", "value": "status"}])).allowed
}

test_delete_carries_no_object if {
	base := pod_request({"containers": containers(["evil.example/x"])})
	response(json.patch(base, [{"op": "remove", "path": "/request/object"}])).allowed
}

test_container_without_image_is_an_invalid_reference if {
	r := response(pod_request({"containers": [{"name": "c"}]}))
	not r.allowed
	r.status.message == `untrusted image(s): "" (invalid image reference) (trusted registries [trusted.example], repositories [])`
}

template(images) := {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": containers(["trusted.example/ok"]), "initContainers": containers(images)}}

workloads(images) := [
	["", "ReplicationController", {"spec": {"template": template(images)}}],
	["apps", "Deployment", {"spec": {"template": template(images)}}],
	["apps", "ReplicaSet", {"spec": {"template": template(images)}}],
	["apps", "StatefulSet", {"spec": {"template": template(images)}}],
	["apps", "DaemonSet", {"spec": {"template": template(images)}}],
	["batch", "Job", {"spec": {"template": template(images)}}],
	["batch", "CronJob", {"spec": {"jobTemplate": {"spec": {"template": template(images)}}}}],
]

test_workload_templates_are_reviewed if {
	every w in workloads(["evil.example/x"]) {
		r := response(workload_request(w[0], w[1], w[2]))
		not r.allowed
		r.uid == "w-uid"
		contains(r.status.message, "evil.example/x")
	}
	every w in workloads(["trusted.example/y"]) {
		response(workload_request(w[0], w[1], w[2])).allowed
	}
}

test_kinds_without_pods_and_workload_subresources_are_allowed if {
	response(workload_request("", "ConfigMap", {"data": {"image": "evil.example/x"}})).allowed
	response(workload_request("example.com", "Deployment", {"spec": {"template": template(["evil.example/x"])}})).allowed
	scale := json.patch(workload_request("apps", "Deployment", {"spec": {"template": template(["evil.example/x"])}}), [{"op": "add", "path": "/request/subResource", "value": "scale"}])
	response(scale).allowed
}

test_no_namespace_is_exempt if {
	request := json.patch(pod_request({"containers": containers(["evil.example/x"])}), [{"op": "replace", "path": "/request/namespace", "value": "kube-system"}])
	not response(request).allowed
}

test_without_trust_list_every_review_is_denied_with_a_reason if {
	r := admission.review.response with input as pod_request({"containers": containers(["trusted.example/app"])})
	not r.allowed
	r.uid == "0f3c-uid"
	r.status.code == 403
	startswith(r.status.message, "no trust list")
}

test_review_is_defined_for_any_input if {
	r := admission.review.response with input as {} with data.lab.trust as trust
	r == {"uid": "", "allowed": true}
}

# A namespace's own list (data.lab.trust_by_namespace) replaces the global one there, and only there:
# the lab plays scenarios side by side, each namespace with its own list.
in_namespace(request, ns) := json.patch(request, [{"op": "replace", "path": "/request/namespace", "value": ns}])

by_namespace := {"team-a": {"registries": ["evil.example"], "repositories": []}}

test_a_namespace_list_replaces_the_global_one_in_that_namespace if {
	evil := pod_request({"containers": containers(["evil.example/x"])})
	trusted := pod_request({"containers": containers(["trusted.example/app"])})
	r := admission.review.response with input as in_namespace(evil, "team-a") with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
	r.allowed

	# Replaced, not merged: the global list's registry is not trusted there.
	s := admission.review.response with input as in_namespace(trusted, "team-a") with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
	not s.allowed
	s.status.message == "untrusted image(s): trusted.example/app (trusted registries [evil.example], repositories [])"
}

test_other_namespaces_keep_the_global_list if {
	evil := pod_request({"containers": containers(["evil.example/x"])})
	trusted := pod_request({"containers": containers(["trusted.example/app"])})
	not admission.review.response.allowed with input as in_namespace(evil, "team-b") with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
	admission.review.response.allowed with input as in_namespace(trusted, "team-b") with data.lab.trust as trust with data.lab.trust_by_namespace as by_namespace
}

test_a_namespace_list_works_without_a_global_one if {
	evil := pod_request({"containers": containers(["evil.example/x"])})
	admission.review.response.allowed with input as in_namespace(evil, "team-a") with data.lab.trust_by_namespace as by_namespace
	r := admission.review.response with input as in_namespace(evil, "team-b") with data.lab.trust_by_namespace as by_namespace
	startswith(r.status.message, "no trust list")
}

test_a_malformed_namespace_list_is_named_in_the_denial if {
	bad := {"team-a": {"registries": "evil.example"}}
	r := admission.review.response with input as in_namespace(pod_request({"containers": containers(["evil.example/x"])}), "team-a") with data.lab.trust as trust with data.lab.trust_by_namespace as bad
	not r.allowed
	r.status.message == `data.lab.trust_by_namespace["team-a"].registries must be a list of strings, got evil.example`
}
