// downLab against real (tiny) processes: a component that a killed `up` never recorded is still found
// by the state dir in its arguments and stopped; unrelated processes are left alone.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_PROFILE } from "../profile/profile.ts";
import { writeLabState } from "../providers/lab-state.ts";
import { downLab, strayComponents } from "./down.ts";

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
    await writeLabState(stateDir, { provider: "local", stateDir, k8sVersion: "1.36.1", kubeconfig: "", server: "", profile: DEFAULT_PROFILE, processes: [], createdAt: new Date().toISOString() });
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
