// Stops a lab started by `up` (possibly from another process): processes by pid, after checking
// each still runs something of this lab; kind resources through the kind provider; then keys.
import { readLabState, removeSecrets } from "../providers/lab-state.ts";
import { stopPid } from "../util/managed-process.ts";

export async function downLab(stateDir: string): Promise<{ found: boolean; stopped: string[] }> {
  const state = await readLabState(stateDir);
  const stopped: string[] = [];
  if (state) {
    // Reverse start order: controller-manager, apiserver, etcd; the stub last.
    for (const p of [...state.processes].reverse()) {
      if ((await stopPid(p.pid, stateDir)) === "stopped") stopped.push(`${p.name} (pid ${p.pid})`);
    }
    if (state.kind) {
      const { deleteKindResources } = await import("../providers/kind/kind-provider.ts");
      stopped.push(...(await deleteKindResources(state)));
    }
    if (state.stub?.pid && (await stopPid(state.stub.pid, stateDir)) === "stopped") stopped.push(`stub (pid ${state.stub.pid})`);
  }
  await removeSecrets(stateDir);
  return { found: state !== undefined, stopped };
}
