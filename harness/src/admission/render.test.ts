import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ADMISSION_DIR_IN_NODE, ADMISSION_FILES } from "../kind/control-plane-patch.ts";
import { lintAdmissionFile } from "../profile/lint-file.ts";
import type { AdmissionProfile } from "../profile/profile.ts";
import type { BackendEndpoint } from "../providers/provider.ts";
import { renderAdmissionFiles, type RenderedFile } from "./render.ts";

const PROFILE: AdmissionProfile = { defaultAllow: false, allowTTL: 7, denyTTL: -1, retryBackoff: 250 };
const PLAIN: BackendEndpoint = { url: "https://127.0.0.1:8443/review", caPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n" };
const MTLS: BackendEndpoint = { ...PLAIN, client: { certPem: "CLIENT CERT PEM", keyPem: "CLIENT KEY PEM" } };

const byName = (files: RenderedFile[]) => Object.fromEntries(files.map((f) => [f.name, f]));

interface Kubeconfig {
  clusters: { name: string; cluster: Record<string, string> }[];
  users: { name: string; user: Record<string, string> }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

/** Every value in a parsed document whose key names a file. */
function filePaths(v: unknown, key = ""): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => filePaths(x));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => filePaths(x, k));
  return /File$|^certificate-authority$|^client-certificate$|^client-key$/.test(key) ? [String(v)] : [];
}

describe("renderAdmissionFiles", () => {
  it.each([
    ["without mTLS", PLAIN, [ADMISSION_FILES.admissionConfig, ADMISSION_FILES.webhookKubeconfig, ADMISSION_FILES.backendCa]],
    ["with mTLS", MTLS, [ADMISSION_FILES.admissionConfig, ADMISSION_FILES.webhookKubeconfig, ADMISSION_FILES.backendCa, ADMISSION_FILES.clientCert, ADMISSION_FILES.clientKey]],
  ] as const)("writes the right files %s, keys and the kubeconfig 0600", (_label, backend, names) => {
    const files = renderAdmissionFiles(PROFILE, backend, "/abs/admission");
    expect(files.map((f) => f.name)).toEqual(names);
    const modes = Object.fromEntries(files.map((f) => [f.name, f.mode]));
    for (const [name, mode] of Object.entries(modes)) {
      const secret = name === ADMISSION_FILES.clientKey || name === ADMISSION_FILES.webhookKubeconfig;
      expect(`${name} ${mode.toString(8)}`).toBe(`${name} ${secret ? "600" : "644"}`);
    }
  });

  it("embeds the profile in an AdmissionConfiguration that parses back to the same values", () => {
    const cfg = parse(byName(renderAdmissionFiles(PROFILE, PLAIN, "/abs/admission"))[ADMISSION_FILES.admissionConfig]!.content);
    expect(cfg).toEqual({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AdmissionConfiguration",
      plugins: [
        {
          name: "ImagePolicyWebhook",
          configuration: {
            imagePolicy: { kubeConfigFile: `/abs/admission/${ADMISSION_FILES.webhookKubeconfig}`, allowTTL: 7, denyTTL: -1, retryBackoff: 250, defaultAllow: false },
          },
        },
      ],
    });
  });

  it.each([
    ["/abs/admission", PLAIN],
    ["/abs/admission/", MTLS],
    [ADMISSION_DIR_IN_NODE, MTLS],
  ] as const)("uses only absolute paths inside %s", (dir, backend) => {
    const files = byName(renderAdmissionFiles(PROFILE, backend, dir));
    const paths = [
      ...filePaths(parse(files[ADMISSION_FILES.admissionConfig]!.content)),
      ...filePaths(parse(files[ADMISSION_FILES.webhookKubeconfig]!.content)),
    ];
    expect(paths.length).toBe(backend.client ? 4 : 2);
    const base = dir.replace(/\/$/, "");
    for (const p of paths) {
      expect(p.startsWith(`${base}/`)).toBe(true);
      expect(p).not.toContain("//");
      expect(Object.keys(files)).toContain(p.slice(base.length + 1));
    }
  });

  it("rejects a relative directory", () => {
    expect(() => renderAdmissionFiles(PROFILE, PLAIN, "state/admission")).toThrow(/must be absolute/);
  });

  it.each([
    ["without mTLS", PLAIN],
    ["with mTLS", MTLS],
  ] as const)("writes a webhook kubeconfig %s whose current context names an existing cluster and user", (_label, backend) => {
    const kc = parse(byName(renderAdmissionFiles(PROFILE, backend, "/d"))[ADMISSION_FILES.webhookKubeconfig]!.content) as Kubeconfig;
    const ctx = kc.contexts.find((c) => c.name === kc["current-context"]);
    expect(ctx).toBeDefined();
    const cluster = kc.clusters.find((c) => c.name === ctx!.context.cluster);
    const user = kc.users.find((u) => u.name === ctx!.context.user);
    expect(cluster?.cluster).toEqual({ server: backend.url, "certificate-authority": `/d/${ADMISSION_FILES.backendCa}` });
    expect(user?.user).toEqual(
      backend.client ? { "client-certificate": `/d/${ADMISSION_FILES.clientCert}`, "client-key": `/d/${ADMISSION_FILES.clientKey}` } : {},
    );
  });

  it("writes the PEMs unchanged", () => {
    const files = byName(renderAdmissionFiles(PROFILE, MTLS, "/d"));
    expect(files[ADMISSION_FILES.backendCa]!.content).toBe(PLAIN.caPem);
    expect(files[ADMISSION_FILES.clientCert]!.content).toBe("CLIENT CERT PEM");
    expect(files[ADMISSION_FILES.clientKey]!.content).toBe("CLIENT KEY PEM");
  });

  describe("passes our own lint as the apiserver would read it", () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "render-test-"));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it.each<AdmissionProfile>([
      PROFILE,
      { defaultAllow: true, allowTTL: 1800, denyTTL: 1, retryBackoff: 1 },
      { defaultAllow: false, allowTTL: 0, denyTTL: 0, retryBackoff: -1 },
    ])("%j", async (profile) => {
      // Every file written, so the lint also finds the kubeconfig the configuration names.
      const files = renderAdmissionFiles(profile, PLAIN, dir);
      for (const x of files) await writeFile(join(dir, x.name), x.content);
      const file = join(dir, byName(files)[ADMISSION_FILES.admissionConfig]!.name);
      const r = await lintAdmissionFile(file);
      expect(r.errors).toEqual([]);
      expect(r.warnings.filter((w) => !w.path.endsWith("defaultAllow"))).toEqual([]);
      expect(r.profile).toEqual(profile);
    });
  });
});
