import { resolve } from "node:path";
import { downLab } from "../../lab/down.ts";
import type { CliIO } from "../io.ts";

export async function down(flags: { stateDir: string }, io: CliIO): Promise<number> {
  const result = await downLab(resolve(io.cwd, flags.stateDir));
  io.stdout.write(result.found ? `stopped: ${result.stopped.join(", ") || "nothing was still running"}; keys removed from ${flags.stateDir}\n` : `no lab in ${flags.stateDir} (nothing to do)\n`);
  return 0;
}
