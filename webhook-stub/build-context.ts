// Prepares the docker build context for the stub image (webhook-stub/Dockerfile). The stub is bundled
// into one ES module, so the image needs no node_modules. For offline builds (no registry reachable)
// the context also carries the project's own Node binary and the shared libraries it links, so the
// image can be built FROM scratch without pulling anything.
import { execFile } from "node:child_process";
import { chmod, copyFile, constants, mkdir, readdir, realpath, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CommandError, LabError } from "../harness/src/util/errors.ts";

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const STUB_DIR = join(REPO_ROOT, "webhook-stub");

/** Where the files land inside the image (and under `<dir>/rootfs/`). */
export const IMAGE_BUNDLE_PATH = "/app/stub.mjs";
export const IMAGE_NODE_PATH = "/usr/local/bin/node";

export interface StubImageContextOptions {
  /** Bundle the Node binary and its libraries for a `FROM scratch` build. */
  offline: boolean;
  /** Node binary to copy when offline. Default: the project's, node_modules/node/bin/node. */
  nodeBinary?: string;
}

export interface StubImageContext {
  /** The context directory (pass it to `docker build`). */
  dir: string;
  dockerfile: string;
  /** Build arguments to pass: `{ BASE: "scratch" }` when offline, none otherwise. */
  buildArgs: Record<string, string>;
  /** The bundled stub inside the context. */
  bundle: string;
  /** Offline only: the copied Node binary inside the context. */
  nodeBinary?: string;
  /** Offline only: image paths of the copied shared libraries (what `ldd` listed). */
  libraries: string[];
  /** Offline only: image path of the dynamic loader (ELF interpreter), e.g. /lib64/ld-linux-x86-64.so.2. */
  interpreter?: string;
}

/**
 * Writes a fresh build context into `dir` (emptied first): Dockerfile, rootfs/app/stub.mjs, and for
 * `offline` rootfs/usr/local/bin/node plus its shared libraries at their original paths.
 */
export async function prepareStubImageContext(dir: string, options: StubImageContextOptions): Promise<StubImageContext> {
  const root = resolve(dir);
  const rootfs = join(root, "rootfs");
  await clearContextDir(root);
  await mkdir(join(rootfs, dirname(IMAGE_BUNDLE_PATH).slice(1)), { recursive: true });
  const bundle = join(rootfs, IMAGE_BUNDLE_PATH.slice(1));
  await bundleStub(bundle);
  const dockerfile = join(root, "Dockerfile");
  await copyFile(join(STUB_DIR, "Dockerfile"), dockerfile);
  if (!options.offline) return { dir: root, dockerfile, buildArgs: {}, bundle, libraries: [] };

  const source = await realpath(options.nodeBinary ?? join(REPO_ROOT, "node_modules", "node", "bin", "node")).catch((err: Error) => {
    throw new LabError(`failed to find the Node binary to bundle: ${err.message}; run 'npm ci' or pass nodeBinary`, { cause: err });
  });
  const nodeBinary = join(rootfs, IMAGE_NODE_PATH.slice(1));
  await copyInto(source, nodeBinary);
  await chmod(nodeBinary, 0o755);
  const { libraries, interpreter } = await sharedLibraries(source);
  for (const lib of libraries) await copyInto(await realpath(lib), join(rootfs, lib.slice(1)));
  return { dir: root, dockerfile, buildArgs: { BASE: "scratch" }, bundle, nodeBinary, libraries, ...(interpreter ? { interpreter } : {}) };
}

/** esbuild: one ESM file for Node; the banner gives bundled CommonJS dependencies a working `require`. */
async function bundleStub(outfile: string): Promise<void> {
  const argv = [
    join(STUB_DIR, "src", "main.ts"),
    "--bundle",
    "--platform=node",
    "--format=esm",
    "--target=node22",
    `--outfile=${outfile}`,
    "--banner:js=import { createRequire as __stubCreateRequire } from 'node:module'; const require = __stubCreateRequire(import.meta.url);",
    "--log-level=warning",
  ];
  const esbuild = join(REPO_ROOT, "node_modules", ".bin", "esbuild");
  try {
    await run(esbuild, argv, { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: string | number; signal?: string };
    throw new CommandError([esbuild, ...argv], typeof e.code === "number" ? e.code : null, e.signal ?? null, `${e.stdout ?? ""}${e.stderr ?? e.message}`, "failed to bundle the webhook stub with esbuild");
  }
}

/** The absolute paths `ldd` lists for `binary` (libraries and the loader), in its order. */
async function sharedLibraries(binary: string): Promise<{ libraries: string[]; interpreter?: string }> {
  let stdout: string;
  try {
    ({ stdout } = await run("ldd", [binary]));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    // A static binary needs nothing; glibc's ldd says so with exit code 1.
    if (/not a dynamic executable|statically linked/.test(`${e.stdout ?? ""}${e.stderr ?? ""}`)) return { libraries: [] };
    throw new CommandError(["ldd", binary], null, null, `${e.stdout ?? ""}${e.stderr ?? e.message}`, "failed to list the Node binary's shared libraries");
  }
  const libraries: string[] = [];
  let interpreter: string | undefined;
  for (const line of stdout.split("\n")) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (arrow) libraries.push(arrow[1]!);
    else if (bare) {
      interpreter = bare[1]!;
      libraries.push(interpreter);
    } else if (/=>\s+not found/.test(line)) {
      throw new LabError(`the Node binary ${binary} links a library that is missing here: ${line.trim()}`);
    }
  }
  return { libraries, ...(interpreter ? { interpreter } : {}) };
}

// Only an empty directory or an earlier context is emptied, so a mistyped path cannot wipe a tree.
async function clearContextDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  const ours = new Set(["Dockerfile", "rootfs"]);
  if (entries.some((e) => !ours.has(e))) {
    throw new LabError(`refusing to use ${dir} as the stub image context: it holds files other than Dockerfile and rootfs/`);
  }
  await rm(dir, { recursive: true, force: true });
}

// Reflink where the filesystem can (the Node binary is ~120 MB), a plain copy otherwise.
async function copyInto(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to, constants.COPYFILE_FICLONE);
}
