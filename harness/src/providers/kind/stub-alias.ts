/** The stub's DNS alias on the kind network; its serving certificate carries it and the webhook kubeconfig names it. */
export const STUB_ALIAS = "image-policy-stub";
/** OPA's DNS alias on the kind network (the opa mechanism); the same serving certificate carries it. */
export const OPA_ALIAS = "imagepolicy-lab-opa";
