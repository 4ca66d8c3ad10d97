// What the provider does inside a kind control-plane node (`docker exec <cluster>-control-plane …`):
// read the apiserver manifest, find the apiserver container, restart it by bumping a manifest
// annotation, and read component logs. Kept apart so the argv is testable without a cluster.
import { parse as parseYaml, parseDocument } from "yaml";
import { AUDIT_LOG_DIR_IN_NODE } from "../../kind/control-plane-patch.ts";
import { CommandError, LabError } from "../../util/errors.ts";
import { run, tryRun } from "./tools.ts";

export const APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml";
/** Annotation the provider bumps to make kubelet recreate the apiserver pod (kind-integration.md §8). */
export const RESTART_ANNOTATION = "imagepolicy-lab.dev/restarted-at";

export function controlPlaneNode(clusterName: string): string {
  return `${clusterName}-control-plane`;
}

/** Runs a command in the node; throws CommandError on failure. */
export async function nodeExec(node: string, argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run("docker", ["exec", ...(o.input !== undefined ? ["-i"] : []), node, ...argv], { input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
  return r.stdout;
}

interface StaticPod {
  metadata?: { annotations?: Record<string, string> };
  spec?: { containers?: Array<{ name?: string; command?: string[]; volumeMounts?: Array<{ mountPath?: string }> }> };
}

function apiserverContainer(manifest: string): NonNullable<NonNullable<StaticPod["spec"]>["containers"]>[number] | undefined {
  const pod = parseYaml(manifest) as StaticPod | null;
  return pod?.spec?.containers?.find((c) => c.name === "kube-apiserver" || c.command?.[0] === "kube-apiserver");
}

/** What a manifest must carry for our plugin setup; returns the missing items (empty = fine). */
export function missingFromManifest(manifest: string, extraArgs: Record<string, string>, mountPaths: string[]): string[] {
  const container = apiserverContainer(manifest);
  if (!container) return ["a kube-apiserver container"];
  const command = container.command ?? [];
  const mounts = (container.volumeMounts ?? []).map((m) => m.mountPath);
  return [
    ...Object.entries(extraArgs)
      .filter(([k, v]) => !command.includes(`--${k}=${v}`))
      .map(([k, v]) => `flag --${k}=${v}`),
    ...mountPaths.filter((p) => !mounts.includes(p)).map((p) => `volume mount ${p}`),
  ];
}

/**
 * Sets (or replaces) our restart annotation in a static pod manifest, editing it as YAML (comments and
 * order kept). kubelet recreates a static pod whose manifest content changed; rewriting identical
 * content does nothing, hence the counter value.
 */
export function bumpRestartAnnotation(manifest: string, value: string): string {
  const doc = parseDocument(manifest);
  if (doc.errors.length) throw new LabError(`${APISERVER_MANIFEST} is not valid YAML: ${doc.errors[0]!.message}`);
  if (!doc.get("metadata")) throw new LabError(`${APISERVER_MANIFEST} has no metadata`);
  doc.setIn(["metadata", "annotations", RESTART_ANNOTATION], value);
  return doc.toString();
}

export interface NodeContainer {
  id: string;
  /** The pod sandbox: a static pod whose manifest changed gets a new one. */
  podId: string;
}

/** The running container of `name` with its pod sandbox (crictl), or undefined. */
export async function runningContainer(node: string, name: string): Promise<NodeContainer | undefined> {
  const r = await tryRun("docker", ["exec", node, "crictl", "ps", "--name", name, "--state", "Running", "-o", "json"], { timeoutMs: 15_000 });
  if (!r.ok) return undefined;
  const c = (JSON.parse(r.stdout) as { containers?: Array<{ id: string; podSandboxId: string }> }).containers?.[0];
  return c ? { id: c.id, podId: c.podSandboxId } : undefined;
}

/** Stops a container in the node, sending SIGKILL after `graceSeconds`. */
export async function stopNodeContainer(node: string, id: string, graceSeconds: number): Promise<void> {
  await tryRun("docker", ["exec", node, "crictl", "stop", "--timeout", String(graceSeconds), id], { timeoutMs: 30_000 + graceSeconds * 1000 });
}

/**
 * Rewrites the manifest with a new annotation value. The temp file is written outside the manifests
 * directory, because kubelet would start any extra file there as a second pod; `mv` is atomic.
 */
export async function restartApiserverViaManifest(node: string, value: string): Promise<void> {
  const manifest = await nodeExec(node, ["cat", APISERVER_MANIFEST]);
  const next = bumpRestartAnnotation(manifest, value);
  await nodeExec(node, ["sh", "-c", `cat > /etc/kubernetes/.kube-apiserver.yaml.imagepolicy-lab && mv /etc/kubernetes/.kube-apiserver.yaml.imagepolicy-lab ${APISERVER_MANIFEST}`], { input: next });
}

/** Last lines of a component's log: a static pod container via crictl, or kubelet/containerd via journalctl. */
export async function componentLogs(node: string, component: string, tailLines: number): Promise<string> {
  if (component === "audit") {
    return nodeExec(node, ["tail", "-n", String(tailLines), `${AUDIT_LOG_DIR_IN_NODE}/audit.log`]);
  }
  if (component === "kubelet" || component === "containerd") {
    return nodeExec(node, ["journalctl", "-u", component, "--no-pager", "-n", String(tailLines)]);
  }
  const ids = await tryRun("docker", ["exec", node, "crictl", "ps", "-a", "--name", component, "-q"], { timeoutMs: 15_000 });
  const id = ids.stdout.trim().split("\n").filter(Boolean)[0];
  if (!ids.ok || !id) throw new CommandError(ids.argv, ids.exitCode ?? null, null, ids.stderr, `no container named ${component} in ${node}`);
  const r = await tryRun("docker", ["exec", node, "crictl", "logs", "--tail", String(tailLines), id], { timeoutMs: 15_000 });
  // crictl writes the container's stderr (where Kubernetes components log) to its own stderr.
  return [r.stdout, r.stderr].filter(Boolean).join("\n");
}
