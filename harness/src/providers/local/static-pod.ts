// A kubelet's view of one static pod, for the local provider's opt-in `apiserverManifest` mode
// (training exercises, issue 14): the apiserver's command line lives in a kubeadm-style manifest the
// trainee edits; a watcher restarts the apiserver when the file changes, and a broken edit leaves it
// down with its log in the state dir, as on a real control-plane node.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { appendFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { stringify } from "yaml";
import { z } from "zod";
import { ConfigError } from "../../util/errors.ts";
import { parseYamlSource, zodIssues } from "../../util/yaml-source.ts";

/** Where the manifest lives in a state dir (kubeadm: /etc/kubernetes/manifests/kube-apiserver.yaml). */
export const APISERVER_MANIFEST = join("manifests", "kube-apiserver.yaml");
/** The watcher's own log: one timestamped line per event (kubeadm nodes: `journalctl -u kubelet`). */
export const KUBELET_LOG = join("logs", "kubelet.log");

export interface HostPathMount {
  /** Volume name in the manifest. */
  name: string;
  /** Host path, mounted at the same path in the "container" (the local apiserver sees the host). */
  path: string;
  type?: "Directory" | "DirectoryOrCreate" | "File" | "FileOrCreate";
  /** Default true; the logs directory is written (audit log). */
  readOnly?: boolean;
}

/** The control-plane components the lab runs as static pods. */
export type StaticPodComponent = "kube-apiserver" | "kube-controller-manager";

/** The manifest for `args` (the provider's apiserver flags), with `mounts` as hostPath volumes. */
export function renderApiserverManifest(args: readonly string[], mounts: readonly HostPathMount[]): string {
  return renderStaticPodManifest("kube-apiserver", args, mounts);
}

const HEADERS: Record<StaticPodComponent, string> = {
  "kube-apiserver": `# The lab's kube-apiserver, as a kubeadm static pod. Edit and save: the lab restarts the apiserver\n# within seconds (log: logs/kube-apiserver.log, restarts: ${KUBELET_LOG}). The apiserver reads the\n# admission files only when it starts: after editing one, \`touch\` this file to restart it.\n`,
  "kube-controller-manager": `# The lab's kube-controller-manager, as a kubeadm static pod (log: logs/kube-controller-manager.log).\n`,
};

export function renderStaticPodManifest(component: StaticPodComponent, args: readonly string[], mounts: readonly HostPathMount[]): string {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: component, namespace: "kube-system", labels: { component, tier: "control-plane" } },
    spec: {
      hostNetwork: true,
      containers: [
        {
          name: component,
          command: [component, ...args],
          volumeMounts: mounts.map((m) => ({ name: m.name, mountPath: m.path, readOnly: m.readOnly ?? true })),
        },
      ],
      volumes: mounts.map((m) => ({ name: m.name, hostPath: { path: m.path, ...(m.type ? { type: m.type } : {}) } })),
    },
  };
  return `${HEADERS[component]}${stringify(pod, { lineWidth: 0 })}`;
}

// Loose beyond what the watcher reads: real manifests carry many fields (probes, resources) it ignores.
const manifestSchema = z.looseObject({
  apiVersion: z.literal("v1"),
  kind: z.literal("Pod"),
  spec: z.looseObject({
    containers: z
      .array(
        z.looseObject({
          name: z.string(),
          command: z.array(z.string()).min(1),
          args: z.array(z.string()).optional(),
          volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).optional(),
        }),
      )
      .length(1, "the lab's apiserver pod has exactly one container"),
    volumes: z.array(z.looseObject({ name: z.string(), hostPath: z.looseObject({ path: z.string() }).optional() })).optional(),
  }),
});

export interface ParsedManifest {
  /** Arguments after `kube-apiserver` (command, then args). */
  args: string[];
  /** Host paths mounted into the container (a volumeMount naming a hostPath volume). */
  mounted: string[];
}

/** Reads the apiserver's command line from a manifest; problems are ConfigErrors naming file:line. */
export function parseApiserverManifest(file: string, text: string): ParsedManifest {
  return parseStaticPodManifest(file, text, "kube-apiserver");
}

export function parseStaticPodManifest(file: string, text: string, component: StaticPodComponent): ParsedManifest {
  const src = parseYamlSource(file, text);
  const r = manifestSchema.safeParse(src.value);
  if (!r.success) throw new ConfigError(zodIssues(src, r.error), `invalid static pod manifest ${file}`);
  const c = r.data.spec.containers[0]!;
  if (c.command[0] !== component) {
    throw new ConfigError([{ file, line: src.lineOf(["spec", "containers", 0, "command", 0]), path: "spec.containers.0.command.0", message: `expected ${component}, got ${JSON.stringify(c.command[0])}` }], `invalid static pod manifest ${file}`);
  }
  const volumes = new Map((r.data.spec.volumes ?? []).flatMap((v) => (v.hostPath ? [[v.name, v.hostPath.path] as const] : [])));
  const mounted = (c.volumeMounts ?? []).flatMap((m) => (volumes.get(m.name) === m.mountPath ? [m.mountPath] : []));
  return { args: [...c.command.slice(1), ...(c.args ?? [])], mounted };
}

/**
 * Absolute paths in flag values that no volume mounts: inside a real pod these files do not exist.
 * Only paths under `root` (the state dir) count, so the lab's binaries and /tmp stay out of it.
 */
export function unmountedPaths(parsed: ParsedManifest, root: string): string[] {
  const inside = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
  return parsed.args
    .flatMap((a) => /^--[^=]+=(.*)$/.exec(a)?.[1]?.split(",") ?? [])
    .filter((v) => v.startsWith("/") && inside(v, root) && !parsed.mounted.some((m) => inside(v, m)));
}

export interface StaticPodWatcherOptions {
  manifestFile: string;
  /** Default kube-apiserver. */
  component?: StaticPodComponent;
  /** The binary that the component's name in the manifest's command means. */
  binary: string;
  /** The apiserver's output (appended; each start begins with a `==== kubelet:` line). */
  logFile: string;
  /** The watcher's event lines (appended). */
  statusFile: string;
  /** Paths under this directory must be mounted by the manifest (the state dir). */
  root: string;
  /** How often the manifest is read. Default 250 ms: polling, because editors replace files (fs.watch loses them). */
  pollIntervalMs?: number;
  /** First restart delay after a crash, doubled per crash up to 4 s (kubelet's CrashLoopBackOff, shortened for a lab). Default 500 ms. */
  crashBackoffMs?: number;
}

/** Runs the apiserver from the manifest, like a kubelet: restart on change, restart with backoff on a crash. */
export class StaticPodWatcher {
  private child: ChildProcess | undefined;
  private childExit: Promise<void> = Promise.resolve();
  private applied: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private crashes = 0;
  private restartAt: number | undefined;
  private stopped = false;
  private launches = 0;

  private readonly name: StaticPodComponent;

  constructor(private readonly o: StaticPodWatcherOptions) {
    this.name = o.component ?? "kube-apiserver";
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.o.statusFile), { recursive: true });
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.pollIntervalMs ?? 250);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.kill();
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const text = await readFile(this.o.manifestFile, "utf8").catch(() => undefined);
      // The modification time counts too: `touch` restarts the apiserver (to reread admission files).
      const mtime = text === undefined ? undefined : await stat(this.o.manifestFile).then((s) => s.mtimeMs, () => 0);
      const key = text === undefined ? undefined : `${mtime}\0${text}`;
      if (key !== this.applied) {
        const first = this.applied === undefined && this.launches === 0;
        this.applied = key;
        this.crashes = 0;
        this.restartAt = undefined;
        if (!first) await this.status(text === undefined ? "manifest removed: stopping" : "manifest changed: restarting");
        await this.kill();
        if (text !== undefined) await this.launch(text);
      } else if (text !== undefined && !this.child && this.restartAt !== undefined && Date.now() >= this.restartAt) {
        this.restartAt = undefined;
        await this.launch(text);
      }
    } finally {
      this.busy = false;
    }
  }

  private async launch(text: string): Promise<void> {
    let parsed: ParsedManifest;
    try {
      parsed = parseStaticPodManifest(this.o.manifestFile, text, this.name);
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues.map((i) => `${i.file}:${i.line ?? "?"}: ${i.path ? `${i.path}: ` : ""}${i.message}`) : [(err as Error).message];
      await this.status(`not started: the manifest is invalid: ${issues.join("; ")}`);
      return;
    }
    this.launches++;
    await appendFile(this.o.logFile, `==== kubelet: ${new Date().toISOString()} starting ${this.name} (start ${this.launches})\n`);
    const missing = unmountedPaths(parsed, this.o.root);
    if (missing.length) {
      // What the apiserver itself would say in a container without the file.
      await appendFile(this.o.logFile, `Error: open ${missing[0]}: no such file or directory\n`);
      await this.status(`exited at once: ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not mounted into the pod (add a hostPath volume and a volumeMount); see ${this.o.logFile}`);
      this.scheduleRestart();
      return;
    }
    const fd = openSync(this.o.logFile, "a", 0o600);
    try {
      // Same process group as the watcher: stopping the watcher's group stops the apiserver too.
      const child = spawn(this.o.binary, parsed.args, { stdio: ["ignore", fd, fd] });
      this.child = child;
      this.childExit = new Promise((resolve) => {
        child.once("error", () => resolve());
        child.once("exit", (code, signal) => {
          if (this.child === child) {
            this.child = undefined;
            if (!this.stopped) {
              void this.status(`exited (${signal ?? `code ${code}`}); see ${basename(this.o.logFile)}`);
              this.scheduleRestart();
            }
          }
          resolve();
        });
      });
      await this.status(`started (pid ${child.pid})`);
    } finally {
      closeSync(fd);
    }
  }

  private scheduleRestart(): void {
    const delay = Math.min((this.o.crashBackoffMs ?? 500) * 2 ** this.crashes, 4_000);
    this.crashes++;
    this.restartAt = Date.now() + delay;
    void this.status(`restarting in ${delay} ms (crash ${this.crashes})`);
  }

  private async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    // The lab's apiserver keeps no state (etcd does): no graceful shutdown to wait for.
    child.kill("SIGKILL");
    await this.childExit;
  }

  private status(line: string): Promise<void> {
    return appendFile(this.o.statusFile, `${new Date().toISOString()} ${this.name}: ${line}\n`).catch(() => undefined);
  }
}

/** Writes a component's manifest for a lab (creating manifests/). */
export async function writeStaticPodManifest(stateDir: string, component: StaticPodComponent, args: readonly string[], mounts: readonly HostPathMount[]): Promise<string> {
  const file = join(stateDir, "manifests", `${component}.yaml`);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, renderStaticPodManifest(component, args, mounts), { mode: 0o600 });
  return file;
}

const REPO_ROOT = join(dirname(new URL(import.meta.url).pathname), "../../../..");

/**
 * Writes the manifest and returns how to start its watcher, which the provider records as the lab's
 * kube-apiserver process (its output: logs/kubelet.log; the apiserver's: logs/kube-apiserver.log).
 */
export async function staticPodApiserver(o: { stateDir: string; binary: string; args: readonly string[]; admissionDir: string; auditPolicyFile: string }): Promise<{ command: string; args: string[]; logFile: string }> {
  return staticPodLaunch(o.stateDir, "kube-apiserver", o.binary, o.args, [
    { name: "k8s-certs", path: join(o.stateDir, "pki"), type: "DirectoryOrCreate" },
    { name: "admission", path: o.admissionDir, type: "DirectoryOrCreate" },
    { name: "audit-policy", path: o.auditPolicyFile, type: "File" },
    { name: "logs", path: join(o.stateDir, "logs"), type: "DirectoryOrCreate", readOnly: false },
  ]);
}

/**
 * The controller-manager as a static pod too: like a kubelet, the watcher restarts it when it exits
 * (it exits when the apiserver goes away while it starts, which a trainee's broken edit causes).
 */
export function staticPodControllerManager(o: { stateDir: string; binary: string; args: readonly string[] }): Promise<{ command: string; args: string[]; logFile: string }> {
  return staticPodLaunch(o.stateDir, "kube-controller-manager", o.binary, o.args, [{ name: "k8s-certs", path: join(o.stateDir, "pki"), type: "DirectoryOrCreate" }]);
}

async function staticPodLaunch(stateDir: string, component: StaticPodComponent, binary: string, args: readonly string[], mounts: HostPathMount[]): Promise<{ command: string; args: string[]; logFile: string }> {
  const manifest = await writeStaticPodManifest(stateDir, component, args, mounts);
  return {
    command: process.execPath,
    args: [join(REPO_ROOT, "bin/run-ts.mjs"), join(REPO_ROOT, "harness/src/providers/local/static-pod-main.ts"), manifest, binary, join(stateDir, "logs", `${component}.log`), join(stateDir, KUBELET_LOG), stateDir, component],
    logFile: join(stateDir, "logs", `kubelet-${component}.log`),
  };
}
