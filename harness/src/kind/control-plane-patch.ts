// The single source of truth for how the apiserver gets ImagePolicyWebhook: the kubeadm
// ClusterConfiguration patch that kind applies (kind-configs/), and from which the local provider
// derives its own apiserver flags and admission file layout. If the local end-to-end tests pass,
// the patch's flags and files are right.

/** Where the admission files live as the apiserver sees them (node path = pod path in kind). */
export const ADMISSION_DIR_IN_NODE = "/etc/kubernetes/imagepolicy";

/** File names inside the admission directory. */
export const ADMISSION_FILES = {
  admissionConfig: "admission-config.yaml",
  webhookKubeconfig: "imagepolicy.kubeconfig",
  backendCa: "backend-ca.crt",
  clientCert: "apiserver-client.crt",
  clientKey: "apiserver-client.key",
} as const;

export interface ExtraVolume {
  name: string;
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
  pathType: "Directory";
}

export interface ControlPlanePatch {
  /** kube-apiserver flags, without the leading `--`. */
  extraArgs: Record<string, string>;
  /** Volumes the apiserver static pod needs so it can read the files named in extraArgs. */
  extraVolumes: ExtraVolume[];
}

/**
 * The apiserver part of the patch. `NodeRestriction` is repeated because an extraArgs entry replaces
 * kubeadm's own `enable-admission-plugins=NodeRestriction` (kind-integration.md §5). One directory is
 * mounted rather than single files, which go stale when a file is replaced atomically (§4).
 */
export function imagePolicyControlPlanePatch(admissionDir: string = ADMISSION_DIR_IN_NODE): ControlPlanePatch {
  return {
    extraArgs: {
      "enable-admission-plugins": "NodeRestriction,ImagePolicyWebhook",
      "admission-control-config-file": `${admissionDir}/${ADMISSION_FILES.admissionConfig}`,
    },
    extraVolumes: [{ name: "imagepolicy", hostPath: admissionDir, mountPath: admissionDir, readOnly: true, pathType: "Directory" }],
  };
}
