// `probe` end to end (issue 12, "Must show"), through the CLI in-process against real local labs:
// an enforcing lab of each mechanism exits 0; a fail-open lab with its backend down exits 1 and
// says the backend fails open; a backend that trusts by string prefix exits 1 naming the spoofed
// images; a backend that allows everything exits 1 saying there is no enforcement; an unreachable
// cluster and a kubeconfig without rights exit 2 naming the cause, and the README's minimal Role is
// enough for exit 0. Around every probe of a lab, the namespace's pods, deployments, jobs and
// replicasets are counted: nothing may be created. One lab per mechanism serves all its cases.
import { createServer, type Server } from "node:https";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify, parseAllDocuments } from "yaml";
import { DEFAULT_POLICY, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { startLab, type StartedLab, type LabOptions } from "../lab/lab.ts";
import { createCA } from "../pki/pki.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { closedPort, REPO_ROOT, runCli, type CliResult } from "../providers/local/test-support.ts";
import { parseXml } from "../report/xml-check.ts";
import { K8s, podManifest } from "../scenario/k8s-actions.ts";
import type { ProbeJson } from "./json.ts";

const TRUST = "trusted.example";
const TRUSTED_IMAGE = "trusted.example/app:1.0";
/** The namespace the README's RBAC example names; the labs probe there. */
const NS = "apps";
/** A pod that exists, for `--pod` (the ephemeral-container cases). */
const TARGET_POD = "probe-target";

const work: string[] = [];
const workDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "iplab-probe-e2e-"));
  work.push(d);
  return d;
};
afterAll(async () => Promise.all(work.map((d) => rm(d, { recursive: true, force: true }))));

/** What a probe must leave exactly as it found it. */
async function countObjects(kc: KubeConfig, namespace: string): Promise<Record<string, number>> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  return {
    pods: (await core.listNamespacedPod({ namespace })).items.length,
    deployments: (await apps.listNamespacedDeployment({ namespace })).items.length,
    replicasets: (await apps.listNamespacedReplicaSet({ namespace })).items.length,
    jobs: (await batch.listNamespacedJob({ namespace })).items.length,
  };
}

const probeArgs = (kubeconfig: string, extra: string[] = []) => ["-q", "probe", "--kubeconfig", kubeconfig, "--namespace", NS, "--trust", TRUST, "--image-trusted", TRUSTED_IMAGE, ...extra];

/** Runs the probe against a lab and checks that the namespace holds the same objects afterwards. */
async function probeLab(lab: StartedLab, extra: string[] = [], kubeconfig = lab.kubeconfigPath): Promise<CliResult> {
  const kc = lab.kubeConfig();
  const before = await countObjects(kc, NS);
  const result = await runCli(probeArgs(kubeconfig, extra));
  expect(await countObjects(kc, NS), "objects in the namespace after the probe").toEqual(before);
  console.info(`probe ${extra.join(" ")} → exit ${result.code}\n${result.stdout}`);
  return result;
}

/** Starts a local lab with the namespace the probe uses, its default ServiceAccount, and a pod for --pod. */
async function labWith(o: Omit<LabOptions, "provider">): Promise<StartedLab> {
  const t0 = performance.now();
  const lab = await startLab({ provider: new LocalProvider(), policy: trustPolicy([TRUST], { namespaces: DEFAULT_POLICY.namespaces }), ...o });
  const k8s = new K8s(lab.kubeConfig());
  await k8s.ensureNamespace(NS, {});
  await k8s.ensureDefaultServiceAccount(NS);
  await lab.mechanism.setNamespacePolicy(NS, trustPolicy([TRUST]));
  await k8s.core.createNamespacedPod({ namespace: NS, body: podManifest({ name: TARGET_POD, images: [TRUSTED_IMAGE] }) });
  console.info(`${o.mechanism ?? "imagepolicywebhook"} lab ready in ${Math.round(performance.now() - t0)} ms`);
  return lab;
}

/** The YAML block between `<!-- NAME:start -->` and `<!-- NAME:end -->` in the README, as objects. */
async function readmeObjects(marker: string): Promise<KubernetesObject[]> {
  const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  const block = new RegExp(`<!-- ${marker}:start -->\\s*\`\`\`yaml\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${marker}:end -->`).exec(readme);
  expect(block, `README block ${marker}`).not.toBeNull();
  return parseAllDocuments(block![1]!).map((d) => d.toJS() as KubernetesObject);
}

/** A kubeconfig for a ServiceAccount token, against the lab's apiserver. */
async function serviceAccountKubeconfig(lab: StartedLab, name: string, dir: string): Promise<string> {
  const kc = lab.kubeConfig();
  const token = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name, namespace: NS, body: { spec: { expirationSeconds: 3600 } } });
  const cluster = kc.getCurrentCluster()!;
  const file = join(dir, `${name}.kubeconfig`);
  const caData = cluster.caData ?? Buffer.from(await readFile(cluster.caFile!, "utf8")).toString("base64");
  await writeFile(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "lab", cluster: { server: cluster.server, "certificate-authority-data": caData } }],
      users: [{ name, user: { token: token.status!.token } }],
      contexts: [{ name, context: { cluster: "lab", user: name, namespace: NS } }],
      "current-context": name,
    }),
    { mode: 0o600 },
  );
  return file;
}

describe("probe: ImagePolicyWebhook lab", () => {
  let lab: StartedLab;
  let dir: string;
  beforeAll(async () => {
    dir = await workDir();
    lab = await labWith({ mechanism: "imagepolicywebhook" });
  });
  afterAll(async () => lab?.stop());

  it("an enforcing lab: exit 0, refusals attributed to ImagePolicyWebhook, reports written", async () => {
    const reportDir = join(dir, "reports");
    const r = await probeLab(lab, ["--pod", TARGET_POD, "--report-dir", reportDir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ untrusted .*refused \(403\) by ImagePolicyWebhook: /);
    expect(r.stdout).toMatch(/✓ ephemeral-untrusted .*refused \(403\) by ImagePolicyWebhook/);
    expect(r.stdout).toContain("Deployment with an untrusted image accepted (201): its pods will be refused later (FailedCreate events on its ReplicaSet), not at apply");
    expect(r.stdout).toMatch(/→ exit 0 \(all as expected\)/);

    const json = JSON.parse(await readFile(join(reportDir, "probe.json"), "utf8")) as ProbeJson;
    expect(json).toMatchObject({ schemaVersion: 1, exitCode: 0, totals: { cases: 14, asExpected: 14 } });
    const untrusted = json.cases.find((c) => c.id === "untrusted")!;
    expect(untrusted.response).toMatchObject({ code: 403, allowed: false });
    expect(untrusted.response!.message).toMatch(/^pods "ipl-probe-[0-9a-f]{6}-untrusted" is forbidden: image policy webhook backend denied one or more images: /);
    const suite = parseXml(await readFile(join(reportDir, "probe-junit.xml"), "utf8")).children[0]!;
    expect(suite.attrs).toMatchObject({ tests: "14", failures: "0", errors: "0" });
    expect(await readFile(join(reportDir, "probe.html"), "utf8")).toContain("Content-Security-Policy");
  });

  it("a kubeconfig without rights exits 2 naming RBAC; the README's minimal Role is enough for exit 0", async () => {
    const objects = await readmeObjects("probe-rbac");
    const api = KubernetesObjectApi.makeApiClient(lab.kubeConfig());
    const sa = objects.find((o) => o.kind === "ServiceAccount")!;
    await api.create(sa);
    const kubeconfig = await serviceAccountKubeconfig(lab, sa.metadata!.name!, dir);

    const denied = await probeLab(lab, [], kubeconfig);
    expect(denied.code, denied.stdout + denied.stderr).toBe(2);
    expect(denied.stdout).toMatch(/CANNOT RUN {2}RBAC forbids the probe \(\d+ cases\): 403 pods is forbidden: User "system:serviceaccount:apps:imagepolicy-lab-probe" cannot create resource "pods" in API group "" in the namespace "apps"/);
    expect(denied.stdout).toContain('cannot create resource "deployments"');

    for (const o of objects.filter((x) => x.kind !== "ServiceAccount")) await api.create(o);
    // RBAC takes effect through an informer: poll until the first request passes.
    let granted: CliResult;
    const deadline = performance.now() + 15_000;
    do granted = await probeLab(lab, ["--pod", TARGET_POD], kubeconfig);
    while (granted.code === 2 && /RBAC forbids/.test(granted.stdout) && performance.now() < deadline);
    expect(granted.code, granted.stdout).toBe(0);
    expect(granted.stdout).toMatch(/apiserver metrics not used: GET \/metrics answered 403/);

    for (const o of await readmeObjects("probe-rbac-metrics")) await api.create(o);
    const deadline2 = performance.now() + 15_000;
    let withMetrics: CliResult;
    do withMetrics = await probeLab(lab, [], kubeconfig);
    while (/metrics not used/.test(withMetrics.stdout) && performance.now() < deadline2);
    expect(withMetrics.code).toBe(0);
    expect(withMetrics.stdout).not.toContain("metrics not used");
  });

  it("a backend that allows everything: exit 1, no enforcement", async () => {
    await lab.stub!.setPolicy(trustPolicy(["*"], { namespaces: DEFAULT_POLICY.namespaces }));
    try {
      const r = await probeLab(lab);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toMatch(
        /HOLE {2}no enforcement: every image was admitted in namespace "apps", trusted \(trusted\.example\/app:1\.0\) and untrusted \(evil\.example\/imagepolicy-lab-probe:1\) alike, and nothing refused a single request .*ImagePolicyWebhook is enabled and its backend answered \(\d+ calls to 127\.0\.0\.1:\d+ answered 200\): the backend's policy admits every image/,
      );
    } finally {
      await lab.stub!.setPolicy(trustPolicy([TRUST], { namespaces: DEFAULT_POLICY.namespaces }));
    }
  });

  it("defaultAllow true with the backend down: exit 1, untrusted images admitted because the backend fails open", async () => {
    await lab.applyProfile({ ...lab.profile, defaultAllow: true });
    await lab.stub!.setFault("refuse");
    const r = await probeLab(lab);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(
      /HOLE {2}untrusted image evil\.example\/imagepolicy-lab-probe:1 admitted \(201\): the ImagePolicyWebhook backend fails open: during the probe \d+ calls to 127\.0\.0\.1:\d+ got no answer \(code <error>\) \(rest_client_requests_total\), and the pods were admitted anyway \(defaultAllow: true\)/,
    );
  });
});

describe("probe: validating webhook lab", () => {
  let lab: StartedLab;
  beforeAll(async () => {
    lab = await labWith({ mechanism: "webhook" });
  });
  afterAll(async () => lab?.stop());

  it("an enforcing lab: exit 0, refusals attributed to the webhook by name, workloads refused at create", async () => {
    const r = await probeLab(lab, ["--pod", TARGET_POD]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/✓ untrusted .*refused \(403\) by admission webhook "images\./);
    expect(r.stdout).toContain('Deployment with an untrusted image refused at create (403) by admission webhook "images.imagepolicy-lab.dev"');
    expect(r.stdout).toContain('Job with an untrusted image refused at create (403) by admission webhook "images.imagepolicy-lab.dev"');
  });

  it("failurePolicy Ignore with the backend down: exit 1, the webhook fails open", async () => {
    await lab.applyProfile({ ...lab.profile, defaultAllow: true });
    await lab.stub!.setFault("refuse");
    const r = await probeLab(lab);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/HOLE {2}untrusted image evil\.example\/imagepolicy-lab-probe:1 admitted \(201\): the backend fails open: during the probe admission webhook "images\.imagepolicy-lab\.dev" failed \d+ times and the apiserver admitted anyway \(failurePolicy: Ignore/);
  });
});

describe("probe: ValidatingAdmissionPolicy lab", () => {
  let lab: StartedLab;
  beforeAll(async () => {
    lab = await labWith({ mechanism: "vap" });
  });
  afterAll(async () => lab?.stop());

  it("an enforcing lab: exit 0, refusals attributed to the policy and its binding", async () => {
    const r = await probeLab(lab, ["--pod", TARGET_POD]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("refusals came from: ValidatingAdmissionPolicy 'imagepolicy-lab-images-pods' (binding 'imagepolicy-lab-images-pods') (10)");
    expect(r.stdout).toContain("Deployment with an untrusted image refused at create (403) by ValidatingAdmissionPolicy 'imagepolicy-lab-images-workloads' (binding 'imagepolicy-lab-images-workloads')");
  });
});

/**
 * An ImageReview backend with the classic bug: `image.startsWith(trusted)`, no registry boundary
 * (mechanisms.md §A7). Real HTTPS with its own CA, as the apiserver requires.
 */
async function startPrefixBackend(): Promise<{ url: string; caPem: string; server: Server }> {
  const ca = await createCA("probe e2e prefix backend CA");
  const cert = await ca.issue({ commonName: "127.0.0.1", hosts: ["127.0.0.1"], usage: "server" });
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const review = JSON.parse(body) as { spec?: { containers?: { image?: string }[] } };
      const bad = (review.spec?.containers ?? []).map((c) => c.image ?? "").filter((image) => !image.startsWith(TRUST));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", status: bad.length ? { allowed: false, reason: `not from ${TRUST}: ${bad.join(", ")}` } : { allowed: true } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `https://127.0.0.1:${port}/review`, caPem: ca.certPem, server };
}

describe("probe: a backend that trusts by string prefix", () => {
  let lab: StartedLab;
  let backend: Awaited<ReturnType<typeof startPrefixBackend>>;
  beforeAll(async () => {
    backend = await startPrefixBackend();
    lab = await labWith({ mechanism: "imagepolicywebhook", externalBackend: { url: backend.url, caPem: backend.caPem } });
  });
  afterAll(async () => {
    await lab?.stop();
    await new Promise((resolve) => backend?.server.close(resolve));
  });

  it("exits 1 and names each spoofed image that got through", async () => {
    const r = await probeLab(lab);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toContain("HOLE  spoofed image trusted.example.evil.example/imagepolicy-lab-probe:1 admitted (201): the check matches the trusted name as a string prefix");
    expect(r.stdout).toContain("HOLE  spoofed image trusted.example-evil/imagepolicy-lab-probe:1 admitted (201)");
    expect(r.stdout).toContain("HOLE  spoofed image trusted.example:5000/imagepolicy-lab-probe:1 admitted (201)");
    // The path spoof and the plain untrusted image do not start with the name: refused.
    expect(r.stdout).toMatch(/✓ spoof-path .*refused \(403\) by ImagePolicyWebhook/);
    expect(r.stdout).toMatch(/✓ untrusted .*refused \(403\) by ImagePolicyWebhook/);
  });
});

describe("probe: clusters it cannot ask", () => {
  it("an unreachable cluster exits 2 naming the server and the error", async () => {
    const dir = await workDir();
    const port = await closedPort();
    const ca = await createCA("probe e2e unreachable CA");
    const kubeconfig = join(dir, "unreachable.kubeconfig");
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "gone", cluster: { server: `https://127.0.0.1:${port}`, "certificate-authority-data": Buffer.from(ca.certPem).toString("base64") } }],
        users: [{ name: "u", user: { token: "x" } }],
        contexts: [{ name: "gone", context: { cluster: "gone", user: "u" } }],
        "current-context": "gone",
      }),
    );
    const reportDir = join(dir, "reports");
    const r = await runCli(probeArgs(kubeconfig, ["--report-dir", reportDir]));
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain(`CANNOT RUN  cannot reach the cluster at https://127.0.0.1:${port} (context "gone"): `);
    expect(r.stdout).toContain("ECONNREFUSED");
    // CI still gets a report: one errored "probe setup" case, not an empty green suite.
    const suite = parseXml(await readFile(join(reportDir, "probe-junit.xml"), "utf8")).children[0]!;
    expect(suite.attrs).toMatchObject({ tests: "1", errors: "1" });
  });

  it("flags are checked before any request, and errors name the flag", async () => {
    const missing = await runCli(probeArgs("/nonexistent/kubeconfig"));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--kubeconfig: cannot read /nonexistent/kubeconfig: no such file");
    const bad = await runCli(["probe", "--kubeconfig", "/nonexistent", "--trust", "trusted.example", "--image-trusted", "nginx:1.27", "--namespace", "Not_A_Namespace"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--image-trusted: "nginx:1.27" (docker.io/library/nginx:1.27) is not on the --trust list [trusted.example]');
    expect(bad.stderr).toContain('--namespace: "Not_A_Namespace" is not a namespace name');
  });
});
