import { resolveBinaries, DEFAULT_K8S_VERSION } from "../../binaries/index.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

export async function binaries(flags: { k8sVersion?: string; opa?: boolean }, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const b = await resolveBinaries({ k8sVersion: flags.k8sVersion ?? DEFAULT_K8S_VERSION, progress: terminalProgress(io, g.quiet), logger: terminalLogger(io, g.verbose) });
  io.stdout.write(`Kubernetes ${b.version} (${b.source})\n  kube-apiserver:          ${b.kubeApiserver}\n  kube-controller-manager: ${b.kubeControllerManager}\n  etcd:                    ${b.etcd}\n`);
  if (flags.opa) {
    const { ensureOpa, OPA_VERSION } = await import("../../opa/opa-binary.ts");
    const opa = await ensureOpa({ progress: terminalProgress(io, g.quiet), logger: terminalLogger(io, g.verbose) });
    io.stdout.write(`  opa ${OPA_VERSION}:             ${opa}\n`);
  }
  return 0;
}
