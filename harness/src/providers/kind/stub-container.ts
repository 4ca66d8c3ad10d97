// The stub backend as a container on the kind network: built from webhook-stub/ (build-context.ts,
// offline variant when the normal base image cannot be pulled), started with testcontainers under the
// alias the apiserver's webhook kubeconfig names, control port published on host loopback only, and
// ready when /healthz answers over TLS verified with the lab's CA (never `insecureTls`).
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { GenericContainer, type StartedTestContainer } from "testcontainers";
import { DEFAULT_POLICY, formatPolicyYaml } from "../../../../webhook-stub/src/policy.ts";
import { SERVE_CONFIG_API_VERSION, SERVE_CONFIG_KIND, type StubServeConfig } from "../../../../webhook-stub/src/main.ts";
import { StubClient } from "../../../../webhook-stub/src/stub-client.ts";
import type { FaultSpec, StubControl, StubPolicy } from "../../../../webhook-stub/src/types.ts";
import { writeBackendPki } from "../common/backend-pki.ts";
import { ConfigError } from "../../util/errors.ts";
import { silentLogger, task, type Logger, type Progress } from "../../util/logger.ts";
import type { BackendEndpoint } from "../provider.ts";
import { configureRyuk, LAB_LABEL, LoopbackContainer, STATE_DIR_LABEL, TlsHealthWait } from "./lab-container.ts";
import { OPA_ALIAS, STUB_ALIAS } from "./stub-alias.ts";
import { imagePresent, removeContainer, type Env } from "./tools.ts";

export { STUB_ALIAS };
/** Review port inside the container (reached by the apiserver over the kind network only). */
export const STUB_REVIEW_PORT = 8443;
/** Control port inside the container (published on 127.0.0.1 of the docker host only). */
export const STUB_CONTROL_PORT = 8444;
/** Where the certificates, token and policy go inside the container. */
export const STUB_FILES_DIR = "/etc/imagepolicy-lab-stub";

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

/**
 * The stub's `serve` config inside the container (webhook-stub/src/main.ts): both listeners on all
 * container interfaces (the review port is reached over the kind network, the control port through
 * a loopback-only port mapping), files under STUB_FILES_DIR.
 */
export function stubServeConfig(o: { mtls: boolean; fault?: FaultSpec }): StubServeConfig {
  const f = (name: string) => `${STUB_FILES_DIR}/${name}`;
  return {
    apiVersion: SERVE_CONFIG_API_VERSION,
    kind: SERVE_CONFIG_KIND,
    listen: { host: "0.0.0.0", port: STUB_REVIEW_PORT },
    control: { host: "0.0.0.0", port: STUB_CONTROL_PORT },
    tls: { certFile: f("tls.crt"), keyFile: f("tls.key"), ...(o.mtls ? { clientCAFile: f("client-ca.crt") } : {}) },
    tokenFile: f("control-token"),
    policyFile: f("policy.yaml"),
    ...(o.fault ? { fault: o.fault } : {}),
  };
}

/** The argv after the image's entrypoint (`node /app/stub.mjs serve`), matching the Dockerfile's CMD. */
export const STUB_SERVE_ARGS = ["--config", `${STUB_FILES_DIR}/config.json`] as const;

/** The stub Dockerfile's default base (webhook-stub/Dockerfile `ARG BASE`). */
export const STUB_DEFAULT_BASE_IMAGE = "node:24-bookworm-slim";

export type StubImageVariant = "default" | "offline";

/**
 * Which stub image to build. `IMAGEPOLICY_LAB_STUB_IMAGE_VARIANT` = `default` (FROM the Node base
 * image; docker pulls it if needed), `offline` (FROM scratch with the project's own Node binary), or
 * `auto` (the default): `default` only when the base image is already present, so nothing is pulled.
 */
export async function chooseStubImageVariant(env: Env = process.env): Promise<{ variant: StubImageVariant; why: string }> {
  const asked = env.IMAGEPOLICY_LAB_STUB_IMAGE_VARIANT?.trim().toLowerCase() || "auto";
  if (asked === "default" || asked === "offline") return { variant: asked, why: `IMAGEPOLICY_LAB_STUB_IMAGE_VARIANT=${asked}` };
  if (asked !== "auto") throw new ConfigError([{ file: "$IMAGEPOLICY_LAB_STUB_IMAGE_VARIANT", path: "", message: `expected auto, default or offline; got "${asked}"` }]);
  return (await imagePresent(STUB_DEFAULT_BASE_IMAGE))
    ? { variant: "default", why: `${STUB_DEFAULT_BASE_IMAGE} is present locally` }
    : { variant: "offline", why: `${STUB_DEFAULT_BASE_IMAGE} is not present locally (and is not pulled): FROM scratch with the project's Node binary` };
}

/**
 * Builds the stub image (webhook-stub/build-context.ts) unless one with the same content exists. The
 * tag is a hash of the bundle, the Dockerfile, the build args and the Node binary's identity, so an
 * unchanged stub is never rebuilt. Returns the tag.
 */
export async function buildStubImage(o: { logger?: Logger; progress?: Progress; env?: Env } = {}): Promise<string> {
  const logger = o.logger ?? silentLogger;
  return task(o.progress, "build the stub image", async (t) => {
    const { variant, why } = await chooseStubImageVariant(o.env);
    logger.debug(`stub image variant ${variant}: ${why}`);
    // testcontainers' build() starts the reaper too.
    logger.debug(await configureRyuk());
    // Loaded lazily: the build helper runs esbuild, which only image builds need.
    const { prepareStubImageContext } = await import("../../../../webhook-stub/build-context.ts");
    const dir = await mkdtemp(join(tmpdir(), "iplab-stub-image-"));
    try {
      const ctx = await prepareStubImageContext(join(dir, "context"), { offline: variant === "offline" });
      const hash = createHash("sha256");
      hash.update(await readFile(ctx.bundle)).update(await readFile(ctx.dockerfile)).update(JSON.stringify(ctx.buildArgs));
      if (ctx.nodeBinary) {
        const st = await stat(ctx.nodeBinary);
        hash.update(`${st.size}:${ctx.libraries.join(",")}`);
      }
      const tag = `imagepolicy-lab/webhook-stub:${variant}-${hash.digest("hex").slice(0, 16)}`;
      if (await imagePresent(tag)) {
        t.update(`reusing ${tag}`);
        return tag;
      }
      t.update(`docker build (${variant})`);
      await GenericContainer.fromDockerfile(ctx.dir, basename(ctx.dockerfile)).withBuildArgs(ctx.buildArgs).build(tag, { deleteOnExit: false });
      logger.debug(`built ${tag}`);
      return tag;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
  const image = o.image ?? (await buildStubImage({ logger, progress: o.progress, env: o.env }));
  // OPA (the opa mechanism) serves with the same certificate under its own alias.
  const pki = await writeBackendPki(o.stateDir, [STUB_ALIAS, OPA_ALIAS, "127.0.0.1", "localhost"], o.mtls);
  const name = `imagepolicy-lab-stub-${createHash("sha256").update(o.stateDir).digest("hex").slice(0, 8)}-${Date.now().toString(36)}`;
  // All 0644: the image may run as a non-root user, and testcontainers copies files as root. They are
  // readable only inside this single-process container; the host copies under <stateDir>/backend stay 0600.
  const files = [
    { content: pki.serving.certPem, target: `${STUB_FILES_DIR}/tls.crt`, mode: 0o644 },
    { content: pki.serving.keyPem, target: `${STUB_FILES_DIR}/tls.key`, mode: 0o644 },
    { content: pki.token, target: `${STUB_FILES_DIR}/control-token`, mode: 0o644 },
    { content: formatPolicyYaml(policy), target: `${STUB_FILES_DIR}/policy.yaml`, mode: 0o644 },
    { content: JSON.stringify(stubServeConfig({ mtls: o.mtls, fault: o.fault }), null, 2), target: `${STUB_FILES_DIR}/config.json`, mode: 0o644 },
    ...(o.mtls ? [{ content: pki.caPem, target: `${STUB_FILES_DIR}/client-ca.crt`, mode: 0o644 }] : []),
  ];
  const budget = o.readyTimeoutMs ?? 60_000;
  // The host copies of the serving key and control token (0600) live as long as the container.
  const removePki = () => rm(pki.dir, { recursive: true, force: true });
  return task(o.progress, "start the stub container", async () => {
    const t0 = performance.now();
    let container: StartedTestContainer;
    try {
      container = await new LoopbackContainer(image)
        .withName(name)
        .withLabels({ [LAB_LABEL]: "webhook-stub", [STATE_DIR_LABEL]: o.stateDir })
        .withNetworkMode(o.network)
        .withNetworkAliases(STUB_ALIAS)
        .withExposedPorts(STUB_CONTROL_PORT)
        .withLoopbackOnlyPorts()
        .withCopyContentToContainer(files)
        .withCommand([...STUB_SERVE_ARGS])
        .withAutoCleanup(!o.detached)
        .withWaitStrategy(new TlsHealthWait({ what: "the stub container", port: STUB_CONTROL_PORT, path: "/healthz", caPem: pki.caPem, servername: "localhost", timeoutMs: budget }))
        .withStartupTimeout(budget)
        .start();
    } catch (err) {
      // testcontainers leaves a container that failed its wait; remove it by name.
      await removeContainer(name).catch(() => {});
      await removePki().catch(() => {});
      throw err;
    }
    const startToHealthyMs = performance.now() - t0;
    const controlUrl = `https://127.0.0.1:${container.getMappedPort(STUB_CONTROL_PORT)}`;
    // Every caller of stop(), a concurrent one included, waits for the same removal.
    let stopping: Promise<void> | undefined;
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
      stop: () =>
        (stopping ??= (async () => {
          // testcontainers removes it after stopping; `docker rm -f` covers a container it lost track of.
          await container.stop({ timeout: 2_000 }).catch(() => {});
          await removeContainer(container.getId());
          await removePki();
        })()),
    };
  });
}
