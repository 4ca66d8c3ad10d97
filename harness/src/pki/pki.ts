// A tiny in-process CA: the lab's CA, the backend's serving certificate (a SAN for every name and IP
// it is reached by) and client certificates. ECDSA P-256 with SHA-256: Go rejects CN-only and SHA-1
// certificates (imagepolicy-behavior.md §3).
import "reflect-metadata";
import { generateKeyPair, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as typeof globalThis.crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPairPem {
  /** Signs a certificate with this CA. */
  issue(options: IssueOptions): Promise<KeyPairPem>;
}

export interface IssueOptions {
  commonName: string;
  /** DNS names and IP addresses (both go into the SAN). */
  hosts?: string[];
  usage: "server" | "client" | "both";
  /** Organizations (Kubernetes reads them as groups for client certificates). */
  organizations?: string[];
  validDays?: number;
}

type KeyPair = { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };

async function newKeys(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as KeyPair;
}

async function keyToPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1");
}

function dn(commonName: string, organizations: string[] = []): string {
  const esc = (s: string) => s.replace(/([,+"\\<>;=])/g, "\\$1");
  return [`CN=${esc(commonName)}`, ...organizations.map((o) => `O=${esc(o)}`)].join(", ");
}

/** Creates a new self-signed CA valid for `validDays` (default 365). */
export async function createCA(commonName = "imagepolicy-lab CA", validDays = 365): Promise<CertificateAuthority> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: dn(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const ca: CertificateAuthority = {
    certPem: cert.toString("pem"),
    keyPem: await keyToPem(keys.privateKey),
    issue: async (o) => {
      const leafKeys = await newKeys();
      const hosts = o.hosts ?? [];
      const usages = {
        server: [x509.ExtendedKeyUsage.serverAuth],
        client: [x509.ExtendedKeyUsage.clientAuth],
        both: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      }[o.usage];
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        await x509.AuthorityKeyIdentifierExtension.create(cert),
      ];
      if (hosts.length) {
        extensions.push(
          new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: "ip", value: h } : { type: "dns", value: h }))),
        );
      }
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: serial(),
        subject: dn(o.commonName, o.organizations),
        issuer: cert.subject,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + (o.validDays ?? 365) * DAY_MS),
        publicKey: leafKeys.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: ALG,
        extensions,
      });
      return { certPem: leaf.toString("pem"), keyPem: await keyToPem(leafKeys.privateKey) };
    },
  };
  return ca;
}

/** An ECDSA P-256 key pair for service-account token signing (kube-apiserver wants PEM keys; ES256 tokens). */
export async function createSigningKeyPem(): Promise<{ publicPem: string; privatePem: string }> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      "ec",
      { namedCurve: "P-256", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } },
      (err, publicPem, privatePem) => (err ? reject(err) : resolve({ publicPem, privatePem })),
    ),
  );
}
