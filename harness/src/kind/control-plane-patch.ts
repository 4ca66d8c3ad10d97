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
  pathType: "Directory" | "DirectoryOrCreate";
}

/** The apiserver's audit log: where the plugin's audit annotations (failed-open, backend annotations) become observable. */
export interface AuditLayout {
  /** Audit policy file as the apiserver sees it. */
  policyFile: string;
  /** Audit log file as the apiserver sees it. */
  logFile: string;
  /** A writable directory to mount for the log (kind: a node directory); omit when the apiserver runs on the host. */
  logDir?: string;
}

/** In a kind node: the policy sits in the mounted admission directory, the log in its own writable directory. */
export const AUDIT_LOG_DIR_IN_NODE = "/var/log/kubernetes/imagepolicy-lab";
export const AUDIT_POLICY_FILE = "audit-policy.yaml";
export const KIND_AUDIT: AuditLayout = Object.freeze({
  policyFile: `${ADMISSION_DIR_IN_NODE}/${AUDIT_POLICY_FILE}`,
  logFile: `${AUDIT_LOG_DIR_IN_NODE}/audit.log`,
  logDir: AUDIT_LOG_DIR_IN_NODE,
});

/** Audit policy: Metadata for pod writes (where the plugin's annotations appear), nothing else. */
export const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: ["pods", "pods/ephemeralcontainers"]
  verbs: ["create", "update", "patch"]
- level: None
`;

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
export function imagePolicyControlPlanePatch(admissionDir: string = ADMISSION_DIR_IN_NODE, o: { audit?: AuditLayout; imagePolicyWebhook?: boolean } = {}): ControlPlanePatch {
  const patch: ControlPlanePatch = {
    extraArgs: {
      // Off in labs whose mechanism is a webhook or a ValidatingAdmissionPolicy: the admission
      // configuration file stays (with no plugin in it), so every lab has the same files and mounts.
      "enable-admission-plugins": o.imagePolicyWebhook === false ? "NodeRestriction" : "NodeRestriction,ImagePolicyWebhook",
      "admission-control-config-file": `${admissionDir}/${ADMISSION_FILES.admissionConfig}`,
    },
    extraVolumes: [{ name: "imagepolicy", hostPath: admissionDir, mountPath: admissionDir, readOnly: true, pathType: "Directory" }],
  };
  if (o.audit) {
    Object.assign(patch.extraArgs, { "audit-policy-file": o.audit.policyFile, "audit-log-path": o.audit.logFile, "audit-log-format": "json" });
    if (o.audit.logDir) {
      patch.extraVolumes.push({ name: "imagepolicy-audit", hostPath: o.audit.logDir, mountPath: o.audit.logDir, readOnly: false, pathType: "DirectoryOrCreate" });
    }
  }
  return patch;
}
