// ensureOpa's lookup order and refusals, with fake `opa` and `go` programs (small shell scripts) in
// temp dirs and a temp cache: nothing here builds OPA. The real binary is exercised by policy.test.ts.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireLock } from "../binaries/lock.ts";
import { LabError } from "../util/errors.ts";
import { ensureOpa, findOpa, OPA_ENV, OPA_VERSION, opaCacheDir, opaInstallCommand, parseOpaVersion } from "./opa-binary.ts";

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "iplab-opa-binary-"));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fake `opa` that answers `opa version` like the real one, for `version`. */
async function fakeOpa(dir: string, version: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, "opa");
  await writeFile(path, `#!/bin/sh\n[ "$1" = version ] || exit 3\nprintf 'Version: ${version}\\nBuild Commit: \\nGo Version: go1.26.8\\nRego Version: v1\\n'\n`);
  await chmod(path, 0o755);
  return path;
}

/** A fake `go` that knows only `go env GOVERSION`; any build attempt fails loudly. */
async function fakeGo(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "go"), '#!/bin/sh\nif [ "$1" = env ]; then echo go1.26.8; exit 0; fi\necho "fake go: no builds in unit tests ($*)" >&2\nexit 9\n');
  await chmod(join(dir, "go"), 0o755);
}

const V = OPA_VERSION.slice(1);

describe("parseOpaVersion", () => {
  it("reads the Version line", () => {
    expect(parseOpaVersion("Version: 1.22.3\nBuild Commit: \n")).toBe("1.22.3");
    expect(parseOpaVersion("Version: v1.22.3-dev\n")).toBe("1.22.3-dev");
    expect(parseOpaVersion("opa 1.22.3")).toBeUndefined();
  });
});

describe("findOpa / ensureOpa", () => {
  it("uses IMAGEPOLICY_LAB_OPA alone when set, and reports a wrong release instead of using it", async () => {
    const wrong = await fakeOpa(join(work, "wrong"), "1.21.0");
    const r = await findOpa({ IMAGEPOLICY_LAB_OPA: wrong, PATH: "", IMAGEPOLICY_LAB_CACHE: work });
    expect(r).toEqual({ searched: [wrong], problem: `${wrong} is OPA 1.21.0, not ${V}` });
    // A wrong explicit path is the user's to fix: no build is tried (the fake go would fail it).
    await fakeGo(join(work, "go"));
    const err = await ensureOpa({ env: { IMAGEPOLICY_LAB_OPA: wrong, PATH: join(work, "go"), IMAGEPOLICY_LAB_CACHE: work } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as Error).message).toMatch(/unset IMAGEPOLICY_LAB_OPA/);
    const missing = await findOpa({ IMAGEPOLICY_LAB_OPA: join(work, "nope"), PATH: "" });
    expect(missing.path === undefined && missing.problem).toMatch(/IMAGEPOLICY_LAB_OPA\) does not exist/);
  });

  it("takes opa from PATH when it is the pinned release, else from the cache", async () => {
    const good = await fakeOpa(join(work, "path-good"), V);
    await fakeOpa(join(work, "path-old"), "0.70.0");
    expect(await ensureOpa({ env: { PATH: [join(work, "path-old"), join(work, "path-good")].join(":"), IMAGEPOLICY_LAB_CACHE: work } })).toBe(good);
    const cached = await fakeOpa(opaCacheDir({ IMAGEPOLICY_LAB_CACHE: work }), V);
    expect(cached).toBe(join(work, "tools", `opa-${OPA_VERSION}`, "opa"));
    expect(await ensureOpa({ env: { PATH: join(work, "path-old"), IMAGEPOLICY_LAB_CACHE: work } })).toBe(cached);
  });

  it("refuses to build under IMAGEPOLICY_LAB_NO_BUILD, and without go, saying how to get opa", async () => {
    const env = { PATH: join(work, "empty"), IMAGEPOLICY_LAB_CACHE: work };
    const noBuild = await ensureOpa({ env: { ...env, IMAGEPOLICY_LAB_NO_BUILD: "1" } }).catch((e: Error) => e.message);
    expect(noBuild).toContain("cannot be built: IMAGEPOLICY_LAB_NO_BUILD is set");
    expect(noBuild).toContain(opaInstallCommand(env));
    const noGo = await ensureOpa({ env }).catch((e: Error) => e.message);
    expect(noGo).toMatch(/cannot be built: go not found on PATH \(OPA v1\.22\.3 needs Go 1\.25 or later\)/);
  });

  it("waits for another process's build under the lock and uses its result instead of building again", async () => {
    await fakeGo(join(work, "go"));
    const env = { PATH: join(work, "go"), IMAGEPOLICY_LAB_CACHE: work };
    const held = await acquireLock(`${opaCacheDir(env)}.lock`, { purpose: "a test holding the build" });
    const waiting = ensureOpa({ env });
    await new Promise((r) => setTimeout(r, 300));
    const built = await fakeOpa(opaCacheDir(env), V);
    await held.release();
    expect(await waiting).toBe(built);
  });

  it("a failed build says so with go's output (and the fake go proves a build was tried)", async () => {
    await fakeGo(join(work, "go"));
    const err = await ensureOpa({ env: { PATH: join(work, "go"), IMAGEPOLICY_LAB_CACHE: work } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as Error).message).toContain(`failed to build opa ${OPA_VERSION}`);
    expect(String(((err as Error).cause as Error).message)).toContain("fake go: no builds in unit tests (install -v -trimpath -ldflags -s -w github.com/open-policy-agent/opa@v1.22.3)");
  });

  it("documents every variable in docs/opa.md", async () => {
    const doc = await readFile(fileURLToPath(new URL("../../../docs/opa.md", import.meta.url)), "utf8");
    for (const name of Object.keys(OPA_ENV)) expect(doc, name).toContain(`| \`${name}\` |`);
  });
});
