// `node-image build|status`: the offline kind node image (harness/src/node-image/).
import { DEFAULT_K8S_VERSION } from "../../binaries/versions.ts";
import { buildNodeImage, nodeImageStatus } from "../../node-image/build.ts";
import { formatElapsed } from "../../binaries/go-build.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

export async function build(flags: { k8sVersion?: string; force?: boolean }, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const r = await buildNodeImage({
    k8sVersion: flags.k8sVersion ?? DEFAULT_K8S_VERSION,
    force: flags.force ?? false,
    progress: terminalProgress(io, g.quiet),
    logger: terminalLogger(io, g.verbose),
  });
  if (!r.built) {
    io.stdout.write(`${r.tag} is up to date (${r.origins.join("; ")}); --force rebuilds it\n`);
    return 0;
  }
  io.stdout.write(`built ${r.tag} in ${formatElapsed(r.elapsedMs)}\n  images in the node: ${r.images.join(", ")}\n${r.origins.map((o) => `  ${o}\n`).join("")}`);
  return 0;
}

export async function status(flags: { k8sVersion?: string }, io: CliIO): Promise<number> {
  const s = await nodeImageStatus(flags.k8sVersion ?? DEFAULT_K8S_VERSION);
  io.stdout.write(`${s.tag}: ${s.current ? `present, current (recipe ${s.hash})` : s.present ? `present but built from another recipe (want ${s.hash}): run 'imagepolicy-lab node-image build'` : "not built: run 'imagepolicy-lab node-image build'"}\n`);
  return s.current ? 0 : 1;
}
