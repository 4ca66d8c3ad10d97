// Real little programs standing in for the control-plane binaries and for `go`, so tests exercise the
// resolver without mocks (envtest's fake-apiserver scripts, execa's fixtures).
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BinaryName } from "../env.ts";
import type { Logger, Progress } from "../../util/logger.ts";

/** Writes an executable that prints what `name --version` prints for the given release. */
export async function writeFakeBinary(dir: string, name: BinaryName, version: string, mode = 0o755): Promise<string> {
  await mkdir(dir, { recursive: true });
  const line = name === "etcd" ? `etcd Version: ${version}\nGit SHA: fake` : `Kubernetes v${version}`;
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nif [ "$1" = "--version" ]; then printf '${line.replace(/\n/g, "\\n")}\\n'; fi\n`);
  await chmod(path, mode);
  return path;
}

export const FAKE_GO = fileURLToPath(new URL("./fake-go.sh", import.meta.url));
export const K8S_GOMOD_FIXTURE = fileURLToPath(new URL("./kubernetes-v1.36.1.go.mod", import.meta.url));
export const ETCD_GOMOD_FIXTURE = fileURLToPath(new URL("./etcd-server-v3.6.8.go.mod", import.meta.url));

export interface Sandbox {
  dir: string;
  cacheDir: string;
  /** A PATH with the basic tools and no `go`. */
  path: string;
  /** Adds the fake `go` and returns env entries that make it work. */
  withFakeGo(knobs?: Record<string, string>): Promise<Record<string, string>>;
  /** Lines the fake go logged, one per invocation. */
  goCalls(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function sandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), "ipl-binaries-"));
  const cacheDir = join(dir, "cache");
  const goDir = join(dir, "gobin");
  const state = join(dir, "gostate");
  const path = "/usr/bin:/bin";
  return {
    dir,
    cacheDir,
    path,
    async withFakeGo(knobs = {}) {
      await mkdir(goDir, { recursive: true });
      await mkdir(state, { recursive: true });
      await writeFile(join(goDir, "go"), await readFile(FAKE_GO));
      await chmod(join(goDir, "go"), 0o755);
      return {
        PATH: `${goDir}:${path}`,
        FAKE_GO_STATE: state,
        FAKE_GO_K8S_GOMOD: K8S_GOMOD_FIXTURE,
        FAKE_GO_ETCD_GOMOD: ETCD_GOMOD_FIXTURE,
        ...knobs,
      };
    },
    async goCalls() {
      try {
        return (await readFile(join(state, "calls.log"), "utf8")).trim().split("\n").filter(Boolean);
      } catch {
        return [];
      }
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A logger and progress that remember what they were told. */
export function recorder(): { logger: Logger; progress: Progress; warnings: string[]; tasks: string[] } {
  const warnings: string[] = [];
  const tasks: string[] = [];
  return {
    warnings,
    tasks,
    logger: { info() {}, debug() {}, warn: (m) => warnings.push(m) },
    progress: {
      start(name) {
        tasks.push(name);
        return { update() {}, succeed() {}, fail() {} };
      },
    },
  };
}
