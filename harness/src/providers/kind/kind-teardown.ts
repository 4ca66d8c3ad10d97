// The one way a kind lab's resources are removed, shared by stop() in the process that started it and
// by `down` from another process that has only the state file, so the two cannot drift apart.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { LabError, partsFailed } from "../../util/errors.ts";
import { silentLogger, type Logger } from "../../util/logger.ts";
import type { LabState } from "../lab-state.ts";
import { commandError, networkContainers, networkCreatedByLab, removeContainer, removeNetwork, tryRun } from "./tools.ts";

/** The kind provider's record in the state file (`state.kind`). */
export interface KindLabRecord {
  /** Written once the cluster is up; absent when `up` died before. */
  clusterName?: string;
  /** The docker network the stub and the nodes share. */
  networkName?: string;
  /** Whether this lab created the network (only then is it removed). */
  networkCreated?: boolean;
  stubContainerId?: string;
  /** The opa mechanism's OPA container. */
  opaContainerId?: string;
}

/**
 * The kind record of a state file. Files written before records were per provider had the same
 * `kind` block but kept the stub's container id in `stub.containerId`; accepting it costs a line.
 */
export function kindRecord(state: LabState): KindLabRecord {
  const legacy = state as LabState & { stub?: { containerId?: string } };
  return { ...state.kind, stubContainerId: state.kind?.stubContainerId ?? legacy.stub?.containerId };
}

export interface KindLabParts {
  /** A cluster `kind create cluster` may have started (nodes may exist). */
  clusterName?: string;
  stubContainerId?: string;
  opaContainerId?: string;
  /** Removed when no container is attached any more and it is ours: `created` by this lab, or labelled as created by another. */
  network?: { name: string; created: boolean };
  /** The lab's state dir: its admission files and kubeconfig go (logs/ stays). */
  stateDir?: string;
}

/**
 * Removes the given parts in order (cluster, OPA and stub containers, network, files), trying every one.
 * Idempotent: a part already gone is fine, and only what existed is reported. `kind` resolves the
 * kind binary (needed only when there is a cluster to delete). Returns one line per removed part;
 * throws an AggregateError naming each part that failed.
 */
export async function removeKindLab(parts: KindLabParts, o: { kind?: () => Promise<string>; logger?: Logger }): Promise<string[]> {
  const logger = o.logger ?? silentLogger;
  const errors: unknown[] = [];
  const removed: string[] = [];
  if (parts.clusterName) {
    const name = parts.clusterName;
    try {
      if (!o.kind) throw new LabError(`cannot delete kind cluster ${name}: no kind binary was given`);
      const kind = await o.kind();
      // `kind delete cluster` succeeds for a cluster that is already gone, so ask first to report honestly.
      const existed = (await tryRun(kind, ["get", "clusters"])).stdout.split("\n").includes(name);
      const r = await tryRun(kind, ["delete", "cluster", "--name", name]);
      if (!r.ok) throw commandError(r, `failed to delete kind cluster ${name}`);
      if (existed) removed.push(`kind cluster ${name}`);
    } catch (err) {
      errors.push(err);
    }
  }
  for (const [what, id] of [["OPA container", parts.opaContainerId], ["stub container", parts.stubContainerId]] as const) {
    if (!id) continue;
    const existed = (await tryRun("docker", ["inspect", "--type=container", id])).ok;
    await removeContainer(id)
      .then(() => existed && removed.push(`${what} ${id.slice(0, 12)}`))
      .catch((e) => errors.push(e));
  }
  // A network this lab created, or one another lab created and left while this one still used it
  // (two labs at once: the creator stopped first and had to leave it): the last lab out removes it.
  if (parts.network && (parts.network.created || (await networkCreatedByLab(parts.network.name)))) {
    const { name } = parts.network;
    const attached = await networkContainers(name);
    if (attached.length) logger.warn(`leaving docker network ${name}: still used by ${attached.join(", ")}`);
    else {
      const existed = (await tryRun("docker", ["network", "inspect", name])).ok;
      await removeNetwork(name)
        .then(() => existed && removed.push(`docker network ${name}`))
        .catch((e) => errors.push(e));
    }
  }
  if (parts.stateDir) {
    for (const file of ["admission", "kubeconfig"]) await rm(join(parts.stateDir, file), { recursive: true, force: true }).catch((e) => errors.push(e));
  }
  if (errors.length) throw partsFailed(`failed to remove the kind lab${parts.clusterName ? ` (cluster ${parts.clusterName})` : ""} cleanly`, errors);
  return removed;
}
