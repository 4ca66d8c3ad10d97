// The stub backend as a container on the kind network: built from webhook-stub/ (build-context.ts,
// offline variant when the normal base image cannot be pulled), started with testcontainers under the
// alias the apiserver's webhook kubeconfig names, control port published on host loopback only, and
// ready when /healthz answers over TLS verified with the lab's CA (never `insecureTls`).
import { createHash } from "node:crypto";
import { request } from "node:https";
import { GenericContainer, type StartedTestContainer, type WaitStrategy, type BoundPorts } from "testcontainers";
import { prepareStubImageContext } from "../../../../webhook-stub/build-context.ts";
import { DEFAULT_POLICY } from "../../../../webhook-stub/src/policy.ts";
import { StubClient } from "../../../../webhook-stub/src/stub-client.ts";
import type { FaultSpec, StubControl, StubPolicy } from "../../../../webhook-stub/src/types.ts";
import { writeBackendPki } from "../common/backend-pki.ts";
import { LabError, WaitTimeoutError } from "../../util/errors.ts";
import { silentLogger, task, type Logger, type Progress } from "../../util/logger.ts";
import { sleep } from "../../util/wait.ts";
import type { BackendEndpoint } from "../provider.ts";
import { imagePresent, removeContainer, type Env } from "./tools.ts";

/** DNS name of the stub on the kind network; the webhook kubeconfig's server and a SAN of the serving certificate. */
export const STUB_ALIAS = "image-policy-stub";
/** Review port inside the container (reached by the apiserver over the kind network only). */
export const STUB_REVIEW_PORT = 8443;
/** Control port inside the container (published on 127.0.0.1 of the docker host only). */
export const STUB_CONTROL_PORT = 8444;
/** Where the certificates, token and policy go inside the container. */
export const STUB_FILES_DIR = "/etc/imagepolicy-stub";
/** Labels on every container we start, so leftovers after a crash can be found (`docker ps --filter label=…`). */
export const LAB_LABEL = "imagepolicy-lab.dev/component";

export interface StubContainerOptions {
  stateDir: string;
  network: string;
  policy?: StubPolicy;
  fault?: FaultSpec;
  mtls: boolean;
  /** Survive this process: testcontainers' Ryuk must not reap the container. */
  detached: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  env?: Env;
  /** Image to run; default: build it (cached by content hash). */
  image?: string;
  /** Budget for the container to answer /healthz. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface StartedStubContainer {
  endpoint: BackendEndpoint;
  control: StubControl;
  controlUrl: string;
  tokenFile: string;
  caFile: string;
  caPem: string;
  containerId: string;
  containerName: string;
  image: string;
  /** Milliseconds from `docker create` to /healthz answering. */
  startToHealthyMs: number;
  container: StartedTestContainer;
  stop(): Promise<void>;
}

/** The argv the stub image's entrypoint gets (the stub CLI's `serve` flags). */
export function stubServeArgs(o: { mtls: boolean; fault?: FaultSpec }): string[] {
  const f = (name: string) => `${STUB_FILES_DIR}/${name}`;
  return [
    "--host", "0.0.0.0",
    "--port", String(STUB_REVIEW_PORT),
    "--control-host", "0.0.0.0",
    "--control-port", String(STUB_CONTROL_PORT),
    "--cert", f("tls.crt"),
    "--key", f("tls.key"),
    "--token-file", f("control-token"),
    "--policy", f("policy.json"),
    ...(o.mtls ? ["--client-ca", f("client-ca.crt")] : []),
    ...(o.fault ? ["--fault", o.fault] : []),
  ];
}

/** A GenericContainer whose published ports bind to host loopback only (testcontainers binds all interfaces). */
class LoopbackContainer extends GenericContainer {
  withLoopbackOnlyPorts(): this {
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {})) {
      for (const b of bindings as { HostIp?: string }[]) b.HostIp = "127.0.0.1";
    }
    return this;
  }
}

/** Waits for GET /healthz on a published port with TLS verified against `caPem` (testcontainers' HTTP wait can only skip verification). */
class TlsHealthWait implements WaitStrategy {
  private timeoutMs: number;
  private set = false;
  constructor(
    private readonly port: number,
    private readonly caPem: string,
    private readonly servername: string,
    timeoutMs: number,
  ) {
    this.timeoutMs = timeoutMs;
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
  async waitUntilReady(container: { inspect(): Promise<{ State: { Running: boolean; ExitCode: number } }> }, boundPorts: BoundPorts): Promise<void> {
    const hostPort = boundPorts.getBinding(this.port);
    const url = `https://127.0.0.1:${hostPort}/healthz`;
    const deadline = performance.now() + this.timeoutMs;
    let last = "";
    while (performance.now() < deadline) {
      const r = await tlsGet(url, this.caPem, this.servername).catch((e: Error) => ({ status: 0, error: e.message }));
      if (r.status === 200) return;
      last = "error" in r ? r.error : `HTTP ${r.status}`;
      const state = (await container.inspect()).State;
      if (!state.Running) throw new LabError(`the stub container exited (code ${state.ExitCode}) before ${url} answered; last: ${last}`);
      await sleep(100);
    }
    throw new WaitTimeoutError(`stub ${url} (TLS, verified with the lab CA)`, this.timeoutMs, last);
  }
}

function tlsGet(url: string, caPem: string, servername: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, servername, timeout: 2_000, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on("timeout", () => req.destroy(new Error("timed out after 2000ms")));
    req.on("error", reject);
    req.end();
  });
}

/**
 * testcontainers starts its Ryuk reaper on first use and fails every start when the reaper image
 * cannot be pulled. Without the image here, Ryuk is switched off and our own teardown (cleanup
 * registry, stop()) removes the container. Returns what it decided, for the log.
 */
export async function configureRyuk(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.TESTCONTAINERS_RYUK_DISABLED !== undefined) return `TESTCONTAINERS_RYUK_DISABLED=${env.TESTCONTAINERS_RYUK_DISABLED} (set by the environment)`;
  const image = env.RYUK_CONTAINER_IMAGE || "testcontainers/ryuk:0.14.0";
  if (await imagePresent(image)) return `Ryuk (${image}) reaps the stub if this process dies`;
  env.TESTCONTAINERS_RYUK_DISABLED = "true";
  return `Ryuk image ${image} is not present locally, so Ryuk is disabled; the lab's own teardown removes the stub container`;
}

/** Builds the stub image unless an image with the same build context hash exists. Returns its tag. */
export async function buildStubImage(o: { logger?: Logger; progress?: Progress } = {}): Promise<string> {
  const logger = o.logger ?? silentLogger;
  return task(o.progress, "build the stub image", async (t) => {
    const ctx = await prepareStubImageContext({ logger });
    const tag = `imagepolicy-lab/webhook-stub:${ctx.contentHash ?? createHash("sha256").update(ctx.dir).digest("hex").slice(0, 12)}`;
    if (ctx.contentHash && (await imagePresent(tag))) {
      t.update(`reusing ${tag}`);
      return tag;
    }
    t.update(`${ctx.variant ?? "default"} variant from ${ctx.dir}`);
    await GenericContainer.fromDockerfile(ctx.dir, ctx.dockerfile).build(tag, { deleteOnExit: false });
    logger.debug(`built ${tag} (${ctx.variant ?? "default"} variant)`);
    return tag;
  });
}

/** Starts the stub container on `network` with alias STUB_ALIAS; resolves once /healthz answers over verified TLS. */
export async function startStubContainer(o: StubContainerOptions): Promise<StartedStubContainer> {
  const logger = o.logger ?? silentLogger;
  const policy = o.policy ?? DEFAULT_POLICY;
  for (const ns of ["kube-system", "local-path-storage"]) {
    if (!policy.namespaces[ns]) logger.warn(`the stub policy has no rules for namespace ${ns}: with defaultAllow false, kind's system pods may be denied and the node never becomes Ready (docs/kind.md)`);
  }
  logger.debug(await configureRyuk());
  const image = o.image ?? (await buildStubImage({ logger, progress: o.progress }));
  const pki = await writeBackendPki(o.stateDir, [STUB_ALIAS, "127.0.0.1", "localhost"], o.mtls);
  const name = `imagepolicy-lab-stub-${createHash("sha256").update(o.stateDir).digest("hex").slice(0, 8)}-${Date.now().toString(36)}`;
  const files = [
    { content: pki.serving.certPem, target: `${STUB_FILES_DIR}/tls.crt`, mode: 0o644 },
    { content: pki.serving.keyPem, target: `${STUB_FILES_DIR}/tls.key`, mode: 0o600 },
    { content: pki.token, target: `${STUB_FILES_DIR}/control-token`, mode: 0o600 },
    { content: JSON.stringify(policy, null, 2), target: `${STUB_FILES_DIR}/policy.json`, mode: 0o644 },
    ...(o.mtls ? [{ content: pki.caPem, target: `${STUB_FILES_DIR}/client-ca.crt`, mode: 0o644 }] : []),
  ];
  const budget = o.readyTimeoutMs ?? 60_000;
  return task(o.progress, "start the stub container", async () => {
    const t0 = performance.now();
    let container: StartedTestContainer;
    try {
      container = await new LoopbackContainer(image)
        .withName(name)
        .withLabels({ [LAB_LABEL]: "webhook-stub", "imagepolicy-lab.dev/state-dir": o.stateDir })
        .withNetworkMode(o.network)
        .withNetworkAliases(STUB_ALIAS)
        .withExposedPorts(STUB_CONTROL_PORT)
        .withLoopbackOnlyPorts()
        .withCopyContentToContainer(files)
        .withCommand(stubServeArgs({ mtls: o.mtls, fault: o.fault }))
        .withAutoCleanup(!o.detached)
        .withWaitStrategy(new TlsHealthWait(STUB_CONTROL_PORT, pki.caPem, "localhost", budget))
        .withStartupTimeout(budget)
        .start();
    } catch (err) {
      // testcontainers leaves a container that failed its wait; remove it by name.
      await removeContainer(name).catch(() => {});
      throw err;
    }
    const startToHealthyMs = performance.now() - t0;
    const controlUrl = `https://127.0.0.1:${container.getMappedPort(STUB_CONTROL_PORT)}`;
    let stopped = false;
    return {
      endpoint: {
        url: `https://${STUB_ALIAS}:${STUB_REVIEW_PORT}/review`,
        caPem: pki.caPem,
        client: pki.apiserverClient ? { certPem: pki.apiserverClient.certPem, keyPem: pki.apiserverClient.keyPem } : undefined,
      },
      control: new StubClient({ controlUrl, token: pki.token, caPem: pki.caPem }),
      controlUrl,
      tokenFile: pki.files.token,
      caFile: pki.files.ca,
      caPem: pki.caPem,
      containerId: container.getId(),
      containerName: name,
      image,
      startToHealthyMs,
      container,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        // testcontainers removes it after stopping; `docker rm -f` covers a container it lost track of.
        await container.stop({ timeout: 2_000 }).catch(() => {});
        await removeContainer(container.getId());
      },
    };
  });
}
