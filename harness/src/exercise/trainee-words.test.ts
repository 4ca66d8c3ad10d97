import { describe, expect, it } from "vitest";
import type { ExerciseFiles } from "./exercise-node.ts";
import { loadExercises } from "./load.ts";
import { forTrainee, TRAINEE_PLACEHOLDERS } from "./trainee-words.ts";

const local: ExerciseFiles = { provider: "local", manifest: "/s/manifests/kube-apiserver.yaml", admissionDir: "/s/admission", kubeconfig: "/s/kubeconfig", apiserverLog: "/s/logs/kube-apiserver.log", kubeletLog: "/s/logs/kubelet.log" };
const kind: ExerciseFiles = {
  provider: "kind",
  node: "iplab-abc123-control-plane",
  manifest: "/etc/kubernetes/manifests/kube-apiserver.yaml",
  admissionDir: "/s/admission",
  admissionDirInNode: "/etc/kubernetes/imagepolicy",
  kubeconfig: "/s/kubeconfig",
  apiserverLogDir: "/var/log/pods/kube-system_kube-apiserver-iplab-abc123-control-plane_*",
};

describe("the trainee's words per provider", () => {
  it("names the local lab's files on local, and the node's files and tools on kind", () => {
    const text = "edit {{manifest}}, restart with {{restart}}, read {{apiserverLog}}, {{kubeletLog}} and {{auditLog}}";
    expect(forTrainee(text, local)).toBe("edit manifests/kube-apiserver.yaml, restart with `touch manifests/kube-apiserver.yaml`, read logs/kube-apiserver.log, logs/kubelet.log and logs/audit.log");
    const k = forTrainee(text, kind);
    expect(k).toContain("edit /etc/kubernetes/manifests/kube-apiserver.yaml in the node");
    expect(k).toContain("`touch` is not enough for kubelet");
    expect(k).toContain("`crictl logs`");
    expect(k).toContain("`journalctl -u kubelet` in the node");
    expect(k).toContain("/var/log/kubernetes/imagepolicy-lab/audit.log in the node");
    expect(k).not.toMatch(/logs\/|touch manifests/);
  });

  it("leaves no placeholder unfilled and no local path in any shipped exercise's task, hints or failure words on kind", async () => {
    for (const e of await loadExercises()) {
      const texts = [e.doc.task, ...e.doc.hints, ...e.doc.checks.map((c) => c.whenFailing)];
      for (const t of texts) {
        const k = forTrainee(t, kind);
        expect(k, `${e.file}: ${t}`).not.toMatch(/\{\{(?!stateDir|admissionDir)\w+\}\}/);
        expect(k, `${e.file}: a local path in a text the kind trainee reads`).not.toMatch(/\blogs\/(kube-apiserver|kubelet|audit)\.log|touch manifests\//);
      }
    }
    expect(TRAINEE_PLACEHOLDERS.length).toBe(5);
  });
});
