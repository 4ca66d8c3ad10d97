import { mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../util/errors.ts";
import { claimStateDir, LAB_CLAIM_FILE } from "./lab-state.ts";

describe("claimStateDir", () => {
  const dirs: string[] = [];
  const dir = async () => {
    const d = await mkdtemp(join(tmpdir(), "iplab-claim-"));
    dirs.push(d);
    return d;
  };
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("of two claims made at once, exactly one wins and the other names the holder", async () => {
    const d = await dir();
    const results = await Promise.allSettled([claimStateDir(d), claimStateDir(d)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(ConfigError);
    expect(String(lost.reason.message + JSON.stringify(lost.reason.issues))).toMatch(new RegExp(`pid ${process.pid}`));
  });

  it("a released claim can be taken again; release removes only our own claim", async () => {
    const d = await dir();
    const release = await claimStateDir(d);
    await release();
    const again = await claimStateDir(d);
    await writeFile(join(d, LAB_CLAIM_FILE), JSON.stringify({ pid: process.pid, since: "someone else" }));
    await again();
    expect(await readFile(join(d, LAB_CLAIM_FILE), "utf8")).toContain("someone else");
  });

  it("takes over the claim of a process that is gone, and of an empty file left long ago", async () => {
    const d = await dir();
    // A pid far above pid_max is never alive.
    await writeFile(join(d, LAB_CLAIM_FILE), JSON.stringify({ pid: 2 ** 30, since: "yesterday" }));
    await (await claimStateDir(d))();
    await writeFile(join(d, LAB_CLAIM_FILE), "");
    await utimes(join(d, LAB_CLAIM_FILE), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    await (await claimStateDir(d))();
  });

  it("refuses an empty claim written just now (its writer is still writing)", async () => {
    const d = await dir();
    await writeFile(join(d, LAB_CLAIM_FILE), "");
    await expect(claimStateDir(d)).rejects.toBeInstanceOf(ConfigError);
  });
});
