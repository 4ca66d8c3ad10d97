import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureWritableDir } from "./dirs.ts";
import { ConfigError } from "./errors.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dirs-test-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const refusal = (p: Promise<unknown>) => p.then(() => expect.fail("expected a refusal"), (e: unknown) => e as ConfigError);

describe("ensureWritableDir", () => {
  it("creates missing parents with the mode asked, and accepts an existing directory", async () => {
    const target = join(dir, "a", "b", "c");
    expect(await ensureWritableDir(target, "--state-dir")).toBe(target);
    expect((await stat(join(dir, "a"))).mode & 0o777).toBe(0o700);
    expect(await ensureWritableDir(target, "--state-dir")).toBe(target);
  });

  it("names the flag and the path, and which part is in the way", async () => {
    await writeFile(join(dir, "file"), "");
    const err = await refusal(ensureWritableDir(join(dir, "file", "lab"), "--report-dir"));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues).toEqual([{ file: join(dir, "file", "lab"), path: "--report-dir", message: `is not a directory (at ${join(dir, "file")})` }]);
  });

  it.skipIf(process.platform !== "linux")("fails, instead of looping, where mkdir keeps answering ENOENT (/proc)", async () => {
    const t0 = performance.now();
    const err = await refusal(ensureWritableDir("/proc/imagepolicy-lab-dirs-test/lab", "--state-dir"));
    expect(err.issues[0]).toMatchObject({ path: "--state-dir", message: expect.stringMatching(/^cannot create the directory: ENOENT/) });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
