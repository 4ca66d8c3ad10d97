# The ImageReview decision, so OPA can be ImagePolicyWebhook's backend, served by OPA at
#   POST /v0/data/lab/imagereview/review
# (the kubeconfig's server URL). The plugin sends only images, forwarded annotations and the
# namespace; every container it lists (containers, init and ephemeral) is in spec.containers.
# OPA answers 200 to every decision, so the plugin caches each verdict for allowTTL/denyTTL.
package lab.imagereview

import data.lab.registry

review := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": status}

images := [object.get(container, "image", "") | some container in object.get(input, ["spec", "containers"], [])]

verdict := registry.verdict(images)

status := {"allowed": true} if {
	verdict.allowed
} else := {"allowed": false, "reason": verdict.reason}
