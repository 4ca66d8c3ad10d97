// Checks a rendered kind config with kind's own code, without Docker or a node image: kind's strict
// v1alpha4 loader and validation, its kubeadm config template and its patch engine, taken from the
// kind Go module (the same release the provider pins). The checker program
// (kind-source-check/main.go.txt) imports kind internals, so it is compiled inside a writable copy
// of the module. Needs Go and the Go module proxy (or a warm module cache).
import { execFile } from "node:child_process";
import { access, cp, chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { cacheRoot } from "../providers/kind/tools.ts";

const exec = promisify(execFile);
const CHECKER_SOURCE = fileURLToPath(new URL("./kind-source-check/main.go.txt", import.meta.url));

/** Builds (once per kind release and checker source) the checker binary; returns its path. */
export async function buildKindSourceChecker(release: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const source = await readFile(CHECKER_SOURCE, "utf8");
  const { createHash } = await import("node:crypto");
  const dir = join(cacheRoot(env), "tools", `kind-source-check-${release}-${createHash("sha256").update(source).digest("hex").slice(0, 12)}`);
  const bin = join(dir, "iplab-kind-check");
  if (await access(bin).then(() => true, () => false)) return bin;
  // `go mod download -json` prints the module's directory in the (read-only) module cache.
  const { stdout } = await exec("go", ["mod", "download", "-json", `sigs.k8s.io/kind@${release}`], { env: { ...env, GOFLAGS: "-mod=mod" }, cwd: "/", timeout: 600_000, maxBuffer: 8 * 2 ** 20 });
  const moduleDir = (JSON.parse(stdout) as { Dir?: string; Error?: string }).Dir;
  if (!moduleDir) throw new Error(`go mod download sigs.k8s.io/kind@${release} gave no directory: ${stdout}`);
  const tree = join(dir, "src");
  await cp(moduleDir, tree, { recursive: true });
  await exec("chmod", ["-R", "u+w", tree]);
  // Under pkg/cluster/ so Go's internal-package rule admits pkg/cluster/internal/kubeadm.
  const pkg = join(tree, "pkg", "cluster", "iplabcheck");
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, "main.go"), source);
  await exec("go", ["build", "-o", bin, "./pkg/cluster/iplabcheck"], { cwd: tree, env, timeout: 900_000, maxBuffer: 8 * 2 ** 20 });
  await chmod(bin, 0o755);
  return bin;
}

export interface KindSourceResult {
  /** Kubernetes version → the patched kubeadm documents kind would write to /kind/kubeadm.conf. */
  documents: Record<string, Record<string, unknown>[]>;
  /** kind's view of the control-plane node's extraMounts ("host -> container ro=bool"). */
  mounts: string[];
}

/** Runs kind's loader, kubeadm template and patches on `configYaml` for each Kubernetes version. */
export async function runKindSourceChecker(bin: string, configFile: string, versions: string[]): Promise<KindSourceResult> {
  const { stdout, stderr } = await exec(bin, [configFile, ...versions], { maxBuffer: 8 * 2 ** 20 });
  const documents: KindSourceResult["documents"] = {};
  for (const part of stdout.split(/^=== /m).filter(Boolean)) {
    const nl = part.indexOf("\n");
    documents[part.slice(0, nl).trim()] = parseAllDocuments(part.slice(nl + 1)).map((d) => d.toJS() as Record<string, unknown>);
  }
  const mounts = [...new Set(stderr.split("\n").filter((l) => l.startsWith("extraMount ")).map((l) => l.slice("extraMount ".length)))];
  return { documents, mounts };
}
