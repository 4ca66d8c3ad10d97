// `up --mechanism webhook|vap` on the local provider, end to end through the CLI: the mechanism
// refuses an untrusted image with its own message, `stub set` changes it live (VAP: the trust list,
// enforced when the command returns; webhook: a fault, failurePolicy Fail answers 500), and flags
// that make no sense for a mechanism are refused before anything starts.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dryRunPod, labKubeConfig, runCli } from "../providers/local/test-support.ts";

describe("up --mechanism", () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const newStateDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "iplab-mech-"));
    dirs.push(dir);
    return join(dir, "lab");
  };

  it("vap: the policy refuses with 403, `stub set --trust` is enforced when it returns, and a fault is refused", async () => {
    const stateDir = await newStateDir();
    const up = await runCli(["up", "--provider", "local", "--mechanism", "vap", "--trust", "trusted.example", "--state-dir", stateDir]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toContain("ValidatingAdmissionPolicy");
      const kc = labKubeConfig(stateDir);
      expect((await dryRunPod(kc, { name: "ok", image: "trusted.example/app:1" })).allowed).toBe(true);
      const refused = await dryRunPod(kc, { name: "evil", image: "evil.example/app:1" });
      expect(refused).toMatchObject({ allowed: false, code: 403 });
      expect(refused.message).toMatch(/ValidatingAdmissionPolicy '[a-z-]+' with binding '[a-z-]+' denied request: untrusted registry for image\(s\): evil\.example\/app:1/);

      const set = await runCli(["stub", "set", "--state-dir", stateDir, "--trust", "evil.example"]);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toMatch(/default trusts registries=\[evil\.example\]/);
      // No sleep: the command returns once the apiserver enforces the new list.
      expect((await dryRunPod(kc, { name: "evil2", image: "evil.example/app:1" })).allowed).toBe(true);
      expect((await dryRunPod(kc, { name: "ok2", image: "trusted.example/app:1" })).allowed).toBe(false);

      const fault = await runCli(["stub", "set", "--state-dir", stateDir, "--fault", "status:500"]);
      expect(fault.code).toBe(2);
      expect(fault.stderr).toContain("this lab's mechanism is vap");
    } finally {
      const down = await runCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
    }
  }, 180_000);

  it("webhook: the stub's /validate refuses, and a failing backend is a 500 under failurePolicy Fail", async () => {
    const stateDir = await newStateDir();
    const up = await runCli(["up", "--provider", "local", "--mechanism", "webhook", "--trust", "trusted.example", "--state-dir", stateDir]);
    try {
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toMatch(/failurePolicy=Fail/);
      const kc = labKubeConfig(stateDir);
      expect((await dryRunPod(kc, { name: "ok", image: "trusted.example/app:1" })).allowed).toBe(true);
      const refused = await dryRunPod(kc, { name: "evil", image: "evil.example/app:1" });
      expect(refused).toMatchObject({ allowed: false, code: 403 });
      expect(refused.message).toMatch(/^admission webhook "images\.imagepolicy-lab\.dev" denied the request: evil\.example\/app:1/);

      expect((await runCli(["stub", "set", "--state-dir", stateDir, "--fault", "status:500"])).code).toBe(0);
      const failed = await dryRunPod(kc, { name: "ok2", image: "trusted.example/app:1" });
      expect(failed).toMatchObject({ allowed: false, code: 500 });
      expect(failed.message).toContain('failed calling webhook "images.imagepolicy-lab.dev"');

      const journal = JSON.parse((await runCli(["stub", "journal", "--state-dir", stateDir, "--json"])).stdout) as { entries: Array<{ review?: string; admission?: { resource: string; dryRun: boolean } }> };
      const last = journal.entries.at(-1)!;
      expect(last).toMatchObject({ review: "AdmissionReview", admission: { resource: "pods", dryRun: true } });
    } finally {
      const down = await runCli(["down", "--state-dir", stateDir]);
      expect(down.code, down.stderr).toBe(0);
    }
  }, 180_000);

  it("refuses an unknown mechanism, and flags meant for ImagePolicyWebhook, before anything starts", async () => {
    const stateDir = await newStateDir();
    const unknown = await runCli(["up", "--provider", "local", "--mechanism", "gatekeeper", "--state-dir", stateDir]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/--mechanism <name>.*gatekeeper.*imagepolicywebhook, webhook, vap/s);
    const mtls = await runCli(["up", "--provider", "local", "--mechanism", "vap", "--mtls", "--state-dir", stateDir]);
    expect(mtls.code).toBe(2);
    expect(mtls.stderr).toContain("--mtls: applies to --mechanism imagepolicywebhook only");
    const run = await runCli(["run", "--provider", "local", "--mechanism", "nope"]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/nope/);
    // Nothing was started: the state dir was never even created.
    expect(await readdir(stateDir).catch(() => "absent")).toBe("absent");
  }, 60_000);
});
