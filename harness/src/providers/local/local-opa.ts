// The opa mechanism's OPA server for the local provider: `opa run --server` as a process on
// loopback, serving with the backend's certificate (signed by the backend CA, SAN 127.0.0.1), its
// data and policy APIs behind a random token (opa-server.ts). Detached for `up`, so it outlives the
// command like the stub; recorded in the state file so `down` stops it.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureOpa, opaPolicyFiles } from "../../opa/index.ts";
import { newOpaToken, OpaDataClient, opaAuthzPolicy, opaServerArgs, opaTokenDigest } from "../../opa/opa-server.ts";
import { processCleanup, type CleanupRegistry } from "../../util/cleanup.ts";
import { task } from "../../util/logger.ts";
import { ManagedProcess } from "../../util/managed-process.ts";
import { freePort } from "../../util/ports.ts";
import { waitFor } from "../../util/wait.ts";
import { backendPkiFiles } from "../common/backend-pki.ts";
import { readLabState, writeLabState } from "../lab-state.ts";
import type { OpaStartOptions, StartedOpa } from "../provider.ts";

/** How long OPA may take to load the policies and answer /health (measured: well under a second). */
const OPA_READY_BUDGET_MS = 30_000;

export async function startLocalOpa(o: OpaStartOptions, cleanup: CleanupRegistry = processCleanup): Promise<StartedOpa> {
  const binary = await ensureOpa({ env: o.env, logger: o.logger, progress: o.progress, signal: o.signal });
  return task(o.progress, "start OPA", async () => {
    const pki = backendPkiFiles(o.stateDir);
    const caPem = await readFile(pki.ca, "utf8");
    const dir = join(o.stateDir, "opa");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await mkdir(join(o.stateDir, "logs"), { recursive: true, mode: 0o700 });
    const token = newOpaToken();
    const tokenFile = join(dir, "token");
    const authzFile = join(dir, "authz.rego");
    await writeFile(tokenFile, token, { mode: 0o600 });
    await writeFile(authzFile, opaAuthzPolicy(opaTokenDigest(token)), { mode: 0o600 });
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    // A user's own policy replaces the shipped one, with the wrapper that makes it an AdmissionReview.
    let modules = await opaPolicyFiles();
    if (o.userPolicy) {
      const wrapperFile = join(dir, "byo-wrapper.rego");
      await writeFile(wrapperFile, o.userPolicy.wrapper, { mode: 0o600 });
      modules = [o.userPolicy.file, wrapperFile];
    }
    const args = opaServerArgs({ addr: `127.0.0.1:${port}`, certFile: pki.cert, keyFile: pki.key, modules: [...modules, authzFile], v0Compatible: o.userPolicy?.v0Compatible });
    const client = new OpaDataClient({ url, token, caPem });

    let proc: ManagedProcess | undefined;
    // One process at a time; a fault stops it (pause) and starts another on the same port (resume).
    const launch = async (): Promise<ManagedProcess> => {
      const p = await ManagedProcess.start({ name: "opa", command: binary, args, logFile: join(o.stateDir, "logs", "opa.log"), detached: o.detached, cwd: o.stateDir });
      proc = p;
      await waitFor(`OPA on ${url}/health`, async () => ((await client.health()) === 200 ? true : undefined), {
        timeoutMs: OPA_READY_BUDGET_MS,
        intervalMs: 50,
        signal: o.signal,
        abortIf: () => p.throwIfExited(),
      }).catch(async (err) => {
        // A policy that does not load makes OPA exit at once: its log says why, better than a timeout.
        await p.assertRunning();
        throw err;
      });
      return p;
    };
    const stopCurrent = async () => {
      await proc?.stop();
    };
    // Until the lab holds the handle (and for a run's whole life), a signal or a failed start stops it.
    const { stop, release } = cleanup.own(`OPA ${url}`, stopCurrent);
    try {
      await launch();
    } catch (err) {
      await stop();
      throw err;
    }
    // Detached (`up`): the lab's own cleanup covers the rest of the start; then it outlives us.
    if (o.detached) release();
    return {
      url,
      caPem,
      tokenFile,
      caFile: pki.ca,
      userPolicy: o.userPolicy,
      record: { local: { opaPid: proc!.pid } },
      putData: (path, value) => client.put(path, value),
      async pause() {
        await stopCurrent();
      },
      async resume() {
        if (proc?.running) return;
        const p = await launch();
        // `down` finds it by the new pid (and by its command line, which names the state dir).
        const state = await readLabState(o.stateDir);
        if (state) await writeLabState(o.stateDir, { ...state, local: { ...state.local, opaPid: p.pid } });
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  });
}
