// Stops a lab started by `up` (possibly from another process): processes by pid, after checking
// each still runs something of this lab; then any straggler whose command line names the state dir
// (a component spawned in the instant before a killed `up` could record it); kind resources through
// the kind provider; then keys.
import { readdir, readFile } from "node:fs/promises";
import { basename } from "node:path";
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
  // Also without a state file: a `up` killed before it wrote one may have started the stub already.
  for (const p of await strayComponents(stateDir)) {
    if ((await stopPid(p.pid, stateDir)) === "stopped") stopped.push(`${p.name} (pid ${p.pid}, not recorded)`);
  }
  await removeSecrets(stateDir);
  return { found: state !== undefined || stopped.length > 0, stopped };
}

const COMPONENTS = new Set(["etcd", "kube-apiserver", "kube-controller-manager"]);

/**
 * Lab processes whose arguments name a file under `stateDir` (every component's do: etcd's data dir,
 * the apiserver's admission config, the controller-manager's kubeconfig, the stub's config). Linux
 * only (/proc); elsewhere the recorded pids are all there is.
 */
export async function strayComponents(stateDir: string): Promise<{ pid: number; name: string }[]> {
  const prefix = `${stateDir.replace(/\/+$/, "")}/`;
  const pids = (await readdir("/proc").catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
  const found: { pid: number; name: string }[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (!args.some((a) => a.includes(prefix))) continue;
    const name = basename(args[0] ?? "");
    if (COMPONENTS.has(name)) found.push({ pid, name });
    // The detached stub: `node …/imagepolicy-lab.mjs stub serve --config <stateDir>/backend/…`.
    else if (args.includes("stub") && args.includes("serve")) found.push({ pid, name: "stub" });
  }
  // Stop order: controller-manager, apiserver, etcd, then the stub.
  const rank = (n: string) => ["kube-controller-manager", "kube-apiserver", "etcd", "stub"].indexOf(n);
  return found.sort((a, b) => rank(a.name) - rank(b.name));
}
