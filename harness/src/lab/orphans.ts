// Labs on this machine found by what they left running (processes, containers, kind clusters: each
// provider's findLeftovers), not by state files, and who owns each: a live command (its claim's pid
// runs), a detached `up` (left running on purpose), or nobody: an orphan of a command that was killed
// outright (SIGKILL, an OOM kill, a cancelled CI job). `down --all` removes every lab no live command
// owns; `up` and `run` mention orphans when they start.
import { readClaim } from "../providers/lab-state.ts";
import type { Leftover } from "../providers/provider.ts";
import { PROVIDER_NAMES, providerByName, type SelectOptions } from "../providers/select.ts";
import { silentLogger, type Logger } from "../util/logger.ts";
import { downLab } from "./down.ts";

export type LabOwner = "live command" | "detached up" | "none";

export interface FoundLab {
  stateDir?: string;
  parts: string[];
  owner: LabOwner;
  /** The owning command's pid when it runs. */
  pid?: number;
  remove?: Leftover["remove"];
}

/** Every lab any provider finds, merged by state directory, with its owner. */
export async function findLabs(o: { providers?: SelectOptions } = {}): Promise<FoundLab[]> {
  const merged = new Map<string, Leftover>();
  const loose: Leftover[] = [];
  for (const name of PROVIDER_NAMES) {
    const provider = await providerByName(name, o.providers);
    for (const l of await provider.findLeftovers().catch(() => [] as Leftover[])) {
      if (!l.stateDir) loose.push(l);
      else merged.set(l.stateDir, { stateDir: l.stateDir, parts: [...(merged.get(l.stateDir)?.parts ?? []), ...l.parts] });
    }
  }
  const labs: FoundLab[] = [];
  for (const l of merged.values()) {
    const claim = await readClaim(l.stateDir!);
    const owner: LabOwner = claim?.alive ? "live command" : claim?.detached ? "detached up" : "none";
    labs.push({ stateDir: l.stateDir, parts: l.parts, owner, ...(claim?.alive && claim.pid ? { pid: claim.pid } : {}) });
  }
  for (const l of loose) labs.push({ parts: l.parts, owner: "none", ...(l.remove ? { remove: l.remove } : {}) });
  return labs;
}

/** One line per orphan, for warnings; empty when there is none. */
export function describeOrphans(labs: FoundLab[]): string[] {
  return labs.filter((l) => l.owner === "none").map((l) => `${l.stateDir ?? "(no state directory)"}: ${l.parts.join(", ")}`);
}

/** Removes every lab that no live command owns (orphans and detached `up` labs). */
export async function downAll(o: { logger?: Logger; providers?: SelectOptions } = {}): Promise<{ stopped: string[]; kept: string[]; errors: unknown[] }> {
  const logger = o.logger ?? silentLogger;
  const stopped: string[] = [];
  const kept: string[] = [];
  const errors: unknown[] = [];
  for (const lab of await findLabs(o)) {
    if (lab.owner === "live command") {
      kept.push(`${lab.stateDir}: owned by a running command (pid ${lab.pid})`);
      continue;
    }
    try {
      if (lab.stateDir) {
        const r = await downLab(lab.stateDir, { logger, ...(o.providers ? { providers: o.providers } : {}) });
        stopped.push(...r.stopped.map((s) => `${lab.stateDir}: ${s}`));
      } else if (lab.remove) stopped.push(...(await lab.remove()));
    } catch (err) {
      errors.push(err);
    }
  }
  return { stopped, kept, errors };
}

/** Warns about orphans (for `up`, `run` and `down`); never fails the command it serves. */
export async function warnAboutOrphans(logger: Logger, o: { providers?: SelectOptions; except?: string } = {}): Promise<void> {
  try {
    const lines = describeOrphans((await findLabs(o)).filter((l) => l.stateDir !== o.except));
    if (lines.length) logger.warn(`${lines.length} lab(s) left running by commands that no longer run:\n${lines.map((l) => `  ${l}`).join("\n")}\n  remove them with: imagepolicy-lab down --all`);
  } catch (err) {
    logger.debug(`looking for orphaned labs failed: ${(err as Error).message}`);
  }
}
