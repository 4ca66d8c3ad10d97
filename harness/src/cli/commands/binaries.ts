import { resolveBinaries, DEFAULT_K8S_VERSION } from "../../binaries/index.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

export async function binaries(flags: { k8sVersion?: string }, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const b = await resolveBinaries({ k8sVersion: flags.k8sVersion ?? DEFAULT_K8S_VERSION, progress: terminalProgress(io, g.quiet), logger: terminalLogger(io, g.verbose) });
  io.stdout.write(`Kubernetes ${b.version} (${b.source})\n  kube-apiserver:          ${b.kubeApiserver}\n  kube-controller-manager: ${b.kubeControllerManager}\n  etcd:                    ${b.etcd}\n`);
  return 0;
}
