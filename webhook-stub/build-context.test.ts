import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabError } from "../harness/src/util/errors.ts";
import { IMAGE_NODE_PATH, prepareStubImageContext, type StubImageContext } from "./build-context.ts";
import { STUB_NODE_FLAGS, type StubReadyFile, type StubServeConfig } from "./src/main.ts";
import { createTestPki, send } from "./src/test-support.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "stub-context-"));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe("prepareStubImageContext", () => {
  it("online: a Dockerfile and the bundle, built on the default node base", async () => {
    const ctx = await prepareStubImageContext(join(work, "online"), { offline: false });
    expect(ctx.buildArgs).toEqual({});
    expect(ctx.libraries).toEqual([]);
    expect(existsSync(join(ctx.dir, "rootfs", IMAGE_NODE_PATH.slice(1)))).toBe(false);
    const dockerfile = await readFile(ctx.dockerfile, "utf8");
    expect(dockerfile).toMatch(/^ARG BASE=node:24-bookworm-slim$/m);
    // The container's node runs with the same flags as a stub process the harness starts.
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(entrypoint).toEqual([IMAGE_NODE_PATH, ...STUB_NODE_FLAGS, "/app/stub.mjs", "serve"]);
    const bundle = await readFile(ctx.bundle, "utf8");
    expect(bundle).toMatch(/createRequire/);
    expect(bundle).not.toMatch(/from "(zod|yaml|@peculiar\/x509)"/); // dependencies are inside
  });

  it("refuses to empty a directory that is not a context", async () => {
    const d = join(work, "precious");
    await mkdir(d, { recursive: true });
    await writeFile(join(d, "notes.txt"), "keep me");
    await expect(prepareStubImageContext(d, { offline: false })).rejects.toBeInstanceOf(LabError);
    expect(await readFile(join(d, "notes.txt"), "utf8")).toBe("keep me");
  });

  describe("offline", () => {
    let ctx: StubImageContext;
    beforeAll(async () => {
      ctx = await prepareStubImageContext(join(work, "offline"), { offline: true });
    }, 30_000);

    it("carries the Node binary and every library ldd lists, for FROM scratch", async () => {
      expect(ctx.buildArgs).toEqual({ BASE: "scratch" });
      expect((await stat(ctx.nodeBinary!)).mode & 0o111).not.toBe(0);
      expect(ctx.libraries).toEqual(expect.arrayContaining([expect.stringMatching(/\/libc\.so\.6$/), expect.stringMatching(/\/libstdc\+\+\.so\.6$/)]));
      expect(ctx.interpreter).toMatch(/^\/lib.*\/ld-linux/);
      for (const lib of ctx.libraries) expect(existsSync(join(ctx.dir, "rootfs", lib.slice(1))), lib).toBe(true);
    });

    it("the bundled stub runs on the copied Node and libraries and answers /healthz over TLS", async () => {
      const pki = await createTestPki();
      const files = join(work, "run");
      await mkdir(files, { recursive: true });
      await writeFile(join(files, "tls.crt"), pki.server.certPem);
      await writeFile(join(files, "tls.key"), pki.server.keyPem);
      await writeFile(join(files, "token"), "ctx-token\n");
      const config: StubServeConfig = {
        apiVersion: "imagepolicy-lab.dev/v1alpha1",
        kind: "StubServeConfig",
        listen: { host: "127.0.0.1", port: 0 },
        control: { host: "127.0.0.1", port: 0 },
        tls: { certFile: "tls.crt", keyFile: "tls.key" },
        tokenFile: "token",
      };
      await writeFile(join(files, "config.json"), JSON.stringify(config));
      const readyFile = join(files, "ready.json");
      const rootfs = join(ctx.dir, "rootfs");
      // Run through the copied loader with only the copied libraries: what FROM scratch would do.
      const libDirs = [...new Set(ctx.libraries.map((l) => join(rootfs, dirname(l).slice(1))))];
      const child = spawn(
        join(rootfs, ctx.interpreter!.slice(1)),
        ["--library-path", libDirs.join(":"), ctx.nodeBinary!, ctx.bundle, "serve", "--config", join(files, "config.json"), "--ready-file", readyFile],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      try {
        let stderr = "";
        await new Promise<void>((resolve, reject) => {
          child.stderr.on("data", (d: Buffer) => {
            stderr += d.toString();
            if (stderr.includes("serving reviews at")) resolve();
          });
          void exited.then((code) => reject(new Error(`stub exited with ${code} before it was ready:\n${stderr}`)));
        });
        const ready = JSON.parse(await readFile(readyFile, "utf8")) as StubReadyFile;
        expect(ready.pid).toBe(child.pid);
        const health = await send(`${new URL(ready.reviewUrl).origin}/healthz`, { method: "GET", caPem: pki.caPem });
        expect(health).toMatchObject({ status: 200, body: "ok\n" });
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
        expect(existsSync(readyFile)).toBe(false);
      } finally {
        child.kill("SIGKILL");
      }
    });
  });
});
