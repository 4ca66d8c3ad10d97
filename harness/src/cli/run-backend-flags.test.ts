// `run --backend-url/--backend-ca/--trust`: every problem is refused with exit 2 before anything
// starts (no provider probe, no lab state), and each message names the flag.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCliInProcess } from "../../test/cli-in-process.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCA } from "../pki/pki.ts";
import { runBackendFlagIssues } from "./backend-flags.ts";


describe("run's backend flags", () => {
  let dir: string;
  let ca: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ipl-run-backend-flags-"));
    ca = join(dir, "ca.crt");
    await writeFile(ca, (await createCA("run-backend-flags test CA")).certPem);
    await writeFile(join(dir, "not-a-ca.crt"), "hello\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const cli = (...argv: string[]) => runCliInProcess(["run", "--provider", "local", ...argv], { cwd: dir });
  const URL_ = "https://127.0.0.1:1/review";

  it.each<[string, string[], string[]]>([
    ["--backend-url alone", ["--backend-url", URL_], ["command line: --backend-ca: --backend-url needs --backend-ca", "command line: --trust: --backend-url needs --trust REGISTRY"]],
    ["--backend-url with vap", ["--backend-url", URL_, "--backend-ca", "ca.crt", "--trust", "r.example", "--mechanism", "vap"], ["command line: --backend-url: the vap mechanism has no backend"]],
    ["--backend-url with all", ["--backend-url", URL_, "--backend-ca", "ca.crt", "--trust", "r.example", "--mechanism", "all"], ["command line: --backend-url: --mechanism all includes vap"]],
    ["plain http", ["--backend-url", "http://127.0.0.1:1/review", "--backend-ca", "ca.crt", "--trust", "r.example"], ['command line: --backend-url: expected an https:// URL such as https://10.0.0.5:8443/review, got "http://127.0.0.1:1/review"']],
    ["--trust *", ["--backend-url", URL_, "--backend-ca", "ca.crt", "--trust", "*"], ['command line: --trust: "*" trusts every image']],
    ["--trust without --backend-url", ["--trust", "r.example"], ["command line: --trust: only meaningful with --backend-url"]],
    ["--backend-ca without --backend-url", ["--backend-ca", "ca.crt"], ["command line: --backend-ca: only meaningful with --backend-url"]],
    ["an unreadable CA", ["--backend-url", URL_, "--backend-ca", "missing.crt", "--trust", "r.example"], ["missing.crt: --backend-ca: cannot read the backend CA: ENOENT"]],
    ["a CA file that is no certificate", ["--backend-url", URL_, "--backend-ca", "not-a-ca.crt", "--trust", "r.example"], ["not-a-ca.crt: --backend-ca: expected a PEM certificate"]],
  ])("%s: exit 2, naming the flag, nothing started", async (_label, argv, messages) => {
    const r = await cli(...argv);
    expect(r.code, r.stderr).toBe(2);
    for (const m of messages) expect(r.stderr).toContain(m);
    expect(r.stderr).not.toContain("unexpected error");
    expect(r.stderr + r.stdout).not.toMatch(/lab state:|provider:/);
  });

  it("valid flags but nothing playable against a foreign backend: exit 2 with each scenario's reason, no lab", async () => {
    const r = await cli("--backend-url", URL_, "--backend-ca", "ca.crt", "--trust", "registry.corp.example", "cache-key", "fail-closed-hang");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("none of the 2 selected scenarios can be played against your backend:");
    expect(r.stderr).toContain("  cache-key: its subject (tag caching) is the plugin's calls to the backend");
    expect(r.stderr).toContain('  fail-closed-hang: needs the stub\'s fault "hang"');
    expect(r.stderr + r.stdout).not.toMatch(/lab state:|provider:/);
  });

  it("collects every problem at once", () => {
    expect(runBackendFlagIssues({ backendUrl: "ftp://x", mechanism: "vap" }).map((i) => i.path)).toEqual(["--backend-url", "--backend-ca", "--trust", "--backend-url"]);
    expect(runBackendFlagIssues({})).toEqual([]);
    expect(runBackendFlagIssues({ backendUrl: URL_, backendCa: "ca.crt", trust: ["r.example"], mechanism: "webhook" })).toEqual([]);
  });
});
