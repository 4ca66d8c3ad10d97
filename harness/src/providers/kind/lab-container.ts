// What every container the lab starts on the kind network shares (the stub, OPA): labels that let
// `down` find leftovers, published ports on host loopback only, a readiness wait that verifies TLS
// with the lab's CA (testcontainers' own HTTP wait can only skip verification), and the Ryuk choice.
import { GenericContainer, type BoundPorts, type WaitStrategy } from "testcontainers";
import { LabError, WaitTimeoutError } from "../../util/errors.ts";
import { httpsRequest } from "../../util/https-get.ts";
import { sleep } from "../../util/wait.ts";
import { imagePresent, tryRun } from "./tools.ts";

/** Labels on every container we start, so leftovers after a crash can be found (`docker ps --filter label=…`). */
export const LAB_LABEL = "imagepolicy-lab.dev/component";
/** The lab's state directory, on every container it starts (`down --state-dir` without a state file). */
export const STATE_DIR_LABEL = "imagepolicy-lab.dev/state-dir";

/** A GenericContainer whose published ports bind to host loopback only (testcontainers binds all interfaces). */
export class LoopbackContainer extends GenericContainer {
  withLoopbackOnlyPorts(): this {
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {})) {
      for (const b of bindings as { HostIp?: string }[]) b.HostIp = "127.0.0.1";
    }
    return this;
  }
}

export interface TlsHealthCheck {
  /** What is waited for, in messages ("the stub container"). */
  what: string;
  /** Container port whose host mapping is asked. */
  port: number;
  /** Path asked with GET, e.g. /healthz. */
  path: string;
  caPem: string;
  /** Name the certificate is verified for. */
  servername: string;
  headers?: Record<string, string>;
  timeoutMs: number;
}

/** Waits for GET `path` on a published port to answer 200 over TLS verified against the lab's CA; fails early when the container exits. */
export class TlsHealthWait implements WaitStrategy {
  private timeoutMs: number;
  private set = false;
  constructor(private readonly check: TlsHealthCheck) {
    this.timeoutMs = check.timeoutMs;
  }
  withStartupTimeout(ms: number): this {
    this.timeoutMs = ms;
    this.set = true;
    return this;
  }
  isStartupTimeoutSet(): boolean {
    return this.set;
  }
  getStartupTimeout(): number {
    return this.timeoutMs;
  }
  async waitUntilReady(container: { id: string; inspect(): Promise<{ State: { Running: boolean; ExitCode: number } }> }, boundPorts: BoundPorts): Promise<void> {
    const c = this.check;
    const url = `https://127.0.0.1:${boundPorts.getBinding(c.port)}${c.path}`;
    const deadline = performance.now() + this.timeoutMs;
    let last = "";
    while (performance.now() < deadline) {
      const r = await httpsRequest(url, { caPem: c.caPem, servername: c.servername }, { timeoutMs: 2_000, headers: c.headers }).catch((e: Error) => ({ status: 0, error: e.message }));
      if (r.status === 200) return;
      last = "error" in r ? r.error : `HTTP ${r.status}`;
      const state = (await container.inspect()).State;
      if (!state.Running) {
        // Read now: testcontainers removes a container that failed its wait. Its own words say why
        // it exited (OPA: a policy that does not load).
        const logs = await tryRun("docker", ["logs", "--tail", "15", container.id]);
        const output = `${logs.stdout}${logs.stderr}`.trim();
        throw new LabError(`${c.what} exited (code ${state.ExitCode}) before ${url} answered; last: ${last}${output ? `\nits output:\n${output}` : ""}`);
      }
      await sleep(100);
    }
    throw new WaitTimeoutError(`${c.what} ${url} (TLS, verified with the lab CA)`, this.timeoutMs, last);
  }
}

/**
 * testcontainers starts its Ryuk reaper on first use and fails every start when the reaper image
 * cannot be pulled. Without the image here, Ryuk is switched off and our own teardown (cleanup
 * registry, stop()) removes the container. Returns what it decided, for the log.
 */
export async function configureRyuk(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.TESTCONTAINERS_RYUK_DISABLED !== undefined) return `TESTCONTAINERS_RYUK_DISABLED=${env.TESTCONTAINERS_RYUK_DISABLED} (set by the environment)`;
  const image = env.RYUK_CONTAINER_IMAGE || "testcontainers/ryuk:0.14.0";
  if (await imagePresent(image)) return `Ryuk (${image}) reaps the lab's containers if this process dies`;
  env.TESTCONTAINERS_RYUK_DISABLED = "true";
  return `Ryuk image ${image} is not present locally, so Ryuk is disabled; the lab's own teardown removes its containers`;
}
