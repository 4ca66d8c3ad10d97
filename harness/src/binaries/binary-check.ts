// Checks that a candidate file can be run, and reads the release it reports with `--version`.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { execa } from "execa";
import type { BinaryName } from "./env.ts";

/** Why `path` cannot be used as an executable, or undefined when it can. */
export async function executableProblem(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return "not a regular file";
  } catch {
    return "does not exist";
  }
  try {
    await access(path, constants.X_OK);
  } catch {
    return "not executable (chmod +x it)";
  }
  return undefined;
}

/** The release a binary reports: "1.36.1" from "Kubernetes v1.36.1", "3.6.8" from "etcd Version: 3.6.8". */
export function parseVersionOutput(name: BinaryName, output: string): string | undefined {
  const re = name === "etcd" ? /etcd Version:\s*v?(\d+\.\d+\.\d+\S*)/ : /Kubernetes v(\d+\.\d+\.\d+\S*)/;
  return re.exec(output)?.[1];
}

export interface VersionProbe {
  /** Parsed release, when the output had one. */
  version?: string;
  /** First line of the output, for the manifest and messages. */
  firstLine: string;
  /** Why the probe failed (non-zero exit, timeout, unparsable output). */
  problem?: string;
}

/** Runs `<path> --version` with a short budget (default 10_000 ms). */
export async function probeVersion(name: BinaryName, path: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<VersionProbe> {
  const r = await execa(path, ["--version"], {
    reject: false,
    all: true,
    stdin: "ignore",
    timeout: options.timeoutMs ?? 10_000,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  const output = (r.all ?? "").trim();
  const firstLine = output.split("\n")[0] ?? "";
  if (r.failed) {
    const why = r.timedOut ? "timed out" : r.exitCode !== undefined ? `exited with code ${r.exitCode}` : r.shortMessage;
    return { firstLine, problem: `\`${path} --version\` ${why}` };
  }
  const version = parseVersionOutput(name, output);
  if (!version) return { firstLine, problem: `\`${path} --version\` printed no ${name} version: "${firstLine}"` };
  return { version, firstLine };
}
