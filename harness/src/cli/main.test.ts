import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CATALOG_DIR } from "../scenario/load.ts";
import { runCliInProcess } from "../../test/cli-in-process.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROFILE_TESTDATA = fileURLToPath(new URL("../profile/testdata/", import.meta.url));
const SCENARIO_TESTDATA = fileURLToPath(new URL("../scenario/testdata/", import.meta.url));

/** Runs the CLI in-process with captured output; colors off so text compares plainly. */
const cli = (...argv: string[]) => runCliInProcess(argv, { cwd: ROOT });

describe("lint", () => {
  it.each([
    [["--allow-ttl", "3600"], "--allow-ttl", "allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600"],
    [["--deny-ttl", "-2"], "--deny-ttl", "denyTTL must be -1 (off), 0 (default) or 1..1800 seconds, got -2"],
    [["--retry-backoff", "300001"], "--retry-backoff", "retryBackoff must be -1 (off), 0 (default) or 1..300000 milliseconds, got 300001"],
  ])("%j exits 1 naming the flag", async (args, flag, message) => {
    const r = await cli("lint", ...args);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: command line: ${flag}: ${message}\n`);
    expect(r.stdout).toBe("");
  });

  it.each([
    [["--allow-ttl", "abc"], /--allow-ttl expects an integer, got "abc"/],
    [["--allow-ttl", "1.5"], /--allow-ttl expects an integer, got "1.5"/],
    [["--default-allow", "yes"], /--default-allow expects true or false, got "yes"/],
    [["--no-such-flag"], /unknown option '--no-such-flag'/],
  ])("%j is an argument error: exit 2", async (args, message) => {
    const r = await cli("lint", ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("accepts good flags, printing the full profile with defaults filled in", async () => {
    const r = await cli("lint", "--allow-ttl", "-1", "--retry-backoff", "100");
    expect(r).toEqual({ code: 0, stdout: "ok: defaultAllow=false allowTTL=-1 denyTTL=50 retryBackoff=100\n", stderr: "" });
  });

  it("warns but exits 0 for fail-open", async () => {
    const r = await cli("lint", "--default-allow", "true");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("warning: command line: --default-allow: fail-open: while the backend is down or erroring, every image is admitted\n");
  });

  // --no-file-checks: these name files under /etc/kubernetes that a test machine does not have.
  it.each([
    ["valid-profile.yaml", "ok: defaultAllow=false allowTTL=50 denyTTL=50 retryBackoff=500\n"],
    ["valid-admission-configuration-sentinels.yaml", "ok: defaultAllow=false allowTTL=-1 denyTTL=0 retryBackoff=-1\n"],
    ["valid-plugin-path.yaml", "ok: no ImagePolicyWebhook values in this file\n"],
  ])("lint %s exits 0", async (name, stdout) => {
    const r = await cli("lint", "--no-file-checks", `${PROFILE_TESTDATA}${name}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(stdout);
  });

  it("lint of the tutorial mistake exits 1 with file:line: path", async () => {
    const file = `${PROFILE_TESTDATA}invalid-no-image-policy-wrapper.yaml`;
    const r = await cli("lint", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${file.replaceAll(".", "\\.")}:7: plugins\\.0\\.configuration: no imagePolicy key`));
  });
});

describe("scenarios", () => {
  it("check of an invalid file exits 2 and prints file:line: path: message", async () => {
    const file = `${SCENARIO_TESTDATA}invalid-unknown-step-key.yaml`;
    const r = await cli("scenarios", "check", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: ${file}:9: steps.0.expect.backendCall: unknown field "backendCall"\n`);
  });

  it("check of valid files exits 0", async () => {
    const r = await cli("scenarios", "check", `${SCENARIO_TESTDATA}valid-minimal.yaml`, "scenarios/cache-key.yaml");
    expect(r).toEqual({ code: 0, stdout: "ok: 2 scenario file(s) valid\n", stderr: "" });
  });

  it("list names every catalog scenario, one per line, and the count", async () => {
    const files = (await readdir(CATALOG_DIR)).filter((f) => f.endsWith(".yaml")).sort();
    const r = await cli("scenarios", "list");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.slice(0, -1).map((l) => l.split(/\s+/)[0])).toEqual(files.map((f) => f.replace(/\.yaml$/, "")));
    expect(lines.at(-1)).toBe(`${files.length} scenarios in scenarios`);
  });
});

describe("up and stub: input problems stop before anything starts", () => {
  it("an unreadable --backend-ca exits 2 naming the flag and the file, and creates no state dir", async () => {
    const stateDir = `${ROOT}.no-such-lab-${process.pid}`;
    const r = await cli("up", "--provider", "local", "--state-dir", stateDir, "--backend-url", "https://127.0.0.1:1/review", "--backend-ca", "/no/such/ca.crt");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/no/such/ca.crt: --backend-ca: cannot read the backend CA: ENOENT");
    expect(r.stderr).not.toContain("unexpected error");
    await expect(readdir(stateDir)).rejects.toThrow(/ENOENT/);
  });

  it("stub flags with an external backend are refused, naming each flag", async () => {
    const stateDir = `${ROOT}.no-such-lab-${process.pid}`;
    const r = await cli("up", "--provider", "local", "--state-dir", stateDir, "--backend-url", "https://127.0.0.1:1/review", "--backend-ca", "/no/such/ca.crt", "--trust", "a.example", "--mtls");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("command line: --trust: configures the stub, which is not started with --backend-url");
    expect(r.stderr).toContain("command line: --mtls: configures the stub");
    await expect(readdir(stateDir)).rejects.toThrow(/ENOENT/);
  });

  it("--backend-ca without --backend-url is refused", async () => {
    const r = await cli("up", "--provider", "local", "--state-dir", "/no/such/lab", "--backend-ca", "/no/such/ca.crt");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--backend-ca: only meaningful with --backend-url");
  });

  it("stub journal --since takes an integer", async () => {
    const r = await cli("stub", "journal", "--state-dir", "/no/such/lab", "--since", "ten");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--since expects an integer, got "ten"');
  });
});

describe("bad input is refused with exit 2 (lint: 1), naming the file or flag, before anything starts (issue 10)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "cli-bad-input-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const scenarioHead = "apiVersion: imagepolicy-lab.dev/v1alpha1\nkind: Scenario\nname: big\ndescription: d\n";

  it("a scenario file far over the size limit: refused at once, naming the file", async () => {
    const file = join(dir, "huge.yaml");
    await writeFile(file, `${scenarioHead}steps:\n${"  - wait: 1\n".repeat(200_000)}`);
    const t0 = performance.now();
    const r = await cli("scenarios", "check", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: ${file}: the file is ${2_400_000 + scenarioHead.length + 7} bytes; the limit is 262144\n`);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it("a scenario under the size limit but with too many nodes: refused, naming the file", async () => {
    const file = join(dir, "many-nodes.yaml");
    await writeFile(file, `${scenarioHead}steps: [${Array.from({ length: 25_000 }, () => "1").join(",")}]\n`);
    const r = await cli("scenarios", "check", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: ${file.replaceAll(".", "\\.")}: the document has more than 20000 YAML nodes`));
  });

  it("a YAML alias bomb: refused, naming the file and line, not an unexpected error", async () => {
    const file = join(dir, "bomb.yaml");
    const lines = [scenarioHead.trimEnd(), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(", ")}]`);
    await writeFile(file, `${lines.join("\n")}\n`);
    const r = await cli("scenarios", "check", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: ${file.replaceAll(".", "\\.")}:6: aliases expand too far`));
    expect(r.stderr).not.toContain("unexpected error");
  });

  it("bytes that are not UTF-8 in a description: refused, naming file and line", async () => {
    const file = join(dir, "latin1.yaml");
    await writeFile(file, Buffer.from(`${scenarioHead.replace("description: d", "description: caf\xe9")}steps:\n  - wait: 1\n`, "latin1"));
    const r = await cli("scenarios", "check", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: ${file.replaceAll(".", "\\.")}:4: not valid UTF-8: byte 0xe9`));
  });

  it("up --k8s-version 9.9.9: refused before the stub or any provider starts, and no state dir is made", async () => {
    const stateDir = join(dir, "lab-version");
    const t0 = performance.now();
    const r = await cli("up", "--provider", "local", "--state-dir", stateDir, "--k8s-version", "9.9.9");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--k8s-version: unsupported Kubernetes version "9.9.9": expected one of');
    expect(r.stderr).not.toContain("provider:");
    expect(performance.now() - t0).toBeLessThan(3_000);
    await expect(readdir(stateDir)).rejects.toThrow(/ENOENT/);
  });

  it("run --k8s-version 9.9.9 and an unwritable --report-dir: refused before the lab starts", async () => {
    const v = await cli("run", "--provider", "local", "--k8s-version", "9.9.9", "cache-key");
    expect(v.code).toBe(2);
    expect(v.stderr).toContain("--k8s-version: unsupported Kubernetes version");
    await writeFile(join(dir, "a-file"), "");
    const r = await cli("run", "--provider", "local", "--report-dir", join(dir, "a-file", "reports"), "cache-key");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dir, "a-file", "reports")}: --report-dir: is not a directory (at ${join(dir, "a-file")})`);
    expect(r.stderr).not.toContain("provider:");
  });

  it.each([
    // Where mkdir answers ENOENT for ever (Node's recursive mkdir looped there, so `up` hung).
    ["/proc/imagepolicy-lab-test/lab", "cannot create the directory: ENOENT"],
    // Under a regular file.
    ["a-file/lab", "is not a directory"],
  ])("up --state-dir %s: refused at once, naming the flag, not an unexpected error", async (path, message) => {
    await writeFile(join(dir, "a-file"), "");
    const stateDir = path.startsWith("/") ? path : join(dir, path);
    const t0 = performance.now();
    const r = await cli("up", "--provider", "local", "--state-dir", stateDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${stateDir}: --state-dir: ${message}`);
    expect(r.stderr).not.toContain("unexpected error");
    expect(performance.now() - t0).toBeLessThan(3_000);
  });

  it.each([
    [["--fault", ""], "command line: --fault: needs a fault spec"],
    [["--fault", "   "], "command line: --fault: needs a fault spec"],
    [["--fault", "explode"], '--fault: unknown fault "explode"'],
    [["--fault", "hang", "--healthy"], "command line: --healthy: both --fault and --healthy set the fault"],
    [["--trust", "a.io/b:1"], "--trust"],
  ])("stub set %j: exit 2 before the stub is asked (there is none here)", async (args, message) => {
    const r = await cli("stub", "set", "--state-dir", join(dir, "no-lab"), ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain("no running lab");
  });

  it("lint: an absolute kubeConfigFile that does not exist is an error naming file, line and field (exit 1, as for every lint finding)", async () => {
    const file = join(dir, "admission.yaml");
    await writeFile(file, "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  configuration:\n    imagePolicy:\n      kubeConfigFile: /no/such/imagepolicy.kubeconfig\n      allowTTL: 50\n");
    const r = await cli("lint", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: ${file}:7: plugins.0.configuration.imagePolicy.kubeConfigFile: /no/such/imagepolicy.kubeconfig: no such file (ENOENT): the apiserver fails at startup (lint with --no-file-checks if the file is meant for another machine)\n`,
    );
    expect((await cli("lint", "--no-file-checks", file)).code).toBe(0);
  });
});

describe("kind-config", () => {
  it("prints exactly kind-configs/imagepolicy-webhook.yaml", async () => {
    const r = await cli("kind-config");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(await readFile(`${ROOT}kind-configs/imagepolicy-webhook.yaml`, "utf8"));
  });
});

describe("help and version", () => {
  it("--help exits 0 and lists the commands", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(0);
    for (const c of ["up", "down", "lint", "run", "scenarios", "stub", "kind-config", "binaries"]) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, "m"));
  });

  it("a command's --help exits 0", async () => {
    const r = await cli("lint", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--allow-ttl <seconds>");
  });

  it("--version prints package.json's version", async () => {
    const { version } = JSON.parse(await readFile(`${ROOT}package.json`, "utf8")) as { version: string };
    const r = await cli("--version");
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("an unknown command exits 2", async () => {
    const r = await cli("frobnicate");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
