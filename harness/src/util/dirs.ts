// Directories the user names (a state dir, a report dir): created and checked before anything starts,
// with the OS's refusal translated into "which flag, which path, what is wrong".
import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ConfigError } from "./errors.ts";

/**
 * Creates `dir` and its missing parents (mode `mode`) and checks that it is a writable directory.
 * Throws a ConfigError naming `label` (a flag such as `--state-dir`, or a field) and the path.
 * Walks up by hand instead of `mkdir({recursive: true})`, which Node retries forever where mkdir
 * keeps answering ENOENT (e.g. under /proc), so a bad flag hung the command instead of failing it.
 */
export async function ensureWritableDir(dir: string, label: string, mode = 0o700): Promise<string> {
  const target = resolve(dir);
  const refuse = (path: string, message: string): never => {
    throw new ConfigError([{ file: target, path: label, message: path === target ? message : `${message} (at ${path})` }], `unusable ${label}`);
  };
  const describe = (err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    // ENOENT from mkdir under an existing parent: a file system that takes no new entries (/proc, /sys).
    const hint = e.code === "ENOENT" ? " (this file system does not allow creating directories)" : "";
    return `${e.message}${hint}`;
  };
  // The nearest ancestor that exists, and the missing directories below it.
  const missing: string[] = [];
  let existing = target;
  for (;;) {
    const st = await stat(existing).catch((err: NodeJS.ErrnoException) => (err.code === "ENOENT" || err.code === "ENOTDIR" ? undefined : refuse(existing, `cannot inspect it: ${describe(err)}`)));
    if (st) {
      if (!st.isDirectory()) refuse(existing, "is not a directory");
      break;
    }
    missing.unshift(existing);
    const parent = dirname(existing);
    if (parent === existing) refuse(existing, "no part of the path exists");
    existing = parent;
  }
  for (const d of missing) {
    await mkdir(d, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") refuse(d, `cannot create the directory: ${describe(err)}`);
    });
  }
  await access(target, constants.W_OK | constants.X_OK).catch((err) => refuse(target, `cannot write to the directory: ${describe(err)}`));
  return target;
}
