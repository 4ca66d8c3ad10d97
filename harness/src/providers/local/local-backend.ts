// The stub backend for the local provider, on loopback: in this process for runs and tests, or as
// a detached child process for `up`, so it outlives the command like the control plane does.
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { SERVE_CONFIG_API_VERSION, SERVE_CONFIG_KIND, STUB_NODE_FLAGS, type StubServeConfig } from "../../../../webhook-stub/src/main.ts";
import { formatPolicyYaml } from "../../../../webhook-stub/src/policy.ts";
import { startStub } from "../../../../webhook-stub/src/server.ts";
import { StubClient } from "../../../../webhook-stub/src/stub-client.ts";
import { processCleanup, type CleanupRegistry } from "../../util/cleanup.ts";
import { ManagedProcess } from "../../util/managed-process.ts";
import { task } from "../../util/logger.ts";
import { waitFor } from "../../util/wait.ts";
import { writeBackendPki } from "../common/backend-pki.ts";
import type { BackendStartOptions, StartedBackend } from "../provider.ts";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../../../", import.meta.url)));
/** How the apiserver reaches the stub: loopback by IP (the serving certificate carries it). */
const HOSTS = ["127.0.0.1", "localhost"];

export async function startLocalBackend(o: BackendStartOptions, cleanup: CleanupRegistry = processCleanup): Promise<StartedBackend> {
  return task(o.progress, "start stub backend", async () => {
    const pki = await writeBackendPki(o.stateDir, HOSTS, Boolean(o.mtls));
    const endpointFor = (url: string) => ({ url, caPem: pki.caPem, client: pki.apiserverClient });
    if (!o.detached) {
      const stub = await startStub({
        tls: { certPem: pki.serving.certPem, keyPem: pki.serving.keyPem, clientCaPem: o.mtls ? pki.caPem : undefined },
        controlToken: pki.token,
        policy: o.policy,
        fault: o.fault,
      });
      const { stop } = cleanup.own("stub backend", () => stub.stop());
      return {
        endpoint: endpointFor(stub.reviewUrl),
        control: stub.control,
        controlUrl: stub.controlUrl,
        tokenFile: pki.files.token,
        caFile: pki.files.ca,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    }
    // Detached: the same stub through `webhook-stub/src/main.ts serve`, configured by a file.
    const configFile = join(pki.dir, "stub-config.json");
    const readyFile = join(pki.dir, "ready.json");
    await rm(readyFile, { force: true });
    const policyFile = join(pki.dir, "policy.yaml");
    if (o.policy) await writeFile(policyFile, formatPolicyYaml(o.policy), { mode: 0o600 });
    const config: StubServeConfig = {
      apiVersion: SERVE_CONFIG_API_VERSION,
      kind: SERVE_CONFIG_KIND,
      listen: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      tls: { certFile: pki.files.cert, keyFile: pki.files.key, clientCAFile: o.mtls ? pki.files.ca : undefined },
      tokenFile: pki.files.token,
      policyFile: o.policy ? policyFile : undefined,
      fault: o.fault,
    };
    await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
    await mkdir(join(o.stateDir, "logs"), { recursive: true, mode: 0o700 });
    const node = process.execPath;
    const proc = await ManagedProcess.start({
      name: "stub",
      command: node,
      args: [...STUB_NODE_FLAGS, join(REPO_ROOT, "bin/imagepolicy-lab.mjs"), "stub", "serve", "--config", configFile, "--ready-file", readyFile],
      logFile: join(o.stateDir, "logs", "stub.log"),
      detached: true,
      cwd: REPO_ROOT,
    });
    // Until the lab facade holds the handle, a signal or a failed wait must still stop the process.
    const unregister = cleanup.add("stub backend (starting)", () => proc.stop());
    const ready = await waitFor(
      "stub backend ready file",
      async () => (existsSync(readyFile) ? (JSON.parse(await readFile(readyFile, "utf8")) as { reviewUrl: string; controlUrl: string }) : undefined),
      { timeoutMs: 30_000, intervalMs: 50, signal: o.signal, abortIf: () => proc.throwIfExited() },
    ).catch(async (err) => {
      unregister();
      await proc.assertRunning();
      await proc.stop();
      throw err;
    });
    unregister();
    const stop = () => proc.stop();
    return {
      endpoint: endpointFor(ready.reviewUrl),
      control: new StubClient({ controlUrl: ready.controlUrl, token: pki.token, caPem: pki.caPem }),
      controlUrl: ready.controlUrl,
      tokenFile: pki.files.token,
      caFile: pki.files.ca,
      record: { local: { stubPid: proc.pid } },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  });
}
