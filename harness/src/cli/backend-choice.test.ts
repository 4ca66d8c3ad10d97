// `--backend opa` with the flags it cannot go with: refused with exit 2 before anything starts (no
// provider probe, no lab state), each message naming the flags; `backendChoiceIssues` collects them all.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliInProcess } from "../../test/cli-in-process.ts";
import { backendChoiceIssues } from "./backend-flags.ts";

describe("--backend", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ipl-backend-choice-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const URL_ = "https://127.0.0.1:1/review";
  it.each<[string, string[], string[]]>([
    ["run with --mechanism webhook", ["run", "--backend", "opa", "--mechanism", "webhook"], ["command line: --backend: opa with --mechanism webhook: OPA as a backend answers ImagePolicyWebhook's ImageReviews"]],
    ["run with --mechanism vap", ["run", "--backend", "opa", "--mechanism", "vap"], ["command line: --backend: opa with --mechanism vap"]],
    ["run with --mechanism opa", ["run", "--backend", "opa", "--mechanism", "opa"], ["command line: --backend: opa with --mechanism opa: --mechanism opa already runs OPA, as a validating webhook"]],
    ["run with --mechanism all", ["run", "--backend", "opa", "--mechanism", "all"], ["command line: --backend: opa with --mechanism all"]],
    ["run with --backend-url", ["run", "--backend", "opa", "--backend-url", URL_, "--backend-ca", "ca.crt", "--trust", "r.example"], ["command line: --backend-url: --backend opa runs the lab's OPA as the backend, --backend-url names your own: give one"]],
    ["run with --policy my.rego", ["run", "--backend", "opa", "--policy", "my.rego"], ["command line: --policy: --backend opa runs the shipped Rego (policies/opa)"]],
    ["up with --mechanism webhook", ["up", "--state-dir", "lab", "--backend", "opa", "--mechanism", "webhook"], ["command line: --backend: opa with --mechanism webhook"]],
    ["up with --mechanism opa", ["up", "--state-dir", "lab", "--backend", "opa", "--mechanism", "opa"], ["command line: --backend: opa with --mechanism opa"]],
    ["up with --backend-url", ["up", "--state-dir", "lab", "--backend", "opa", "--backend-url", URL_, "--backend-ca", "ca.crt"], ["command line: --backend-url: --backend opa runs the lab's OPA"]],
    ["up with --mtls", ["up", "--state-dir", "lab", "--backend", "opa", "--mtls"], ["command line: --mtls: --backend opa: the lab's OPA is reached over TLS without a client certificate"]],
    ["up with a stub policy", ["up", "--state-dir", "lab", "--backend", "opa", "--policy", "p.yaml"], ["command line: --policy: --backend opa: a stub policy configures the stub"]],
    ["up --backend stub with --mechanism vap", ["up", "--state-dir", "lab", "--backend", "stub", "--mechanism", "vap"], ["command line: --backend: stub: the vap mechanism has no stub backend"]],
  ])("%s: exit 2, naming the flags, nothing started", async (_label, argv, messages) => {
    const r = await runCliInProcess([argv[0]!, "--provider", "local", ...argv.slice(1)], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    for (const m of messages) expect(r.stderr).toContain(m);
    expect(r.stderr).not.toContain("unexpected error");
    expect(r.stderr + r.stdout).not.toMatch(/lab state:|provider:/);
  });

  it("collects every problem at once, and nothing for what goes together", () => {
    expect(backendChoiceIssues({ backend: "opa", mechanism: "webhook", backendUrl: URL_, mtls: true, policy: "x.rego" }).map((i) => i.path)).toEqual(["--backend", "--backend-url", "--mtls", "--policy"]);
    expect(backendChoiceIssues({ backend: "opa" })).toEqual([]);
    expect(backendChoiceIssues({ backend: "opa", mechanism: "imagepolicywebhook" })).toEqual([]);
    expect(backendChoiceIssues({ backend: "stub", mechanism: "webhook" })).toEqual([]);
    expect(backendChoiceIssues({})).toEqual([]);
  });
});
