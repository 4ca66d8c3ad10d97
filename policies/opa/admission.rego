# The AdmissionReview decision for a validating admission webhook, served by OPA at
#   POST /v0/data/lab/admission/review
# (the /v0 webhook API: the request body is `input`, the reply is this document as it stands; an
# undefined document would be a 404, which the apiserver counts as a call failure, not a denial).
#
# Reviewed, as the stub's /validate endpoint reviews them (webhook-stub/src/admission-review.ts):
# - Pod create/update: containers, initContainers and ephemeralContainers;
# - the pods/ephemeralcontainers subresource (kubectl debug): only the ephemeral containers;
# - the pod templates of Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController
#   (spec.template.spec) and CronJob (spec.jobTemplate.spec.template.spec).
# Other kinds and subresources carry no images and are allowed. Nothing is exempt here: which
# namespaces are reviewed is the webhook configuration's business (the lab's excludes kube-system).
package lab.admission

import data.lab.registry

review := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}

# The apiserver rejects a response whose uid differs from the request's.
uid := object.get(input, ["request", "uid"], "")

group := object.get(input, ["request", "kind", "group"], "")

kind := object.get(input, ["request", "kind", "kind"], "")

sub_resource := object.get(input, ["request", "subResource"], "")

all_containers := ["containers", "initContainers", "ephemeralContainers"]

# Where each workload kind (by API group) keeps its pod template.
template_paths := {
	"/ReplicationController": ["spec", "template"],
	"apps/Deployment": ["spec", "template"],
	"apps/ReplicaSet": ["spec", "template"],
	"apps/StatefulSet": ["spec", "template"],
	"apps/DaemonSet": ["spec", "template"],
	"batch/Job": ["spec", "template"],
	"batch/CronJob": ["spec", "jobTemplate", "spec", "template"],
}

# The pod (or pod template) under review and which of its container lists count; undefined when the
# request carries none (DELETE, other kinds, status and scale subresources).
reviewed := {"pod": input.request.object, "lists": all_containers} if {
	group == ""
	kind == "Pod"
	sub_resource == ""
	is_object(input.request.object)
} else := {"pod": input.request.object, "lists": ["ephemeralContainers"]} if {
	group == ""
	kind == "Pod"
	sub_resource == "ephemeralcontainers"
	is_object(input.request.object)
} else := {"pod": object.get(input.request.object, template_paths[concat("/", [group, kind])], {}), "lists": all_containers} if {
	sub_resource == ""
	is_object(input.request.object)
}

# Every image, in review order; a container without one counts as "" (an invalid reference).
images := [image |
	some list in reviewed.lists
	some container in object.get(reviewed.pod, ["spec", list], [])
	image := object.get(container, "image", "")
]

verdict := registry.verdict(images)

# A denial carries 403 Forbidden like ImagePolicyWebhook's; without a code the apiserver would answer 400.
response := {"uid": uid, "allowed": true} if {
	verdict.allowed
} else := {"uid": uid, "allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": verdict.reason}}
