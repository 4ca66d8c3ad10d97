// Which cluster, as whom, where: the kubeconfig file (flag, then KUBECONFIG, then ~/.kube/config, as
// kubectl looks), its context and the namespace. Everything is checked before the first request, and
// each problem names the flag (or variable) it came from.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { ConfigError } from "../util/errors.ts";

export interface ProbeTargetInput {
  /** `--kubeconfig`. */
  kubeconfig?: string;
  /** `--context`; default: the file's current-context. */
  context?: string;
  /** `--namespace`; default: the context's namespace, else `default`. */
  namespace?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface LoadedTarget {
  kubeConfig: KubeConfig;
  /** The file read, absolute. */
  file: string;
  context: string;
  server: string;
  namespace: string;
}

/** Loads and checks the kubeconfig; throws ConfigError naming `--kubeconfig`, `KUBECONFIG` or `--context`. */
export async function loadProbeTarget(o: ProbeTargetInput): Promise<LoadedTarget> {
  // kubectl merges every file KUBECONFIG lists; the probe reads the first, and says which.
  const fromEnv = o.env.KUBECONFIG?.split(delimiter).find(Boolean);
  const [label, given] = o.kubeconfig !== undefined ? ["--kubeconfig", o.kubeconfig] : fromEnv ? ["KUBECONFIG", fromEnv] : ["--kubeconfig", join(o.env.HOME ?? homedir(), ".kube", "config")];
  const file = resolve(o.cwd, given);
  const fail = (source: string, message: string): never => {
    throw new ConfigError([{ file: source, path: "", message }], "cannot use this kubeconfig");
  };
  await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => fail(label, `cannot read ${file}: ${err.code === "ENOENT" ? "no such file" : err.message}`));
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    fail(label, `${file} is not a usable kubeconfig: ${err instanceof Error ? err.message : String(err)}`);
  }
  const names = kc.getContexts().map((c) => c.name);
  if (o.context !== undefined) {
    if (!names.includes(o.context)) fail("--context", `no context "${o.context}" in ${file}; it has ${names.length ? names.map((n) => `"${n}"`).join(", ") : "none"}`);
    kc.setCurrentContext(o.context);
  }
  const context = kc.getCurrentContext();
  const ctx = kc.getContextObject(context);
  if (!ctx) fail(o.context !== undefined ? "--context" : label, `${file} has no current context${names.length ? `; choose one with --context (${names.join(", ")})` : ""}`);
  const server = kc.getCurrentCluster()?.server;
  if (!server) fail(label, `context "${context}" in ${file} names no cluster server`);
  return { kubeConfig: kc, file, context, server: server!, namespace: o.namespace ?? ctx!.namespace ?? "default" };
}
