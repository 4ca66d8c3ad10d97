import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { appendFile, chmod, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BinariesUnavailableError, ConfigError } from "../util/errors.ts";
import { installIntoCache, MANIFEST_FILE, readManifest, versionBinDir } from "./cache.ts";
import { goPlatform } from "./download.ts";
import { acquireLock } from "./lock.ts";
import { resolveBinaries, type ResolveBinariesOptions } from "./resolve.ts";
import { recorder, sandbox, writeFakeBinary, type Sandbox } from "./testdata/fakes.ts";
import { versionInfo } from "./versions.ts";

const info = versionInfo("1.36.1");
const OFFLINE = { IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", IMAGEPOLICY_LAB_NO_BUILD: "1" };

let sb: Sandbox;
beforeEach(async () => {
  sb = await sandbox();
});
afterEach(async () => {
  await sb.cleanup();
});

function resolve(env: Record<string, string>, extra: Partial<ResolveBinariesOptions> = {}) {
  return resolveBinaries({ k8sVersion: "1.36.1", cacheDir: sb.cacheDir, env: { PATH: sb.path, HOME: sb.dir, ...env }, ...extra });
}

/** Puts fake binaries into the cache the way a real build would (temp dir, then install). */
async function seedCache(names: Array<"kube-apiserver" | "kube-controller-manager" | "etcd">) {
  await mkdir(sb.cacheDir, { recursive: true });
  const tmp = await mkdtemp(join(sb.cacheDir, "seed-"));
  const items = [];
  for (const name of names) {
    const path = await writeFakeBinary(tmp, name, name === "etcd" ? "3.6.8" : "1.36.1");
    items.push({ name, sourcePath: path, origin: "seeded by test" });
  }
  await installIntoCache(versionBinDir(sb.cacheDir, "1.36.1"), info, items);
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("explicit paths and KUBEBUILDER_ASSETS", () => {
  it("uses the TEST_ASSET_* paths and looks no further", async () => {
    const bin = join(sb.dir, "own");
    const env = {
      ...OFFLINE,
      TEST_ASSET_KUBE_APISERVER: await writeFakeBinary(bin, "kube-apiserver", "1.36.1"),
      TEST_ASSET_KUBE_CONTROLLER_MANAGER: await writeFakeBinary(bin, "kube-controller-manager", "1.36.1"),
      TEST_ASSET_ETCD: await writeFakeBinary(bin, "etcd", "3.6.8"),
    };
    const r = recorder();
    const got = await resolve(env, { logger: r.logger });
    expect(got).toMatchObject({ kubeApiserver: join(bin, "kube-apiserver"), kubeControllerManager: join(bin, "kube-controller-manager"), etcd: join(bin, "etcd"), version: "1.36.1" });
    expect(got.sources.etcd).toContain("$TEST_ASSET_ETCD");
    expect(got.attempts.some((a) => a.startsWith("cache"))).toBe(false);
    expect(r.warnings).toEqual([]);
  });

  it("takes each binary from the first step that has it: variable, then KUBEBUILDER_ASSETS, then cache", async () => {
    const own = join(sb.dir, "own");
    const assets = join(sb.dir, "assets");
    await writeFakeBinary(assets, "kube-apiserver", "1.36.1");
    await writeFakeBinary(assets, "etcd", "3.6.8");
    await seedCache(["kube-controller-manager"]); // setup-envtest ships no kube-controller-manager
    const got = await resolve({
      ...OFFLINE,
      TEST_ASSET_KUBE_APISERVER: await writeFakeBinary(own, "kube-apiserver", "1.36.1"),
      KUBEBUILDER_ASSETS: assets,
    });
    expect(got.kubeApiserver).toBe(join(own, "kube-apiserver"));
    expect(got.etcd).toBe(join(assets, "etcd"));
    expect(got.kubeControllerManager).toBe(join(versionBinDir(sb.cacheDir, "1.36.1"), "kube-controller-manager"));
    expect(got.sources).toEqual({
      "kube-apiserver": expect.stringContaining("$TEST_ASSET_KUBE_APISERVER"),
      etcd: expect.stringContaining("$KUBEBUILDER_ASSETS"),
      "kube-controller-manager": expect.stringContaining("cache"),
    });
  });

  it("skips a missing or non-executable path, says why, and moves on", async () => {
    const assets = join(sb.dir, "assets");
    await writeFakeBinary(assets, "etcd", "3.6.8");
    const notExec = await writeFakeBinary(join(sb.dir, "own"), "etcd", "3.6.8", 0o644);
    const err = await rejection(resolve({ ...OFFLINE, TEST_ASSET_ETCD: notExec, TEST_ASSET_KUBE_APISERVER: join(sb.dir, "nope"), KUBEBUILDER_ASSETS: assets }));
    expect(err).toBeInstanceOf(BinariesUnavailableError);
    const { attempts } = err as BinariesUnavailableError;
    expect(attempts).toContain(`$TEST_ASSET_ETCD: ${notExec}: not executable (chmod +x it)`);
    expect(attempts).toContain(`$TEST_ASSET_KUBE_APISERVER: ${join(sb.dir, "nope")}: does not exist`);
    expect(attempts).toContain(`$KUBEBUILDER_ASSETS: ${join(assets, "etcd")}: found etcd`);
  });

  it("warns about, but uses, an explicit binary of another release", async () => {
    const bin = join(sb.dir, "own");
    const r = recorder();
    const got = await resolve(
      {
        ...OFFLINE,
        TEST_ASSET_KUBE_APISERVER: await writeFakeBinary(bin, "kube-apiserver", "1.34.0"),
        TEST_ASSET_KUBE_CONTROLLER_MANAGER: await writeFakeBinary(bin, "kube-controller-manager", "1.36.1"),
        TEST_ASSET_ETCD: await writeFakeBinary(bin, "etcd", "3.5.21"),
      },
      { logger: r.logger },
    );
    expect(got.kubeApiserver).toBe(join(bin, "kube-apiserver"));
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/kube-apiserver .* reports 1\.34\.0, expected 1\.36\.1/);
    expect(r.warnings[1]).toMatch(/etcd .* reports 3\.5\.21, expected 3\.6\.8/);
  });
});

describe("failure report", () => {
  it("lists every place tried, per binary, when nothing works", async () => {
    const err = await rejection(resolve({ ...OFFLINE, KUBEBUILDER_ASSETS: join(sb.dir, "empty") }));
    expect(err).toBeInstanceOf(BinariesUnavailableError);
    const e = err as BinariesUnavailableError;
    const binDir = versionBinDir(sb.cacheDir, "1.36.1");
    expect(e.attempts).toEqual([
      "$TEST_ASSET_KUBE_APISERVER: not set",
      "$TEST_ASSET_KUBE_CONTROLLER_MANAGER: not set",
      "$TEST_ASSET_ETCD: not set",
      `$KUBEBUILDER_ASSETS: ${join(sb.dir, "empty", "kube-apiserver")}: does not exist`,
      `$KUBEBUILDER_ASSETS: ${join(sb.dir, "empty", "kube-controller-manager")}: does not exist`,
      `$KUBEBUILDER_ASSETS: ${join(sb.dir, "empty", "etcd")}: does not exist`,
      `cache ${binDir}: no ${MANIFEST_FILE}`,
      "download: skipped ($IMAGEPOLICY_LAB_NO_DOWNLOAD is set)",
      "build from Go modules: skipped ($IMAGEPOLICY_LAB_NO_BUILD is set)",
    ]);
    expect(e.hint).toContain("TEST_ASSET_KUBE_APISERVER, TEST_ASSET_KUBE_CONTROLLER_MANAGER, TEST_ASSET_ETCD");
    expect(e.hint).toContain("unset IMAGEPOLICY_LAB_NO_BUILD");
  });

  it("says go is missing when the build step cannot find it", async () => {
    const err = (await rejection(resolve({ IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" }))) as BinariesUnavailableError;
    expect(err.attempts.at(-1)).toBe("build from Go modules: go not found on PATH");
    expect(err.hint).toContain("install Go");
  });

  it("rejects a malformed switch and an unknown version before doing anything", async () => {
    await expect(resolve({ IMAGEPOLICY_LAB_NO_BUILD: "maybe" })).rejects.toBeInstanceOf(ConfigError);
    await expect(resolve({}, { k8sVersion: "1.20.0" })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("cache", () => {
  it("uses a cached set whose files match the manifest", async () => {
    await seedCache(["kube-apiserver", "kube-controller-manager", "etcd"]);
    const got = await resolve(OFFLINE);
    expect(got.source).toBe(`cache ${versionBinDir(sb.cacheDir, "1.36.1")} (seeded by test)`);
  });

  it("ignores a cached file that no longer matches the manifest (half-written or edited)", async () => {
    await seedCache(["kube-apiserver", "kube-controller-manager", "etcd"]);
    const binDir = versionBinDir(sb.cacheDir, "1.36.1");
    await appendFile(join(binDir, "etcd"), "# truncated or appended\n");
    const r = recorder();
    const err = (await rejection(resolve(OFFLINE, { logger: r.logger }))) as BinariesUnavailableError;
    expect(err).toBeInstanceOf(BinariesUnavailableError);
    expect(err.attempts).toContainEqual(expect.stringMatching(new RegExp(`^cache ${binDir}: etcd: size \\d+ bytes, manifest says \\d+`)));
    expect(err.attempts).toContain(`cache ${binDir}: found kube-apiserver`);
    expect(r.warnings).toEqual([expect.stringContaining("ignoring cached etcd")]);
  });

  it("ignores a cache whose manifest is half-written or for another release", async () => {
    await seedCache(["kube-apiserver", "kube-controller-manager", "etcd"]);
    const binDir = versionBinDir(sb.cacheDir, "1.36.1");
    const text = await readFile(join(binDir, MANIFEST_FILE), "utf8");
    await writeFile(join(binDir, MANIFEST_FILE), text.slice(0, text.length / 2));
    let err = (await rejection(resolve(OFFLINE))) as BinariesUnavailableError;
    expect(err.attempts).toContain(`cache ${binDir}: ${MANIFEST_FILE} is not valid JSON (half-written?)`);

    await writeFile(join(binDir, MANIFEST_FILE), text.replace('"etcdVersion": "3.6.8"', '"etcdVersion": "3.5.0"'));
    err = (await rejection(resolve(OFFLINE))) as BinariesUnavailableError;
    expect(err.attempts).toContainEqual(expect.stringContaining("describes Kubernetes 1.36.1 / etcd 3.5.0, expected 1.36.1 / 3.6.8"));
  });
});

describe("build from Go modules (fake go)", () => {
  it("builds what is missing with release flags and installs it into the cache", async () => {
    const goEnv = await sb.withFakeGo();
    const r = recorder();
    const got = await resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" }, { progress: r.progress, logger: r.logger });
    const binDir = versionBinDir(sb.cacheDir, "1.36.1");
    expect(got.kubeApiserver).toBe(join(binDir, "kube-apiserver"));
    expect(got.sources["kube-apiserver"]).toContain("built from k8s.io/kubernetes@v1.36.1 with go1.99.0-fake");
    expect(got.sources.etcd).toContain("built from go.etcd.io/etcd/server/v3@v3.6.8 with go1.99.0-fake");
    expect((await execa(got.etcd, ["--version"])).stdout).toContain("etcd Version: 3.6.8");

    const calls = await sb.goCalls();
    const k8sBuild = calls.find((c) => c.startsWith("build") && c.includes("kube-apiserver")) ?? "";
    expect(k8sBuild).toContain("-trimpath -tags providerless,selinux,notest,grpcnotrace");
    expect(k8sBuild).toContain("-X k8s.io/component-base/version.gitVersion=v1.36.1");
    expect(k8sBuild).toContain("-X k8s.io/client-go/pkg/version.gitMinor=36");
    expect(k8sBuild).toContain("-X k8s.io/component-base/version.buildDate=2026-05-12T09:51:33Z");
    const goMod = await readFile(join(sb.cacheDir, "build", "kubernetes-v1.36.1", "go.mod"), "utf8");
    expect(goMod).toContain("\tk8s.io/apiserver => k8s.io/apiserver v0.36.1\n");

    const manifest = await readManifest(binDir, info);
    expect(Object.keys(manifest.manifest?.binaries ?? {}).sort()).toEqual(["etcd", "kube-apiserver", "kube-controller-manager"]);
    expect(r.tasks).toEqual([
      "fetching Go module k8s.io/kubernetes@v1.36.1",
      "resolving dependencies for Kubernetes v1.36.1",
      "compiling kube-apiserver, kube-controller-manager",
      "fetching Go module go.etcd.io/etcd/server/v3@v3.6.8",
      "resolving dependencies for etcd v3.6.8",
      "compiling etcd v3.6.8",
    ]);
    expect(r.warnings).toEqual([]);

    // The second run is a cache hit: go is not called again.
    const before = calls.length;
    const again = await resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" });
    expect(again.source).toContain(`cache ${binDir}`);
    expect(await sb.goCalls()).toHaveLength(before);
  });

  it("rebuilds only a corrupted cached binary", async () => {
    await seedCache(["kube-apiserver", "kube-controller-manager", "etcd"]);
    await writeFile(join(versionBinDir(sb.cacheDir, "1.36.1"), "etcd"), "garbage");
    const goEnv = await sb.withFakeGo();
    const got = await resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" });
    expect(got.sources.etcd).toContain("built from go.etcd.io/etcd/server/v3@v3.6.8");
    expect(got.sources["kube-apiserver"]).toContain("seeded by test");
    expect((await sb.goCalls()).filter((c) => c.startsWith("build"))).toEqual([expect.stringContaining("go.etcd.io/etcd/server/v3")]);
    const manifest = await readManifest(versionBinDir(sb.cacheDir, "1.36.1"), info);
    expect(manifest.manifest?.binaries["kube-apiserver"]?.origin).toBe("seeded by test");
  });

  it("records a failed build, keeps what did build, and warns when the etcd pin drifted", async () => {
    const goEnv = await sb.withFakeGo({ FAKE_GO_FAIL: "etcd", FAKE_GO_PINNED_ETCD: "3.6.9" });
    const r = recorder();
    const err = (await rejection(resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" }, { logger: r.logger }))) as BinariesUnavailableError;
    expect(err).toBeInstanceOf(BinariesUnavailableError);
    expect(err.attempts).toContain("build k8s.io/kubernetes@v1.36.1 with go1.99.0-fake: ok");
    expect(err.attempts).toContainEqual(expect.stringMatching(/^build go\.etcd\.io\/etcd\/server\/v3@v3\.6\.8 with go1\.99\.0-fake: failed to compile etcd v3\.6\.8: `go build .*` exited with code 1$/));
    expect(r.warnings).toEqual([expect.stringContaining("pins etcd 3.6.9 (build/dependencies.yaml), but the version table says 3.6.8")]);
    const manifest = await readManifest(versionBinDir(sb.cacheDir, "1.36.1"), info);
    expect(Object.keys(manifest.manifest?.binaries ?? {}).sort()).toEqual(["kube-apiserver", "kube-controller-manager"]);
  });

  it("fails a build whose binary reports another release", async () => {
    const goEnv = await sb.withFakeGo({ FAKE_GO_K8S_VERSION: "1.36.0" });
    const err = (await rejection(resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", TEST_ASSET_ETCD: await writeFakeBinary(sb.dir, "etcd", "3.6.8") }))) as BinariesUnavailableError;
    expect(err.attempts.at(-1)).toMatch(/failed to verify the built kube-apiserver: it reports 1\.36\.0, expected 1\.36\.1$/);
  });

  it("a second process waits for the lock, then takes the first one's result from the cache", async () => {
    const goEnv = await sb.withFakeGo();
    const binDir = versionBinDir(sb.cacheDir, "1.36.1");
    const held = await acquireLock(`${binDir}.lock`, { purpose: "test: the first process" });
    const r = recorder();
    const second = resolve({ ...goEnv, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1" }, { progress: r.progress });
    await new Promise((res) => setTimeout(res, 300));
    await seedCache(["kube-apiserver", "kube-controller-manager", "etcd"]);
    await held.release();
    const got = await second;
    expect(got.source).toContain("seeded by test");
    expect(await sb.goCalls()).toEqual([]);
    expect(r.tasks).toEqual(["waiting for another process to finish provisioning v1.36.1"]);
  });
});

describe.runIf(goPlatform().os === "linux")("download (local server)", () => {
  let server: Server;
  let base: string;
  const files = new Map<string, Buffer>();
  beforeEach(async () => {
    files.clear();
    server = createServer((req, res) => {
      const body = files.get(req.url ?? "");
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });

  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  async function publish(options: { badSum?: boolean } = {}) {
    const { arch } = goPlatform();
    for (const name of ["kube-apiserver", "kube-controller-manager"] as const) {
      const body = await readFile(await writeFakeBinary(join(sb.dir, "release"), name, "1.36.1"));
      files.set(`/k8s/v1.36.1/bin/linux/${arch}/${name}`, body);
      files.set(`/k8s/v1.36.1/bin/linux/${arch}/${name}.sha256`, Buffer.from(options.badSum ? "0".repeat(64) : sha(body)));
    }
    const top = `etcd-v3.6.8-linux-${arch}`;
    await writeFakeBinary(join(sb.dir, "etcd-release", top), "etcd", "3.6.8");
    await chmod(join(sb.dir, "etcd-release", top, "etcd"), 0o755);
    const tgz = join(sb.dir, `${top}.tar.gz`);
    await execa("tar", ["czf", tgz, "-C", join(sb.dir, "etcd-release"), top]);
    const body = await readFile(tgz);
    files.set(`/etcd/v3.6.8/${top}.tar.gz`, body);
    files.set(`/etcd/v3.6.8/SHA256SUMS`, Buffer.from(`${"1".repeat(64)}  etcd-v3.6.8-darwin-arm64.zip\n${sha(body)}  ${top}.tar.gz\n`));
  }

  it("downloads, verifies and caches the release binaries", async () => {
    await publish();
    const r = recorder();
    const got = await resolve({ IMAGEPOLICY_LAB_NO_BUILD: "1" }, { downloadUrls: { kubernetes: `${base}/k8s`, etcd: `${base}/etcd` }, progress: r.progress });
    expect(got.sources["kube-apiserver"]).toContain(`downloaded from ${base}/k8s/v1.36.1/bin/linux/`);
    expect((await execa(got.etcd, ["--version"])).stdout).toContain("etcd Version: 3.6.8");
    expect(r.tasks).toEqual(["downloading kube-apiserver v1.36.1", "downloading kube-controller-manager v1.36.1", "downloading etcd v3.6.8"]);
    const again = await resolve(OFFLINE);
    expect(again.source).toContain("cache");
  });

  it("rejects a binary whose sha256 does not match the published one", async () => {
    await publish({ badSum: true });
    const err = (await rejection(resolve({ IMAGEPOLICY_LAB_NO_BUILD: "1" }, { downloadUrls: { kubernetes: `${base}/k8s`, etcd: `${base}/etcd` } }))) as BinariesUnavailableError;
    expect(err.attempts).toContainEqual(expect.stringMatching(/kube-apiserver: sha256 [0-9a-f]{64} does not match the published 0{64}$/));
    expect(err.attempts).toContain(`download ${base}/etcd/v3.6.8/etcd-v3.6.8-linux-${goPlatform().arch}.tar.gz: ok`);
  });

  it("stops trying a host that cannot be reached", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = (await rejection(
      resolve({ IMAGEPOLICY_LAB_NO_BUILD: "1" }, { downloadUrls: { kubernetes: `http://127.0.0.1:${deadPort}/k8s`, etcd: `${base}/etcd` } }),
    )) as BinariesUnavailableError;
    expect(err.attempts).toContainEqual(expect.stringMatching(/^download http:\/\/127\.0\.0\.1:\d+\/k8s\/.*kube-apiserver\.sha256: .*ECONNREFUSED/));
    expect(err.attempts).toContain(`download kube-controller-manager: skipped (127.0.0.1:${deadPort} unreachable, see above)`);
    expect(err.attempts).toContainEqual(expect.stringMatching(/^download .*SHA256SUMS: HTTP 404/));
  });
});
