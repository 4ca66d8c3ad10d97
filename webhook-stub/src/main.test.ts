import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { loadServeConfig, parseServeArgs, serveMain, type StubReadyFile, type StubServeConfig } from "./main.ts";
import { DEFAULT_STUB_LIMITS } from "./server.ts";
import { StubClient } from "./stub-client.ts";
import { createTestPki, reviewBody, send, type TestPki } from "./test-support.ts";

let dir: string;
let pki: TestPki;
const base = (): StubServeConfig => ({
  apiVersion: "imagepolicy-lab.dev/v1alpha1",
  kind: "StubServeConfig",
  listen: { port: 0 },
  control: { port: 0 },
  tls: { certFile: "tls.crt", keyFile: "tls.key" },
  tokenFile: "token",
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stub-main-"));
  pki = await createTestPki();
  await writeFile(join(dir, "tls.crt"), pki.server.certPem);
  await writeFile(join(dir, "tls.key"), pki.server.keyPem);
  await writeFile(join(dir, "ca.crt"), pki.caPem);
  await writeFile(join(dir, "token"), "main-token\n");
  await writeFile(join(dir, "policy.yaml"), "apiVersion: imagepolicy-lab.dev/v1alpha1\nkind: StubPolicy\nallow:\n  registries: [trusted.example]\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function writeConfig(name: string, config: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

function sink() {
  const s = new PassThrough();
  let text = "";
  s.on("data", (d: Buffer) => (text += d.toString()));
  return { stream: s, text: () => text };
}

describe("parseServeArgs", () => {
  it.each([
    [["serve", "--config", "c.json"], { config: "c.json", verbose: false }],
    [["--config=c.json", "--ready-file", "r.json", "-v"], { config: "c.json", readyFile: "r.json", verbose: true }],
    [["--help"], { help: true }],
    [[], { error: "--config is required" }],
    [["--config"], { error: "--config needs a value" }],
    [["--config", "c", "--bogus"], { error: 'unknown argument "--bogus"' }],
  ])("%j", (argv, expected) => {
    expect(parseServeArgs(argv)).toEqual(expected);
  });
});

describe("loadServeConfig", () => {
  it("resolves files against the config's directory and loads the policy", async () => {
    const file = await writeConfig("ok.json", { ...base(), tls: { certFile: "tls.crt", keyFile: "tls.key", clientCAFile: "ca.crt" }, policyFile: "policy.yaml", fault: "delay:5" });
    const o = await loadServeConfig(file);
    expect(o).toMatchObject({ host: "127.0.0.1", port: 0, path: "/review", controlToken: "main-token", fault: "delay:5", limits: DEFAULT_STUB_LIMITS });
    expect(o.tls.clientCaPem).toBe(pki.caPem);
    expect(o.policy?.allowRegistries).toEqual(["trusted.example"]);
  });

  it("names file, line and field for schema errors and unreadable files", async () => {
    const file = await writeConfig("bad.json", { ...base(), listen: { port: 70_000, hots: "x" } });
    const err = await loadServeConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => [i.path, i.line])).toEqual(
      expect.arrayContaining([
        ["listen.port", 5],
        ["listen.hots", 6],
      ]),
    );
    const missing = await writeConfig("missing.json", { ...base(), tokenFile: "nope" });
    const err2 = (await loadServeConfig(missing).catch((e: unknown) => e)) as ConfigError;
    expect(err2.issues[0]).toMatchObject({ path: "tokenFile", line: 14, message: expect.stringMatching(/cannot read .*nope/) });
  });
});

describe("loadServeConfig limits", () => {
  it("takes the limits given and defaults the rest", async () => {
    const file = await writeConfig("limits.json", { ...base(), limits: { maxImagesPerReview: 50, requestTimeoutMs: 20_000 } });
    expect((await loadServeConfig(file)).limits).toEqual({ ...DEFAULT_STUB_LIMITS, maxImagesPerReview: 50, requestTimeoutMs: 20_000 });
  });

  it("refuses unknown keys and inconsistent limits, naming file, line and field", async () => {
    const file = await writeConfig("bad-limits.json", { ...base(), limits: { maxImages: 5 } });
    const err = (await loadServeConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues.map((i) => [i.path, i.line])).toEqual([["limits.maxImages", 16]]);
    const file2 = await writeConfig("bad-limits2.json", { ...base(), limits: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000, maxPendingBodyBytes: 10 } });
    const err2 = (await loadServeConfig(file2).catch((e: unknown) => e)) as ConfigError;
    expect(err2.issues.map((i) => [i.file, i.path])).toEqual([
      [file2, "limits.headersTimeoutMs"],
      [file2, "limits.maxPendingBodyBytes"],
    ]);
  });
});

describe("serveMain", () => {
  it("serves until aborted, with a ready file, then exits 0 and removes it", async () => {
    const file = await writeConfig("serve.json", { ...base(), policyFile: "policy.yaml" });
    const readyFile = join(dir, "ready.json");
    const stderr = sink();
    const abort = new AbortController();
    const ready = new Promise<void>((resolve) => stderr.stream.on("data", () => stderr.text().includes("serving reviews") && resolve()));
    const done = serveMain(["serve", "--config", file, "--ready-file", readyFile], { stderr: stderr.stream, signal: abort.signal });
    await ready;
    const r = JSON.parse(await readFile(readyFile, "utf8")) as StubReadyFile;
    expect(r.pid).toBe(process.pid);
    const review = await send(r.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/a:1"]) });
    expect(JSON.parse(review.body).status.allowed).toBe(true);
    const status = await new StubClient({ controlUrl: r.controlUrl, token: "main-token", caPem: pki.caPem }).status();
    expect(status.lastSeq).toBe(1);
    abort.abort();
    expect(await done).toBe(0);
    await expect(readFile(readyFile)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("exits 2 with the problem for bad arguments and bad config", async () => {
    const e1 = sink();
    expect(await serveMain(["--nope"], { stderr: e1.stream })).toBe(2);
    expect(e1.text()).toMatch(/unknown argument "--nope"[\s\S]*usage: serve/);
    const file = await writeConfig("badfault.json", { ...base(), fault: "explode" });
    const e2 = sink();
    expect(await serveMain(["--config", file], { stderr: e2.stream })).toBe(2);
    expect(e2.text()).toMatch(/failed to start: invalid fault "explode"/);
  });
});
