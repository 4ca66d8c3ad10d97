import { resolve } from "node:path";
import { downLab } from "../../lab/down.ts";
import { downAll, warnAboutOrphans } from "../../lab/orphans.ts";
import { ConfigError, partsFailed } from "../../util/errors.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger } from "../progress.ts";

export async function down(flags: { stateDir?: string; all?: boolean }, io: CliIO): Promise<number> {
  if (flags.all) {
    if (flags.stateDir) throw new ConfigError([{ file: "command line", path: "--all", message: "takes no --state-dir: it finds every lab by what runs" }]);
    const r = await downAll({ logger: terminalLogger(io) });
    for (const k of r.kept) io.stdout.write(`kept ${k}\n`);
    io.stdout.write(r.stopped.length ? `stopped:\n${r.stopped.map((s) => `  ${s}`).join("\n")}\n` : "no lab without a running owner found (nothing to do)\n");
    if (r.errors.length) throw partsFailed("down --all could not remove everything", r.errors);
    return 0;
  }
  if (!flags.stateDir) throw new ConfigError([{ file: "command line", path: "--state-dir", message: "required (or --all to stop every lab that no running command owns)" }]);
  const stateDir = resolve(io.cwd, flags.stateDir);
  const result = await downLab(stateDir);
  io.stdout.write(result.found ? `stopped: ${result.stopped.join(", ") || "nothing was still running"}; keys removed from ${flags.stateDir}\n` : `no lab in ${flags.stateDir} (nothing to do)\n`);
  await warnAboutOrphans(terminalLogger(io), { except: stateDir });
  return 0;
}
