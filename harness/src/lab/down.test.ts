// downLab against real (tiny) processes: a component that a killed `up` never recorded is still found
// by the state dir in its arguments and stopped; unrelated processes are left alone. And with fake
// providers: `down` asks the one its state file names (every one without a state file), nothing else.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_PROFILE } from "../profile/profile.ts";
import { existsSync } from "node:fs";
import { LAB_CLAIM_FILE, LAB_STATE_FILE, writeLabState, type LabState } from "../providers/lab-state.ts";
import { strayComponents } from "../providers/local/local-teardown.ts";
import type { ClusterProvider, ProviderName, RemoveDetachedOptions } from "../providers/provider.ts";
import { downLab } from "./down.ts";

const children: ChildProcess[] = [];
const dirs: string[] = [];

/** A process that looks like a lab component: argv[0] is `name`, one argument names `path`. */
function fakeComponent(name: string, path: string): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", "--", `--data-dir=${path}`], { argv0: name, stdio: "ignore" });
  children.push(child);
  return child;
}

const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("downLab", () => {
  it("stops an unrecorded component of this lab, and nothing of another lab", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    const otherDir = `${stateDir}-other`;
    dirs.push(stateDir, otherDir);
    await mkdir(otherDir);
    await writeLabState(stateDir, { provider: "local", stateDir, k8sVersion: "1.36.1", kubeconfig: "", server: "", profile: DEFAULT_PROFILE, createdAt: new Date().toISOString() });
    const ours = fakeComponent("etcd", join(stateDir, "etcd-data"));
    const theirs = fakeComponent("etcd", join(otherDir, "etcd-data"));
    // Wait until both show their arguments in /proc.
    for (let i = 0; i < 100 && (await strayComponents(stateDir)).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await strayComponents(stateDir)).map((p) => p.pid)).toEqual([ours.pid]);

    const result = await downLab(stateDir);
    await exited(ours);
    expect(result.stopped).toEqual([`etcd (pid ${ours.pid}, not recorded)`]);
    expect(ours.signalCode).toBe("SIGTERM");
    expect(theirs.exitCode === null && theirs.signalCode === null, "the other lab's process still runs").toBe(true);
  });
});

describe("downLab asks the providers", () => {
  /** A provider whose removeDetached only records what it was asked. */
  const fake = (name: ProviderName, asked: { name: string; state?: LabState }[], answer: () => Promise<string[]>): ClusterProvider =>
    ({
      name,
      removeDetached: async (o: RemoveDetachedOptions) => {
        asked.push({ name, state: o.state });
        return answer();
      },
    }) as unknown as ClusterProvider;

  const labState = (stateDir: string, provider: ProviderName): LabState => ({ provider, stateDir, k8sVersion: "1.36.1", kubeconfig: "", server: "", profile: DEFAULT_PROFILE, createdAt: "now" });

  it("only the provider its state file names, with that state; then the state file goes", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    dirs.push(stateDir);
    await writeLabState(stateDir, labState(stateDir, "kind"));
    const asked: { name: string; state?: LabState }[] = [];
    const make = { kind: () => fake("kind", asked, async () => ["kind cluster iplab-1"]), local: () => fake("local", asked, async () => ["unexpected"]) };
    expect(await downLab(stateDir, { providers: { make } })).toEqual({ found: true, stopped: ["kind cluster iplab-1"] });
    expect(asked).toEqual([{ name: "kind", state: expect.objectContaining({ provider: "kind" }) }]);
    expect(existsSync(join(stateDir, LAB_STATE_FILE))).toBe(false);
  });

  it("a directory with neither state file nor claim was never a lab's: no provider is asked", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    dirs.push(stateDir);
    const asked: { name: string; state?: LabState }[] = [];
    const make = { kind: () => fake("kind", asked, async () => []), local: () => fake("local", asked, async () => ["etcd (pid 1, not recorded)"]) };
    expect(await downLab(stateDir, { providers: { make } })).toEqual({ found: false, stopped: [] });
    expect(asked).toEqual([]);
  });

  it("without a state file but with a claim (an `up` killed before it wrote its state), every provider, each told there is none", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    dirs.push(stateDir);
    await writeFile(join(stateDir, LAB_CLAIM_FILE), JSON.stringify({ pid: 2 ** 30, since: "then" }));
    const asked: { name: string; state?: LabState }[] = [];
    const make = { kind: () => fake("kind", asked, async () => []), local: () => fake("local", asked, async () => ["stub (pid 1, not recorded)"]) };
    expect(await downLab(stateDir, { providers: { make } })).toEqual({ found: true, stopped: ["stub (pid 1, not recorded)"] });
    expect(asked.map((a) => a.name).sort()).toEqual(["kind", "local"]);
    expect(asked.every((a) => a.state === undefined)).toBe(true);
  });

  it("a provider that fails: the error names it, and the state file stays for another `down`", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    dirs.push(stateDir);
    await writeLabState(stateDir, labState(stateDir, "kind"));
    const make = { kind: () => fake("kind", [], async () => Promise.reject(new Error("failed to delete kind cluster iplab-1"))) };
    await expect(downLab(stateDir, { providers: { make } })).rejects.toThrow(/failed to stop the lab in .*failed to delete kind cluster iplab-1/);
    expect(existsSync(join(stateDir, LAB_STATE_FILE))).toBe(true);
  });

  it("a state file of the previous version (pids in `processes` and `stub.pid`) still stops those processes", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "ipl-down-"));
    dirs.push(stateDir);
    const etcd = fakeComponent("etcd", join(stateDir, "etcd-data"));
    const stub = fakeComponent("node", join(stateDir, "backend", "serve.json"));
    const old = { ...labState(stateDir, "local"), processes: [{ name: "etcd", pid: etcd.pid! }], stub: { controlUrl: "", reviewUrl: "", tokenFile: "", caFile: "", pid: stub.pid! } };
    await writeLabState(stateDir, old as LabState);
    // Wait until both show their arguments in /proc (stopPid checks them).
    const shows = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).includes(stateDir);
    for (let i = 0; i < 100 && !((await shows(etcd.pid!)) && (await shows(stub.pid!))); i++) await new Promise((r) => setTimeout(r, 20));
    const result = await downLab(stateDir);
    await Promise.all([exited(etcd), exited(stub)]);
    expect(result.stopped).toEqual([`etcd (pid ${etcd.pid})`, `stub (pid ${stub.pid})`]);
  });
});
