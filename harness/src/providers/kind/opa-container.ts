// The opa mechanism's OPA server on kind: a container on the kind network under OPA_ALIAS, serving
// with the backend's certificate (which carries that alias), its data API published on host
// loopback only and behind the lab's token (opa-server.ts), like the local provider's process.
//
// The image (opa-image/) is the lab's stub image plus the `opa` binary the lab built from OPA's Go
// module and a small supervisor as PID 1: "OPA down" stops the opa process while the container keeps
// its name and address, so the apiserver sees a refused connection, as on the local provider.
// Policies, certificates and the authz policy are copied in at create time; the image holds none.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GenericContainer, type StartedTestContainer } from "testcontainers";
import { opaPolicyFiles, OPA_VERSION } from "../../opa/index.ts";
import { newOpaToken, OpaDataClient, opaAuthzPolicy, opaServerArgs, opaTokenDigest } from "../../opa/opa-server.ts";
import { LabError } from "../../util/errors.ts";
import { silentLogger, task, type Logger, type Progress } from "../../util/logger.ts";
import { waitFor } from "../../util/wait.ts";
import { backendPkiFiles } from "../common/backend-pki.ts";
import type { UserRegoPolicy } from "../../opa/byo-policy.ts";
import { configureRyuk, LAB_LABEL, LoopbackContainer, STATE_DIR_LABEL, TlsHealthWait } from "./lab-container.ts";
import { OPA_ALIAS } from "./stub-alias.ts";
import { buildStubImage } from "./stub-container.ts";
import { imagePresent, removeContainer, tryRun, type Env } from "./tools.ts";

/** OPA's port inside the container: the apiserver reaches it over the kind network, the lab through a loopback-only mapping. */
export const OPA_PORT = 8181;
/** Where the certificates and policies go inside the container. */
export const OPA_FILES_DIR = "/etc/imagepolicy-lab-opa";
/** The image's build files (Dockerfile, supervisor.mjs). */
const IMAGE_DIR = fileURLToPath(new URL("./opa-image/", import.meta.url));
/** How long OPA may take to stop or to answer /health again after a supervisor signal. */
const SWITCH_BUDGET_MS = 30_000;

export interface OpaContainerOptions {
  stateDir: string;
  network: string;
  /** The opa binary to put in the image (ensureOpa). */
  opaBinary: string;
  userPolicy?: UserRegoPolicy;
  /** Survive this process (`up`): testcontainers must not reap it. */
  detached: boolean;
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
  env?: Env;
  /** Budget for OPA to answer /health. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface StartedOpaContainer {
  /** Base URL as the apiserver reaches it: https://imagepolicy-lab-opa:8181. */
  url: string;
  /** OPA as this host reaches it (the loopback mapping), for the data API. */
  hostUrl: string;
  caPem: string;
  caFile: string;
  tokenFile: string;
  containerId: string;
  image: string;
  client: OpaDataClient;
  /** Stops the opa process; the container keeps running (idempotent). */
  pause(): Promise<void>;
  /** Starts it again and waits until it answers (a no-op when it does). */
  resume(): Promise<void>;
  /** Keeps OPA's log in `<stateDir>/logs/opa.log`, then removes the container (idempotent). */
  stop(): Promise<void>;
}

/** The sha256 of a file, streamed (the opa binary is ~60 MB). */
async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Builds the OPA image on top of the stub image unless one with the same content exists. The tag
 * hashes the opa binary, the build files and the base image, so an unchanged OPA is never rebuilt.
 */
export async function buildOpaImage(o: { opaBinary: string; logger?: Logger; progress?: Progress; env?: Env }): Promise<string> {
  const base = await buildStubImage({ logger: o.logger, progress: o.progress, env: o.env });
  return task(o.progress, "build the OPA image", async (t) => {
    const dockerfile = await readFile(join(IMAGE_DIR, "Dockerfile"));
    const supervisor = await readFile(join(IMAGE_DIR, "supervisor.mjs"));
    const hash = createHash("sha256").update(await fileDigest(o.opaBinary)).update(dockerfile).update(supervisor).update(base);
    const tag = `imagepolicy-lab/opa:${OPA_VERSION.slice(1)}-${hash.digest("hex").slice(0, 16)}`;
    if (await imagePresent(tag)) {
      t.update(`reusing ${tag}`);
      return tag;
    }
    const dir = await mkdtemp(join(tmpdir(), "iplab-opa-image-"));
    try {
      await writeFile(join(dir, "Dockerfile"), dockerfile);
      await writeFile(join(dir, "supervisor.mjs"), supervisor);
      await copyFile(o.opaBinary, join(dir, "opa"));
      t.update(`docker build ${tag}`);
      await GenericContainer.fromDockerfile(dir).withBuildArgs({ BASE: base }).build(tag, { deleteOnExit: false });
      o.logger?.debug(`built ${tag} FROM ${base}`);
      return tag;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/** Starts OPA on `network` under OPA_ALIAS; resolves once /health answers over verified TLS with the token. */
export async function startOpaContainer(o: OpaContainerOptions): Promise<StartedOpaContainer> {
  const logger = o.logger ?? silentLogger;
  logger.debug(await configureRyuk());
  const image = await buildOpaImage({ opaBinary: o.opaBinary, logger, progress: o.progress, env: o.env });
  const pki = backendPkiFiles(o.stateDir);
  const [caPem, certPem, keyPem] = await Promise.all([readFile(pki.ca, "utf8"), readFile(pki.cert, "utf8"), readFile(pki.key, "utf8")]);
  const dir = join(o.stateDir, "opa");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(join(o.stateDir, "logs"), { recursive: true, mode: 0o700 });
  const token = newOpaToken();
  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, token, { mode: 0o600 });
  const authz = opaAuthzPolicy(opaTokenDigest(token));
  await writeFile(join(dir, "authz.rego"), authz, { mode: 0o600 });

  const inside = (name: string) => `${OPA_FILES_DIR}/${name}`;
  // The shipped policies, or the user's own with the wrapper that makes it an AdmissionReview.
  const policies: { name: string; content: string }[] = o.userPolicy
    ? [
        { name: `policy/${basename(o.userPolicy.file)}`, content: await readFile(o.userPolicy.file, "utf8") },
        { name: "policy/byo-wrapper.rego", content: o.userPolicy.wrapper },
      ]
    : await Promise.all((await opaPolicyFiles()).map(async (f) => ({ name: `policy/${basename(f)}`, content: await readFile(f, "utf8") })));
  // 0644 inside: the image runs as a non-root user and testcontainers copies as root. Only this
  // single-process container reads them; the host copies under <stateDir> stay 0600.
  const files = [
    { content: certPem, target: inside("tls.crt"), mode: 0o644 },
    { content: keyPem, target: inside("tls.key"), mode: 0o644 },
    { content: authz, target: inside("authz.rego"), mode: 0o644 },
    ...policies.map((p) => ({ content: p.content, target: inside(p.name), mode: 0o644 })),
  ];
  const args = opaServerArgs({
    addr: `0.0.0.0:${OPA_PORT}`,
    certFile: inside("tls.crt"),
    keyFile: inside("tls.key"),
    modules: [...policies.map((p) => inside(p.name)), inside("authz.rego")],
    v0Compatible: o.userPolicy?.v0Compatible,
  });
  const name = `imagepolicy-lab-opa-${createHash("sha256").update(o.stateDir).digest("hex").slice(0, 8)}-${randomBytes(3).toString("hex")}`;
  const budget = o.readyTimeoutMs ?? 60_000;
  const auth = { authorization: `Bearer ${token}` };
  return task(o.progress, "start the OPA container", async () => {
    let container: StartedTestContainer;
    try {
      container = await new LoopbackContainer(image)
        .withName(name)
        .withLabels({ [LAB_LABEL]: "opa", [STATE_DIR_LABEL]: o.stateDir })
        .withNetworkMode(o.network)
        .withNetworkAliases(OPA_ALIAS)
        .withExposedPorts(OPA_PORT)
        .withLoopbackOnlyPorts()
        .withCopyContentToContainer(files)
        .withCommand(args)
        .withAutoCleanup(!o.detached)
        .withWaitStrategy(new TlsHealthWait({ what: "the OPA container", port: OPA_PORT, path: "/health", caPem, servername: "localhost", headers: auth, timeoutMs: budget }))
        .withStartupTimeout(budget)
        .start();
    } catch (err) {
      // A policy that does not load makes OPA exit at once; the wait's error carries its output.
      await removeContainer(name).catch(() => {});
      throw err;
    }
    const id = container.getId();
    const hostUrl = `https://127.0.0.1:${container.getMappedPort(OPA_PORT)}`;
    const client = new OpaDataClient({ url: hostUrl, token, caPem });
    const health = () => client.health().catch(() => 0);
    const signal = async (sig: "SIGUSR2" | "SIGHUP") => {
      const r = await tryRun("docker", ["kill", "--signal", sig, id]);
      if (!r.ok) throw new LabError(`docker kill --signal ${sig} ${name} failed: ${r.stderr.trim()}`);
    };
    let stopping: Promise<void> | undefined;
    return {
      url: `https://${OPA_ALIAS}:${OPA_PORT}`,
      hostUrl,
      caPem,
      caFile: pki.ca,
      tokenFile,
      containerId: id,
      image,
      client,
      async pause() {
        if ((await health()) === 0) return;
        await signal("SIGUSR2");
        await waitFor("OPA to stop in its container", async () => ((await health()) === 0 ? true : undefined), { timeoutMs: SWITCH_BUDGET_MS, intervalMs: 50, signal: o.signal });
      },
      async resume() {
        if ((await health()) === 200) return;
        await signal("SIGHUP");
        await waitFor(`OPA on ${hostUrl}/health again`, async () => ((await health()) === 200 ? true : undefined), { timeoutMs: SWITCH_BUDGET_MS, intervalMs: 50, signal: o.signal });
      },
      stop: () =>
        (stopping ??= (async () => {
          // OPA's log outlives the container, like the local provider's opa.log.
          const log = await tryRun("docker", ["logs", id]);
          if (log.ok) await writeFile(join(o.stateDir, "logs", "opa.log"), `${log.stdout}${log.stderr}`, { mode: 0o600 }).catch(() => {});
          await container.stop({ timeout: 2_000 }).catch(() => {});
          await removeContainer(id);
        })()),
    };
  });
}
