// Two labs on one docker network, against a real Docker engine (no cluster): the first lab creates the
// network, the second joins it; the creator stops first and must leave the network to the other, and
// the last lab out removes it, although it did not create it (seen on a shared machine: the `kind`
// network outlived both labs and failed CI's leftover check).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dockerGate } from "../../../test/docker-gate.ts";
import { CleanupRegistry } from "../../util/cleanup.ts";
import { KindProvider } from "./kind-provider.ts";
import { networkCreatedByLab, removeNetwork, tryRun } from "./tools.ts";

const gate = await dockerGate();
if (!gate.on) console.warn(`network-lease.e2e: skipping: ${gate.why}`);

const NETWORK = `iplab-lease-test-${process.pid}`;
const networkExists = async () => (await tryRun("docker", ["network", "inspect", NETWORK])).ok;

describe.skipIf(!gate.on)("a docker network shared by two labs", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await removeNetwork(NETWORK).catch(() => {});
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("outlives the lab that created it while another uses it, and goes with the last one", async () => {
    const env = { ...process.env, KIND_EXPERIMENTAL_DOCKER_NETWORK: NETWORK };
    const lab = async () => {
      const dir = await mkdtemp(join(tmpdir(), "iplab-lease-"));
      dirs.push(dir);
      return new KindProvider({ env, cleanup: new CleanupRegistry() }).startBackend({ stateDir: dir });
    };
    const first = await lab();
    expect(await networkCreatedByLab(NETWORK), "created with the lab's label").toBe(true);
    const second = await lab();
    await first.stop();
    expect(await networkExists(), "the second lab's stub still uses it").toBe(true);
    await second.stop();
    expect(await networkExists(), "the last lab out removed it").toBe(false);
  }, 180_000);
});
