// Downloads the official release binaries and checks them against the published sha256 sums:
// kube-apiserver and kube-controller-manager from dl.k8s.io (one `.sha256` file each), etcd from its
// GitHub release tarball (checked against the release's SHA256SUMS). Connecting has a short budget so
// a machine without internet access moves on to the next step in seconds.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { LabError } from "../util/errors.ts";
import type { ProgressTask } from "../util/logger.ts";
import type { BinaryName } from "./env.ts";

/** Where releases are fetched from; replaceable for mirrors and tests. */
export interface DownloadUrls {
  /** Base of Kubernetes releases; `<base>/v<ver>/bin/<os>/<arch>/<name>` (default https://dl.k8s.io/release). */
  kubernetes: string;
  /** Base of etcd releases; `<base>/v<ver>/etcd-v<ver>-<os>-<arch>.tar.gz` (default GitHub releases). */
  etcd: string;
}

export const DEFAULT_DOWNLOAD_URLS: Readonly<DownloadUrls> = Object.freeze({
  kubernetes: "https://dl.k8s.io/release",
  etcd: "https://github.com/etcd-io/etcd/releases/download",
});

export interface GoPlatform {
  os: string;
  arch: string;
}

/** Node's platform in Go's spelling (release artifacts use it). */
export function goPlatform(): GoPlatform {
  const arch = ({ x64: "amd64", arm64: "arm64", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: process.platform === "win32" ? "windows" : process.platform, arch };
}

/** A download that did not produce a verified file. `unreachable` means later downloads would fail the same way. */
export class DownloadFailedError extends LabError {
  override name = "DownloadFailedError";
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly unreachable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`failed to download ${url}: ${reason}`, options);
  }
}

export interface FetchOptions {
  /** Budget for getting response headers; default 5_000 ms. */
  connectTimeoutMs?: number;
  /** Budget for a pause in the body; default 30_000 ms. */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
  task?: ProgressTask;
}

/** Fetches `url` fully into memory (checksum files) or to `dest` (binaries); returns the body's sha256. */
async function fetchTo(url: string, dest: string | undefined, options: FetchOptions): Promise<{ sha256: string; text?: string; bytes?: Buffer }> {
  const timer = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, timer.signal]) : timer.signal;
  let phase = "connect";
  let stall = setTimeout(() => timer.abort(), options.connectTimeoutMs ?? 5_000);
  const restartStall = () => {
    clearTimeout(stall);
    stall = setTimeout(() => timer.abort(), options.stallTimeoutMs ?? 30_000);
  };
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal, redirect: "follow" });
    } catch (err) {
      options.signal?.throwIfAborted();
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = timer.signal.aborted ? `no response within ${options.connectTimeoutMs ?? 5_000}ms` : (cause?.message ?? (err as Error).message);
      throw new DownloadFailedError(url, why, true, { cause: err });
    }
    if (!res.ok || !res.body) {
      throw new DownloadFailedError(url, `HTTP ${res.status} ${res.statusText}`, false);
    }
    phase = "body";
    restartStall();
    const total = Number(res.headers.get("content-length")) || undefined;
    const hash = createHash("sha256");
    const chunks: Buffer[] = [];
    const out = dest ? createWriteStream(dest, { mode: 0o755 }) : undefined;
    let received = 0;
    let lastReport = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      restartStall();
      const buf = Buffer.from(chunk);
      hash.update(buf);
      received += buf.length;
      if (out) {
        if (!out.write(buf)) await new Promise<void>((r) => out.once("drain", () => r()));
      } else chunks.push(buf);
      if (options.task && received - lastReport > 1 << 20) {
        lastReport = received;
        options.task.update(total ? `${mib(received)}/${mib(total)} MiB` : `${mib(received)} MiB`);
      }
    }
    if (out) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const bytes = out ? undefined : Buffer.concat(chunks);
    return { sha256: hash.digest("hex"), ...(bytes ? { bytes, text: bytes.toString("utf8") } : {}) };
  } catch (err) {
    if (err instanceof DownloadFailedError) throw err;
    options.signal?.throwIfAborted();
    const why = timer.signal.aborted ? `stalled for ${options.stallTimeoutMs ?? 30_000}ms during ${phase}` : (err as Error).message;
    throw new DownloadFailedError(url, why, false, { cause: err });
  } finally {
    clearTimeout(stall);
  }
}

function mib(n: number): string {
  return (n / 1_048_576).toFixed(1);
}

export function kubernetesBinaryUrl(urls: DownloadUrls, name: BinaryName, version: string, p: GoPlatform): string {
  return `${urls.kubernetes.replace(/\/$/, "")}/v${version}/bin/${p.os}/${p.arch}/${name}`;
}

export function etcdTarballUrl(urls: DownloadUrls, etcdVersion: string, p: GoPlatform): string {
  return `${urls.etcd.replace(/\/$/, "")}/v${etcdVersion}/etcd-v${etcdVersion}-${p.os}-${p.arch}.tar.gz`;
}

/** Downloads kube-apiserver or kube-controller-manager to `destDir/<name>` and verifies its `.sha256`. */
export async function downloadKubernetesBinary(
  name: Exclude<BinaryName, "etcd">,
  version: string,
  destDir: string,
  urls: DownloadUrls,
  options: FetchOptions & { platform?: GoPlatform } = {},
): Promise<{ path: string; url: string }> {
  const url = kubernetesBinaryUrl(urls, name, version, options.platform ?? goPlatform());
  // The checksum first: it is tiny, and it tells us quickly whether the host is reachable at all.
  const sums = await fetchTo(`${url}.sha256`, undefined, options);
  const expected = /^[0-9a-f]{64}/i.exec((sums.text ?? "").trim())?.[0]?.toLowerCase();
  if (!expected) throw new DownloadFailedError(`${url}.sha256`, "no sha256 digest in the file", false);
  const path = join(destDir, name);
  const got = await fetchTo(url, path, options);
  if (got.sha256 !== expected) throw new DownloadFailedError(url, `sha256 ${got.sha256} does not match the published ${expected}`, false);
  return { path, url };
}

/** Downloads etcd's release tarball, verifies it against SHA256SUMS and extracts `etcd` to `destDir/etcd`. */
export async function downloadEtcd(
  etcdVersion: string,
  destDir: string,
  urls: DownloadUrls,
  options: FetchOptions & { platform?: GoPlatform } = {},
): Promise<{ path: string; url: string }> {
  const p = options.platform ?? goPlatform();
  const url = etcdTarballUrl(urls, etcdVersion, p);
  const file = url.slice(url.lastIndexOf("/") + 1);
  const sumsUrl = `${url.slice(0, url.lastIndexOf("/"))}/SHA256SUMS`;
  const sums = await fetchTo(sumsUrl, undefined, options);
  const line = (sums.text ?? "").split("\n").find((l) => l.trim().endsWith(` ${file}`) || l.trim().endsWith(`*${file}`));
  const expected = line ? /^[0-9a-f]{64}/i.exec(line.trim())?.[0]?.toLowerCase() : undefined;
  if (!expected) throw new DownloadFailedError(sumsUrl, `no sha256 for ${file}`, false);
  const got = await fetchTo(url, undefined, options);
  if (got.sha256 !== expected) throw new DownloadFailedError(url, `sha256 ${got.sha256} does not match the published ${expected}`, false);
  const etcd = extractFromTarGz(got.bytes ?? Buffer.alloc(0), "etcd");
  if (!etcd) throw new DownloadFailedError(url, "the tarball has no etcd binary", false);
  const path = join(destDir, "etcd");
  await writeFile(path, etcd, { mode: 0o755 });
  return { path, url };
}

/**
 * Returns the first regular file in a .tar.gz whose base name is `baseName`. A small ustar reader
 * (with GNU long names and PAX paths) instead of shelling out to `tar`, so this works the same everywhere.
 */
export function extractFromTarGz(gz: Buffer, baseName: string): Buffer | undefined {
  const tar = gunzipSync(gz);
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) => header.subarray(start, start + len).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1) || "0";
    const prefix = field(257, 6).startsWith("ustar") ? field(345, 155) : "";
    const data = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = data.toString("utf8").replace(/\0.*$/s, "");
      continue;
    }
    if (type === "x") {
      longName = /\d+ path=([^\n]*)\n/.exec(data.toString("utf8"))?.[1] ?? longName;
      continue;
    }
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    if ((type === "0" || type === "\0") && name.split("/").pop() === baseName) return Buffer.from(data);
  }
  return undefined;
}
