import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { DEFAULT_KIND_CLUSTER_NAME, HOST_ADMISSION_DIR_PLACEHOLDER, renderKindConfig } from "../../kind/kind-config.ts";
import type { CliIO } from "../io.ts";

export async function kindConfig(flags: { out?: string; admissionDir?: string; versioned?: boolean }, io: CliIO): Promise<number> {
  const text = renderKindConfig({
    hostAdmissionDir: flags.admissionDir ? resolve(io.cwd, flags.admissionDir) : HOST_ADMISSION_DIR_PLACEHOLDER,
    clusterName: DEFAULT_KIND_CLUSTER_NAME,
    kubeadmApi: flags.versioned ? "versioned" : "unversioned",
  });
  if (flags.out) {
    await writeFile(resolve(io.cwd, flags.out), text);
    io.stderr.write(`wrote ${flags.out}\n`);
  } else io.stdout.write(text);
  return 0;
}
