// Stops a lab started by `up` (possibly from another process). The provider its state file names
// removes what it left (providers/*/…-teardown.ts: processes, containers, clusters, networks); with
// no state file (an `up` killed before it wrote one) every provider looks for leftovers it can tell
// apart without one. Then the keys go. Nothing here knows what a provider runs.
import { readClaim, readLabState, removeSecrets } from "../providers/lab-state.ts";
import { PROVIDER_NAMES, providerByName, type SelectOptions } from "../providers/select.ts";
import { partsFailed } from "../util/errors.ts";
import { silentLogger, type Logger } from "../util/logger.ts";

export interface DownOptions {
  logger?: Logger;
  /** How providers are built (their options, or fakes in tests); see providers/select.ts. */
  providers?: SelectOptions;
}

/**
 * Resolves to whether there was a lab and one line per thing stopped. When a provider fails to remove
 * something, rejects with an AggregateError naming each failed part and keeps the state file, so
 * `down` can be run again.
 */
export async function downLab(stateDir: string, o: DownOptions = {}): Promise<{ found: boolean; stopped: string[] }> {
  const state = await readLabState(stateDir);
  // A directory with neither a state file nor a claim was never a lab's (every lab claims its
  // directory before it starts anything): touch nothing there. `down --state-dir /etc/kubernetes` by
  // mistake must not stop a real control plane or remove its pki.
  if (!state && !(await readClaim(stateDir))) return { found: false, stopped: [] };
  const names = state ? [state.provider] : PROVIDER_NAMES;
  const stopped: string[] = [];
  const errors: unknown[] = [];
  for (const name of names) {
    try {
      const provider = await providerByName(name, o.providers);
      stopped.push(...(await provider.removeDetached({ stateDir, state, logger: o.logger ?? silentLogger })));
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) {
    const done = stopped.length ? ` (stopped: ${stopped.join(", ")})` : "";
    throw partsFailed(`failed to stop the lab in ${stateDir}${done}; its state file is kept, so \`down\` can be run again`, errors);
  }
  await removeSecrets(stateDir);
  return { found: state !== undefined || stopped.length > 0, stopped };
}
