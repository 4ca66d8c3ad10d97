// `stub set` and `stub journal`: control the stub of a running lab through its control port.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseFault } from "../../../../webhook-stub/src/faults.ts";
import { loadPolicyFile, trustPolicy } from "../../../../webhook-stub/src/policy.ts";
import { labTrustPolicy } from "../../lab/lab-trust.ts";
import { StubClient } from "../../../../webhook-stub/src/stub-client.ts";
import { readLabState, type LabState } from "../../providers/lab-state.ts";
import { ConfigError } from "../../util/errors.ts";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import type { StubPolicy } from "../../../../webhook-stub/src/types.ts";
import { setVapTrust, vapTrust, waitForTrust } from "../../mechanism/mechanism.ts";
import { OPA_GLOBAL_TRUST_DATA, opaTrust } from "../../mechanism/opa-mechanism.ts";
import { waitForOpaBackendTrust } from "../../mechanism/opa-backend.ts";
import { OpaDataClient } from "../../opa/opa-server.ts";
import { TRUST_PARAM_NAME } from "../../mechanism/vap-objects.ts";
import type { CliIO } from "../io.ts";

async function clientFor(stateDir: string): Promise<{ client: StubClient; state: LabState }> {
  const state = await readLabState(stateDir);
  if (!state?.stub) throw new ConfigError([{ file: stateDir, path: "", message: "no running lab with a stub here (start one with `imagepolicy-lab up`)" }]);
  // The lab's own files; a problem with them names the file and the state dir it came from.
  const read = (file: string, what: string) =>
    readFile(file, "utf8").catch((err: Error) => {
      throw new ConfigError([{ file, path: "", message: `cannot read the stub's ${what} (recorded in ${stateDir}): ${err.message}` }], "the lab's stub cannot be reached");
    });
  const client = new StubClient({
    controlUrl: state.stub.controlUrl,
    token: (await read(state.stub.tokenFile, "control token")).trim(),
    caPem: await read(state.stub.caFile, "CA certificate"),
  });
  return { client, state };
}

export async function set(flags: { stateDir: string; policy?: string; trust?: string[]; fault?: string; healthy?: boolean }, io: CliIO): Promise<number> {
  const given = [flags.policy, flags.trust, flags.fault, flags.healthy].filter((x) => x !== undefined).length;
  if (!given) throw new ConfigError([{ file: "command line", path: "", message: "give --policy FILE, --trust REGISTRY, --fault SPEC or --healthy" }]);
  // Every flag is checked before the stub is asked anything: a bad one changes nothing.
  const issues = [];
  if (flags.policy !== undefined && flags.trust?.length) issues.push({ file: "command line", path: "--trust", message: "both --policy and --trust set the policy; give one" });
  if (flags.fault !== undefined && flags.healthy) issues.push({ file: "command line", path: "--healthy", message: "both --fault and --healthy set the fault; give one" });
  if (flags.fault !== undefined && flags.fault.trim() === "") {
    issues.push({ file: "command line", path: "--fault", message: "needs a fault spec (e.g. status:500, delay:2000, hang, first:2:reset); --healthy clears a fault" });
  }
  if (issues.length) throw new ConfigError(issues, "invalid stub set flags");
  if (flags.fault !== undefined) parseFault(flags.fault, "--fault");
  if (flags.trust?.length) trustPolicy(flags.trust);
  const policy = flags.policy !== undefined ? await loadPolicyFile(resolve(io.cwd, flags.policy)) : undefined;
  const stateDir = resolve(io.cwd, flags.stateDir);
  const labState = await readLabState(stateDir);
  if (labState?.mechanism === "vap") return setVapLabTrust(flags, labState, policy, io);
  if (labState?.mechanism === "opa" || labState?.imagePolicyBackend === "opa") return setOpaLabTrust(flags, labState, policy, io);
  const { client, state } = await clientFor(stateDir);
  if (policy) await client.setPolicy(policy);
  if (flags.trust?.length) await client.setPolicy(labTrustPolicy(state.provider, flags.trust));
  if (flags.fault !== undefined) await client.setFault(flags.fault);
  if (flags.healthy) await client.setFault("healthy");
  const s = await client.status();
  io.stdout.write(`stub: fault=${s.fault}; allow registries=[${s.policy.allowRegistries.join(", ")}] repositories=[${s.policy.allowRepositories.join(", ")}]\n`);
  return 0;
}

export async function journal(flags: { stateDir: string; json?: boolean; reset?: boolean; since?: number }, io: CliIO): Promise<number> {
  // The stub runs in an OPA-backed lab (OPA serves with its certificate), but nothing asks it: an empty journal would mislead.
  const labState = await readLabState(resolve(io.cwd, flags.stateDir));
  if (labState?.imagePolicyBackend === "opa") {
    throw new ConfigError([{ file: "command line", path: "stub journal", message: "this lab's ImagePolicyWebhook backend is OPA (up --backend opa), which keeps no journal the lab reads; the stub is not asked" }], "no journal");
  }
  const { client } = await clientFor(resolve(io.cwd, flags.stateDir));
  const snap = await client.journal({ since: flags.since });
  if (flags.json) io.stdout.write(`${JSON.stringify(snap, null, 2)}\n`);
  else {
    for (const e of snap.entries) {
      io.stdout.write(`#${e.seq} ${e.time} ${e.namespace || "-"} [${e.images.join(", ")}] → ${e.outcome}${e.fault ? ` (fault ${e.fault})` : ""} ${e.status} ${e.latencyMs.toFixed(1)}ms${e.reason ? `  ${e.reason}` : ""}\n`);
    }
    const c = snap.counters;
    io.stdout.write(
      `${c.requests} requests: ${c.allowed} allowed, ${c.denied} denied, ${c.faults} faults, ${c.invalid} invalid${c.dropped ? `; ${c.dropped} oldest entries dropped to stay within the journal's limits` : ""}\n`,
    );
  }
  if (flags.reset) await client.resetJournal();
  return 0;
}

/**
 * A VAP lab has no backend to fault; its trust list lives in the cluster, one ConfigMap per namespace.
 * `--trust` (or a policy that is only a trust list) replaces it in every namespace that has one, and
 * returns once the apiserver enforces it there.
 */
async function setVapLabTrust(flags: { policy?: string; trust?: string[]; fault?: string; healthy?: boolean }, state: LabState, filePolicy: StubPolicy | undefined, io: CliIO): Promise<number> {
  if (flags.fault !== undefined || flags.healthy) {
    throw new ConfigError([{ file: "command line", path: flags.fault !== undefined ? "--fault" : "--healthy", message: "this lab's mechanism is vap: the apiserver decides alone, there is no backend to fault" }], "invalid stub set flags");
  }
  const policy = filePolicy ?? trustPolicy(flags.trust ?? []);
  vapTrust(policy, flags.policy ?? "--trust");
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces = (await core.listConfigMapForAllNamespaces({ fieldSelector: `metadata.name=${TRUST_PARAM_NAME}` })).items.map((c) => c.metadata!.namespace!);
  for (const ns of namespaces) {
    const ms = await setVapTrust(core, ns, policy);
    io.stdout.write(`vap: ${ns} trusts registries=[${policy.allowRegistries.join(", ")}] repositories=[${policy.allowRepositories.join(", ")}]${ms ? ` (enforced after ${ms.toFixed(0)} ms)` : ""}\n`);
  }
  return 0;
}

/**
 * An OPA lab's trust list is OPA data: `--trust` (or a policy that is only a trust list) replaces
 * the global list (data.lab.trust) and returns once the apiserver's calls to OPA show it in
 * `default`. Faults are OPA's own (stopped, an undefined decision) and played by scenarios.
 */
async function setOpaLabTrust(flags: { policy?: string; trust?: string[]; fault?: string; healthy?: boolean }, state: LabState, filePolicy: StubPolicy | undefined, io: CliIO): Promise<number> {
  const asBackend = state.mechanism !== "opa";
  if (flags.fault !== undefined || flags.healthy) {
    const who = asBackend ? "this lab's ImagePolicyWebhook backend is OPA (up --backend opa): `stub set` changes OPA's trust list; OPA down (fault refuse) is played by scenarios (setBackend)" : "this lab's mechanism is opa: `stub set` changes OPA's trust list; OPA's faults (refuse, status:404) are played by scenarios (setBackend)";
    throw new ConfigError(
      [{ file: "command line", path: flags.fault !== undefined ? "--fault" : "--healthy", message: who }],
      "invalid stub set flags",
    );
  }
  if (!state.opa) throw new ConfigError([{ file: state.stateDir, path: "", message: "this opa lab recorded no OPA server (started by an older imagepolicy-lab?); restart it with `down` and `up`" }]);
  const policy = filePolicy ?? trustPolicy(flags.trust ?? []);
  const doc = opaTrust(policy, flags.policy ?? "--trust");
  const read = (file: string, what: string) =>
    readFile(file, "utf8").catch((err: Error) => {
      throw new ConfigError([{ file, path: "", message: `cannot read OPA's ${what} (recorded in ${state.stateDir}): ${err.message}` }], "the lab's OPA cannot be reached");
    });
  const client = new OpaDataClient({ url: state.opa.url, token: (await read(state.opa.tokenFile, "token")).trim(), caPem: await read(state.opa.caFile, "CA certificate") });
  // The list in force before, so the wait can tell the new one from it (a hand-written one may not parse).
  const old = (await client.get(OPA_GLOBAL_TRUST_DATA)) as { registries?: unknown; repositories?: unknown } | undefined;
  let before: StubPolicy | undefined;
  try {
    before = old ? trustPolicy([...(old.registries as string[]), ...(old.repositories as string[])]) : undefined;
  } catch {
    before = undefined;
  }
  await client.put(OPA_GLOBAL_TRUST_DATA, doc);
  const shown = `opa: data.lab.trust: registries=[${doc.registries.join(", ")}] repositories=[${doc.repositories.join(", ")}]`;
  if (state.opa.policy) {
    // The user's own policy decides whether it reads the list at all: nothing to wait for.
    io.stdout.write(`${shown} (your policy ${state.opa.policy} decides whether it reads it)\n`);
    return 0;
  }
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  // Through the plugin, probes carry a fresh forwarded annotation so no cached verdict answers them.
  const ms = asBackend ? await waitForOpaBackendTrust(core, "default", policy, before) : await waitForTrust(core, "default", policy, before, { what: "OPA" });
  io.stdout.write(`${shown}${ms ? ` (enforced after ${ms.toFixed(0)} ms)` : ""}\n`);
  // The plugin's verdict cache is the apiserver's: a pod spec it already judged keeps its verdict for allowTTL/denyTTL.
  if (asBackend) {
    // 0 means the plugin's defaults (300 s allow, 30 s deny); -1 turns the cache off.
    const ttl = (v: number, dflt: number) => (v === -1 ? "off" : `${v === 0 ? dflt : v}s`);
    io.stdout.write(`  pod specs ImagePolicyWebhook already judged keep their cached verdict (allow ${ttl(state.profile.allowTTL, 300)}, deny ${ttl(state.profile.denyTTL, 30)})\n`);
  }
  return 0;
}
