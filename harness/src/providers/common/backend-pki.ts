// Certificates and secrets for the stub backend: its own CA (the apiserver trusts only this one for
// the backend), a serving certificate with a SAN for every name the backend is reached by, an
// optional client certificate for the apiserver (mTLS), and the control token. Written under
// `<stateDir>/backend/`, keys and token 0600.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCA, type KeyPairPem } from "../../pki/pki.ts";

export interface BackendPki {
  dir: string;
  caPem: string;
  serving: KeyPairPem;
  /** The apiserver's client certificate (present when mtls was asked). */
  apiserverClient?: KeyPairPem;
  token: string;
  files: { ca: string; cert: string; key: string; token: string; clientCa?: string };
}

/** Where writeBackendPki puts the CA, the serving certificate and its key (also served by OPA). */
export function backendPkiFiles(stateDir: string): { ca: string; cert: string; key: string } {
  const dir = join(stateDir, "backend");
  return { ca: join(dir, "ca.crt"), cert: join(dir, "tls.crt"), key: join(dir, "tls.key") };
}

export async function writeBackendPki(stateDir: string, hosts: string[], mtls: boolean): Promise<BackendPki> {
  const dir = join(stateDir, "backend");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCA("imagepolicy-lab backend CA");
  const serving = await ca.issue({ commonName: "image-policy-stub", hosts, usage: "server" });
  const apiserverClient = mtls ? await ca.issue({ commonName: "kube-apiserver", usage: "client" }) : undefined;
  const token = randomBytes(24).toString("base64url");
  const files = { ...backendPkiFiles(stateDir), token: join(dir, "control-token"), clientCa: mtls ? join(dir, "ca.crt") : undefined };
  await Promise.all([
    writeFile(files.ca, ca.certPem, { mode: 0o644 }),
    writeFile(files.cert, serving.certPem, { mode: 0o644 }),
    writeFile(files.key, serving.keyPem, { mode: 0o600 }),
    writeFile(files.token, token, { mode: 0o600 }),
  ]);
  return { dir, caPem: ca.certPem, serving, apiserverClient, token, files };
}
