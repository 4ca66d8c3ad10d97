// A running exercise lab as the scenario runner sees it, rebuilt from its state file: `exercise check`
// runs in a new process, while the lab (started detached by `exercise start`) keeps running.
import { KubeConfig } from "@kubernetes/client-node";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { StubClient } from "../../../webhook-stub/src/stub-client.ts";
import type { StubControl } from "../../../webhook-stub/src/types.ts";
import type { StartedLab } from "../lab/lab.ts";
import type { StartedMechanism } from "../mechanism/mechanism.ts";
import { readLabState, type LabState } from "../providers/lab-state.ts";
import { componentLogs, controlPlaneNode } from "../providers/kind/kind-node.ts";
import { KindProvider } from "../providers/kind/kind-provider.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import type { StartedCluster } from "../providers/provider.ts";
import { ConfigError } from "../util/errors.ts";
import { tailFile } from "../util/managed-process.ts";

export async function readExerciseLabState(stateDir: string): Promise<LabState & { stub: NonNullable<LabState["stub"]> }> {
  const state = await readLabState(stateDir);
  if (!state?.stub) throw new ConfigError([{ file: stateDir, path: "", message: "no exercise lab runs here (start one with `imagepolicy-lab exercise start NAME --state-dir DIR`)" }], "no exercise lab");
  return state as LabState & { stub: NonNullable<LabState["stub"]> };
}

export async function stubClient(state: LabState & { stub: NonNullable<LabState["stub"]> }): Promise<StubClient> {
  return new StubClient({ controlUrl: state.stub.controlUrl, token: (await readFile(state.stub.tokenFile, "utf8")).trim(), caPem: await readFile(state.stub.caFile, "utf8") });
}

/**
 * The stub as checks may use it: they read its journal, but never change the trainee's policy or
 * fault (the runner would otherwise install the default policy for each check and reset it after).
 */
function observeOnly(stub: StubControl): StubControl {
  return {
    setPolicy: async () => {},
    setFault: async () => {},
    setScope: async () => {},
    resetJournal: async () => {},
    status: () => stub.status(),
    journal: (q) => stub.journal(q),
  };
}

/** A StartedLab over a running exercise lab: checks play on it; it never restarts or stops anything. */
export async function attachExerciseLab(stateDir: string): Promise<StartedLab> {
  const state = await readExerciseLabState(stateDir);
  const stub = observeOnly(await stubClient(state));
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  // The trainee's files decide the apiserver's profile; the checks never switch it.
  const noSwitch = async () => ({ elapsedMs: 0 });
  // kind: logs (the audit log above all, for checks on audit annotations) are read in the node.
  const node = state.provider === "kind" && state.kind?.clusterName ? controlPlaneNode(state.kind.clusterName) : undefined;
  const cluster: StartedCluster = {
    provider: node ? "kind" : "local",
    stateDir,
    kubeconfigPath: state.kubeconfig,
    profile: state.profile,
    applyProfile: noSwitch,
    capabilities: { auditLog: true, controllers: true },
    logs: (component, tailLines = 200) =>
      node ? componentLogs(node, component, tailLines) : tailFile(component === "audit" ? join(stateDir, "logs", "audit.log") : join(stateDir, "logs", `${component}.log`), tailLines),
    stop: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  const mechanism: StartedMechanism = { name: "imagepolicywebhook", profile: state.profile, applyProfile: noSwitch, setNamespacePolicy: async () => {} };
  return {
    provider: node ? new KindProvider() : new LocalProvider(),
    stateDir,
    kubeconfigPath: state.kubeconfig,
    cluster,
    stub,
    profile: state.profile,
    k8sVersion: state.k8sVersion,
    mechanism,
    kubeConfig: () => kc,
    applyProfile: noSwitch,
    stop: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
}
