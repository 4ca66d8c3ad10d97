import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { renderKindConfig } from "../../kind/kind-config.ts";
import type { CliIO } from "../io.ts";

export async function kindConfig(flags: { out?: string; admissionDir?: string }, io: CliIO): Promise<number> {
  const text = renderKindConfig({ hostAdmissionDir: flags.admissionDir ? resolve(io.cwd, flags.admissionDir) : "/ABSOLUTE/PATH/TO/admission" });
  if (flags.out) {
    await writeFile(resolve(io.cwd, flags.out), text);
    io.stderr.write(`wrote ${flags.out}\n`);
  } else io.stdout.write(text);
  return 0;
}
