import { readdir, readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CATALOG_DIR } from "../scenario/load.ts";
import type { CliIO } from "./io.ts";
import { run } from "./main.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROFILE_TESTDATA = fileURLToPath(new URL("../profile/testdata/", import.meta.url));
const SCENARIO_TESTDATA = fileURLToPath(new URL("../scenario/testdata/", import.meta.url));

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in-process with captured output; colors off so text compares plainly. */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CliIO = { stdout, stderr, env: { NO_COLOR: "1" }, cwd: ROOT };
  const code = await run(argv, io);
  // picocolors reads the real environment once; strip escapes so the tests do not depend on it.
  const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
  return { code, stdout: plain(stdout.text), stderr: plain(stderr.text) };
}

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

  it.each([
    ["valid-profile.yaml", "ok: defaultAllow=false allowTTL=50 denyTTL=50 retryBackoff=500\n"],
    ["valid-admission-configuration-sentinels.yaml", "ok: defaultAllow=false allowTTL=-1 denyTTL=0 retryBackoff=-1\n"],
    ["valid-plugin-path.yaml", "ok: no ImagePolicyWebhook values in this file\n"],
  ])("lint %s exits 0", async (name, stdout) => {
    const r = await cli("lint", `${PROFILE_TESTDATA}${name}`);
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
