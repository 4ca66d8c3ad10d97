// The per-version binary cache outside the repo. A set is trusted only through its manifest (versions
// plus size and sha256 of each file), so a half-written or hand-edited cache is never used. Writers
// hold the version's lock (lock.ts); readers need none, because files and the manifest are replaced
// by rename and every read re-checks the hashes.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { BINARY_NAMES, readEnv, type BinaryName, type Env } from "./env.ts";
import type { K8sVersionInfo } from "./versions.ts";

export const MANIFEST_FILE = "manifest.json";

/**
 * Cache root. Precedence: `override` (the `cacheDir` option), then `$IMAGEPOLICY_LAB_CACHE`, then
 * `${XDG_CACHE_HOME:-~/.cache}/imagepolicy-lab`.
 */
export function cacheRoot(env: Env, override?: string): string {
  if (override) return resolve(override);
  const explicit = readEnv(env, "IMAGEPOLICY_LAB_CACHE");
  if (explicit) return resolve(explicit);
  const xdg = readEnv(env, "XDG_CACHE_HOME");
  return join(xdg ? resolve(xdg) : join(homedir(), ".cache"), "imagepolicy-lab");
}

/** Where one release's binaries live: `<root>/bin/v<version>`. */
export function versionBinDir(root: string, k8sVersion: string): string {
  return join(root, "bin", `v${k8sVersion}`);
}

/** Scratch space for Go build modules, kept between runs so `go mod tidy` has little to do. */
export function buildWorkDir(root: string, name: string): string {
  return join(root, "build", name);
}

const entrySchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
  /** Human description of where the file came from, e.g. "built from k8s.io/kubernetes@v1.36.1 with go1.26.8". */
  origin: z.string(),
  /** First line of `--version`, recorded when the file was installed. */
  versionOutput: z.string().optional(),
  installedAt: z.string(),
});

const manifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  k8sVersion: z.string(),
  etcdVersion: z.string(),
  binaries: z.partialRecord(z.enum(BINARY_NAMES as [BinaryName, ...BinaryName[]]), entrySchema),
});

export type CacheManifest = z.infer<typeof manifestSchema>;
export type CacheEntry = z.infer<typeof entrySchema>;

export type ManifestRead = { manifest: CacheManifest } | { manifest?: undefined; problem: string };

/** Reads and checks the manifest of `binDir` against the release it should describe. */
export async function readManifest(binDir: string, info: K8sVersionInfo): Promise<ManifestRead> {
  let text: string;
  try {
    text = await readFile(join(binDir, MANIFEST_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { problem: `no ${MANIFEST_FILE}` };
    return { problem: `cannot read ${MANIFEST_FILE}: ${(err as Error).message}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: `${MANIFEST_FILE} is not valid JSON (half-written?)` };
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return { problem: `${MANIFEST_FILE} has an unexpected shape (${first?.path.join(".") || "(root)"}: ${first?.message})` };
  }
  const m = parsed.data;
  if (m.k8sVersion !== info.version || m.etcdVersion !== info.etcdVersion) {
    return {
      problem: `${MANIFEST_FILE} describes Kubernetes ${m.k8sVersion} / etcd ${m.etcdVersion}, expected ${info.version} / ${info.etcdVersion}`,
    };
  }
  return { manifest: m };
}

export type CachedBinary = { ok: true; path: string; entry: CacheEntry } | { ok: false; problem: string };

/** Whether `name` in `binDir` is exactly the file the manifest recorded (size, then sha256). */
export async function checkCachedBinary(binDir: string, manifest: CacheManifest, name: BinaryName): Promise<CachedBinary> {
  const entry = manifest.binaries[name];
  if (!entry) return { ok: false, problem: `not in ${MANIFEST_FILE}` };
  const path = join(binDir, name);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { ok: false, problem: "listed in the manifest but the file is missing" };
  }
  // Size first: it catches a truncated file without reading 100 MB.
  if (size !== entry.size) return { ok: false, problem: `size ${size} bytes, manifest says ${entry.size} (half-written?)` };
  const digest = await sha256File(path);
  if (digest !== entry.sha256) return { ok: false, problem: `sha256 ${digest.slice(0, 12)}… does not match the manifest's ${entry.sha256.slice(0, 12)}…` };
  return { ok: true, path, entry };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export interface InstallItem {
  name: BinaryName;
  /** File to move into the cache; must be on the same filesystem (a temp dir inside the cache root). */
  sourcePath: string;
  origin: string;
  versionOutput?: string;
}

/**
 * Moves freshly made binaries into `binDir` and records them in the manifest, keeping the entries
 * of other binaries that are still valid. Callers hold the version lock.
 */
export async function installIntoCache(
  binDir: string,
  info: K8sVersionInfo,
  items: InstallItem[],
  now: () => Date = () => new Date(),
): Promise<Partial<Record<BinaryName, string>>> {
  await mkdir(binDir, { recursive: true });
  const previous = await readManifest(binDir, info);
  const binaries: CacheManifest["binaries"] = {};
  // Keep only entries whose files still match; a stale entry would only mislead the next reader.
  if (previous.manifest) {
    for (const name of BINARY_NAMES) {
      if (items.some((i) => i.name === name)) continue;
      const check = await checkCachedBinary(binDir, previous.manifest, name);
      if (check.ok) binaries[name] = check.entry;
    }
  }
  const paths: Partial<Record<BinaryName, string>> = {};
  for (const item of items) {
    await chmod(item.sourcePath, 0o755);
    const { size } = await stat(item.sourcePath);
    const sha256 = await sha256File(item.sourcePath);
    const target = join(binDir, item.name);
    await rename(item.sourcePath, target);
    binaries[item.name] = {
      sha256,
      size,
      origin: item.origin,
      ...(item.versionOutput ? { versionOutput: item.versionOutput } : {}),
      installedAt: now().toISOString(),
    };
    paths[item.name] = target;
  }
  const manifest: CacheManifest = { schemaVersion: 1, k8sVersion: info.version, etcdVersion: info.etcdVersion, binaries };
  // Write-then-rename so a reader sees the old manifest or the new one, never half of one.
  const tmp = join(binDir, `.${MANIFEST_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(tmp, join(binDir, MANIFEST_FILE));
  return paths;
}

/** Prefix of temp dirs for one version, created beside its bin dir so the final rename stays on one filesystem. */
export function tempDirPrefix(root: string, k8sVersion: string): string {
  return join(root, "bin", `.tmp-v${k8sVersion}-`);
}

/** Removes temp dirs a crashed run left behind for this version. Only call while holding the lock. */
export async function removeLeftoverTempDirs(root: string, k8sVersion: string): Promise<void> {
  const dir = join(root, "bin");
  const prefix = `.tmp-v${k8sVersion}-`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(names.filter((n) => n.startsWith(prefix)).map((n) => rm(join(dir, n), { recursive: true, force: true })));
}
