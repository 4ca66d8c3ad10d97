// The words an exercise's task and hints use for the trainee's files and actions, per provider:
// `{{manifest}}`, `{{restart}}`, `{{apiserverLog}}`, `{{kubeletLog}}`, `{{auditLog}}`. One exercise
// text then reads right on the local lab (files in the state dir) and on kind (the node's real
// files, reached with docker exec), instead of naming the local paths everywhere.
import { KIND_AUDIT } from "../kind/control-plane-patch.ts";
import { APISERVER_MANIFEST, KUBELET_LOG } from "../providers/local/static-pod.ts";
import type { ExerciseFiles } from "./exercise-node.ts";

export const TRAINEE_PLACEHOLDERS = ["manifest", "restart", "apiserverLog", "kubeletLog", "auditLog"] as const;
export type TraineePlaceholder = (typeof TRAINEE_PLACEHOLDERS)[number];

/** What each placeholder means on the lab's provider. */
export function traineeWords(f: ExerciseFiles): Record<TraineePlaceholder, string> {
  if (f.provider === "local") {
    return {
      manifest: APISERVER_MANIFEST,
      restart: `\`touch ${APISERVER_MANIFEST}\``,
      apiserverLog: "logs/kube-apiserver.log",
      kubeletLog: KUBELET_LOG,
      auditLog: "logs/audit.log",
    };
  }
  return {
    manifest: `${f.manifest} in the node`,
    // kubelet restarts a static pod when its manifest's content changes; a new mtime alone is no change.
    restart: `a change to ${f.manifest} in the node, e.g. an annotation (\`touch\` is not enough for kubelet)`,
    apiserverLog: `\`crictl logs\` of the newest kube-apiserver container in the node (\`crictl ps -a --name kube-apiserver\`)`,
    kubeletLog: "`journalctl -u kubelet` in the node",
    auditLog: `${KIND_AUDIT.logFile} in the node`,
  };
}

/** `text` with every trainee placeholder filled for the lab's provider. */
export function forTrainee(text: string, f: ExerciseFiles): string {
  const words = traineeWords(f);
  return TRAINEE_PLACEHOLDERS.reduce((s, k) => s.replaceAll(`{{${k}}}`, words[k]), text);
}
