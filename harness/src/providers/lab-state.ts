// What a running lab left on disk so a later command (`down`, `stub set`) can find it again:
// providers keep no state in memory between commands.
import type { MechanismName } from "../mechanism/names.ts";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AdmissionProfile } from "../profile/profile.ts";
import { ConfigError } from "../util/errors.ts";
import type { KindLabRecord } from "./kind/kind-teardown.ts";
import type { LocalLabRecord } from "./local/local-teardown.ts";
import type { ProviderName } from "./provider.ts";

export const LAB_STATE_FILE = "lab-state.json";
/** Created exclusively by the command that starts a lab here (claimStateDir); holds its pid. */
export const LAB_CLAIM_FILE = "lab.claim";

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
  /** The admission mechanism (absent in state files written before mechanisms existed: ImagePolicyWebhook). */
  mechanism?: MechanismName;
  /** The stub backend's control endpoint (where it runs is the provider's record). */
  stub?: { controlUrl: string; reviewUrl: string; tokenFile: string; caFile: string };
  /** The opa mechanism's OPA server: its URL, bearer token file and CA file (where it runs is the provider's record). */
  opa?: { url: string; tokenFile: string; caFile: string; /** The user's Rego file it runs instead of the shipped policy. */ policy?: string };
  /** ImagePolicyWebhook's backend when it is the lab's OPA (`up --backend opa`), not the stub (absent: the stub, or the user's backend). */
  imagePolicyBackend?: "opa";
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
 * backend/), OPA's token and authz policy (opa/), kubeconfigs, admission files, etcd data and this
 * state file. Only these are removed, so a state dir given by mistake (`down --state-dir ~`) loses
 * nothing that is not the lab's.
 */
export const LAB_FILES = ["admission", "audit-policy.yaml", "backend", "etcd-data", "kind-config.yaml", "exercise", "kubeconfig", "manifests", LAB_STATE_FILE, `${LAB_STATE_FILE}.tmp`, LAB_CLAIM_FILE, "opa", "pki"] as const;

/** Removes keys, certificates, kubeconfigs, admission files and etcd data; keeps logs/ for debugging. */
export async function removeSecrets(stateDir: string): Promise<void> {
  await Promise.all(LAB_FILES.map((e) => rm(join(stateDir, e), { recursive: true, force: true })));
}

/** Who holds a state directory: its claim file, and whether the claiming process still runs. */
export async function readClaim(stateDir: string): Promise<{ pid?: number; since?: string; detached?: boolean; alive: boolean } | undefined> {
  try {
    const claim = JSON.parse(await readFile(join(stateDir, LAB_CLAIM_FILE), "utf8")) as { pid?: number; since?: string; detached?: boolean };
    return { ...claim, alive: claim.pid !== undefined && pidAlive(claim.pid) };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Claims `stateDir` for a lab about to start, atomically (an exclusive create), so two commands
 * started at the same moment cannot both use it: the second is refused at once, naming the first.
 * A claim whose process is gone (a finished `up`, a killed `run`) is taken over; the state file check
 * that follows still refuses a directory whose lab is running. Returns the release function.
 */
export async function claimStateDir(stateDir: string, o: { detached?: boolean; now?: () => Date } = {}): Promise<() => Promise<void>> {
  const path = join(stateDir, LAB_CLAIM_FILE);
  const mine = JSON.stringify({ pid: process.pid, since: (o.now ?? (() => new Date()))().toISOString(), ...(o.detached ? { detached: true } : {}) });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, mine, { flag: "wx", mode: 0o600 });
      return async () => {
        // Only our own claim: never remove one a later command made after a takeover.
        if ((await readFile(path, "utf8").catch(() => "")) === mine) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const text = await readFile(path, "utf8").catch(() => "");
    let holder: { pid?: number; since?: string } | undefined;
    try {
      holder = JSON.parse(text) as { pid?: number; since?: string };
    } catch {
      // Empty or half-written: a claimant is writing it right now, unless it died doing so long ago.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0);
      if (age < 5_000) holder = { since: "just now" };
    }
    if (holder && (holder.pid === undefined || pidAlive(holder.pid))) {
      const who = holder.pid === undefined ? "another imagepolicy-lab command" : `another imagepolicy-lab command (pid ${holder.pid}, since ${holder.since ?? "?"})`;
      throw new ConfigError([{ file: path, path: "", message: `${who} is starting or running a lab in this directory; wait for it, stop it, or choose another --state-dir` }], "state directory in use");
    }
    // The claimant is gone: take its claim over.
    await rm(path, { force: true });
  }
  throw new ConfigError([{ file: path, path: "", message: "could not claim this state directory (another command keeps claiming it); choose another --state-dir" }], "state directory in use");
}
