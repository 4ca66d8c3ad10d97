/** The stub's DNS alias on the kind network; its serving certificate carries it and the webhook kubeconfig names it. */
export const STUB_ALIAS = "image-policy-stub";
