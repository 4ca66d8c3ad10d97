// What a running lab left on disk so a later command (`down`, `stub set`) can find it again:
// providers keep no state in memory between commands.
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AdmissionProfile } from "../profile/profile.ts";
import type { KindLabRecord } from "./kind/kind-teardown.ts";
import type { LocalLabRecord } from "./local/local-teardown.ts";
import type { ProviderName } from "./provider.ts";

export const LAB_STATE_FILE = "lab-state.json";

/**
 * What each provider keeps for itself in the state file (process ids, container ids, cluster and
 * network names), under its own name. Only that provider reads it (its `removeDetached`); the lab
 * facade and the CLI store it without looking inside.
 */
export interface ProviderRecords {
  local?: LocalLabRecord;
  kind?: KindLabRecord;
}

export interface LabState extends ProviderRecords {
  provider: ProviderName;
  stateDir: string;
  k8sVersion: string;
  kubeconfig: string;
  server: string;
  profile: AdmissionProfile;
  /** The stub backend's control endpoint (where it runs is the provider's record). */
  stub?: { controlUrl: string; reviewUrl: string; tokenFile: string; caFile: string };
  createdAt: string;
}

export async function writeLabState(stateDir: string, state: LabState): Promise<void> {
  const path = join(stateDir, LAB_STATE_FILE);
  await writeFile(`${path}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

export async function readLabState(stateDir: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, LAB_STATE_FILE), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

/**
 * Everything a lab writes into its state directory besides `logs/`: keys and certificates (pki/,
 * backend/), kubeconfigs, admission files, etcd data and this state file. Only these are removed,
 * so a state dir given by mistake (`down --state-dir ~`) loses nothing that is not the lab's.
 */
export const LAB_FILES = ["admission", "audit-policy.yaml", "backend", "etcd-data", "kind-config.yaml", "kubeconfig", LAB_STATE_FILE, `${LAB_STATE_FILE}.tmp`, "pki"] as const;

/** Removes keys, certificates, kubeconfigs, admission files and etcd data; keeps logs/ for debugging. */
export async function removeSecrets(stateDir: string): Promise<void> {
  await Promise.all(LAB_FILES.map((e) => rm(join(stateDir, e), { recursive: true, force: true })));
}
