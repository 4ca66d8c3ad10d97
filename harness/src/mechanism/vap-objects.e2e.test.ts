// The VAP objects on a real kube-apiserver 1.36 (local lab: etcd, kube-apiserver,
// kube-controller-manager). The lab's ImagePolicyWebhook stays on, backed by a stub that trusts
// every registry ("*"), so for valid references only the VAP decides; invalid references (which the
// stub refuses before looking at its lists) are checked through Deployments, which
// ImagePolicyWebhook never sees. Covers mechanisms.md §A7's table, Docker Hub names, init and
// ephemeral containers, workload templates, the missing-ConfigMap denial, 50-container pods, the
// stub's verdict for a corpus of tricky references, and how soon a ConfigMap edit takes effect.
// Needs the cached control-plane binaries (`imagepolicy-lab binaries`); skips, saying so, without them.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AdmissionregistrationV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1PodSpec } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { ANY_REGISTRY } from "../../../webhook-stub/src/reference.ts";
import { DEFAULT_K8S_VERSION, resolveBinaries } from "../binaries/index.ts";
import { startLab, type StartedLab } from "../lab/lab.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { apiOutcome, K8s, type ApiOutcome } from "../scenario/k8s-actions.ts";
import { sleep, waitFor } from "../util/wait.ts";
import { TRUST_PARAM_NAME, trustConfigMap, trustFromEntries, vapObjects } from "./vap-objects.ts";

const binaries = await resolveBinaries({ k8sVersion: DEFAULT_K8S_VERSION, env: { ...process.env, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", IMAGEPOLICY_LAB_NO_BUILD: "1" } }).then(
  (b) => b,
  (err: Error) => {
    console.warn(`skipping: no cached control-plane binaries (run \`imagepolicy-lab binaries\`): ${err.message.split("\n")[0]}`);
    return undefined;
  },
);

/** Namespaces and their trust lists (scenario `backend.trust` form). */
const TRUST: Record<string, string[]> = {
  "vap-registry": ["trusted.example"],
  "vap-hub-repository": ["docker.io/library/nginx"],
  "vap-hub-registry": ["docker.io"],
  "vap-mixed": ["docker.io/library/nginx", "quay.io/team", "localhost:5000", "Trusted.Example"],
  "vap-any": [ANY_REGISTRY],
};
const NO_CONFIGMAP = "vap-no-configmap";
const HEX64 = "0123456789abcdef".repeat(4);

const untrustedMessage = (kind: string, name: string, policy: string, images: string, trust: string) =>
  `${kind} "${name}" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: untrusted registry for image(s): ${images} (${trust} in ConfigMap ${TRUST_PARAM_NAME})`;
const REGISTRY_TRUST = "this namespace trusts registries [trusted.example] and repositories []";

describe.skipIf(!binaries)("the VAP objects on a real kube-apiserver", () => {
  let work: string;
  let lab: StartedLab;
  let kc: KubeConfig;
  let k8s: K8s;

  const podSpec = (images: string[], init: string[] = []): V1PodSpec => ({
    containers: images.map((image, i) => ({ name: `c${i}`, image })),
    initContainers: init.length ? init.map((image, i) => ({ name: `init${i}`, image })) : undefined,
    restartPolicy: "Never",
    terminationGracePeriodSeconds: 0,
  });
  const dryRunPod = (namespace: string, images: string[], init: string[] = []) =>
    apiOutcome(() => k8s.core.createNamespacedPodWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "p" }, spec: podSpec(images, init) } }));
  const labels = { app: "vap" };
  const template = (images: string[]) => ({ metadata: { labels }, spec: podSpec(images) });
  /** A server-side dry-run create of each workload kind the policies cover, with `images` in its pod template. */
  const workloads: Record<string, (ns: string, images: string[]) => Promise<ApiOutcome>> = {
    deployment: (namespace, images) =>
      apiOutcome(() => k8s.apps.createNamespacedDeploymentWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { selector: { matchLabels: labels }, template: { ...template(images), spec: { ...podSpec(images), restartPolicy: "Always" } } } } })),
    replicaset: (namespace, images) =>
      apiOutcome(() => k8s.apps.createNamespacedReplicaSetWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { selector: { matchLabels: labels }, template: { ...template(images), spec: { ...podSpec(images), restartPolicy: "Always" } } } } })),
    statefulset: (namespace, images) =>
      apiOutcome(() => k8s.apps.createNamespacedStatefulSetWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { serviceName: "w", selector: { matchLabels: labels }, template: { ...template(images), spec: { ...podSpec(images), restartPolicy: "Always" } } } } })),
    daemonset: (namespace, images) =>
      apiOutcome(() => k8s.apps.createNamespacedDaemonSetWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { selector: { matchLabels: labels }, template: { ...template(images), spec: { ...podSpec(images), restartPolicy: "Always" } } } } })),
    replicationcontroller: (namespace, images) =>
      apiOutcome(() => k8s.core.createNamespacedReplicationControllerWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { selector: labels, template: { ...template(images), spec: { ...podSpec(images), restartPolicy: "Always" } } } } })),
    job: (namespace, images) => apiOutcome(() => k8s.batch.createNamespacedJobWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { template: template(images) } } })),
    cronjob: (namespace, images) =>
      apiOutcome(() => k8s.batch.createNamespacedCronJobWithHttpInfo({ namespace, dryRun: "All", body: { metadata: { name: "w" }, spec: { schedule: "*/5 * * * *", jobTemplate: { spec: { template: template(images) } } } } })),
  };

  const setTrust = async (namespace: string, entries: string[]) => {
    const body = trustConfigMap(namespace, trustFromEntries(entries));
    await k8s.core.replaceNamespacedConfigMap({ namespace, name: TRUST_PARAM_NAME, body }).catch(() => k8s.core.createNamespacedConfigMap({ namespace, body }));
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "iplab-vap-e2e-"));
    // Trusting "*" everywhere: ImagePolicyWebhook admits every valid reference, the VAP decides.
    lab = await startLab({ provider: new LocalProvider(), stateDir: join(work, "lab"), policy: trustPolicy([ANY_REGISTRY]) });
    kc = lab.kubeConfig();
    k8s = new K8s(kc);
    for (const ns of [...Object.keys(TRUST), NO_CONFIGMAP]) {
      await k8s.ensureNamespace(ns, {});
      // The ServiceAccount admission plugin refuses pods until the namespace's `default` exists.
      await k8s.ensureDefaultServiceAccount(ns);
    }
    for (const [ns, entries] of Object.entries(TRUST)) await setTrust(ns, entries);
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const { policies, bindings } = vapObjects();
    for (const body of policies) await admission.createValidatingAdmissionPolicy({ body });
    for (const body of bindings) await admission.createValidatingAdmissionPolicyBinding({ body });
    // Policies and bindings reach admission through informers: wait for each policy's first denial.
    await waitFor(
      "the three policies denying an untrusted pod, Deployment and CronJob",
      async () => {
        const outcomes = await Promise.all([dryRunPod("vap-registry", ["evil.example/x"]), workloads.deployment!("vap-registry", ["evil.example/x"]), workloads.cronjob!("vap-registry", ["evil.example/x"])]);
        return outcomes.every((o) => o.code === 403 && /ValidatingAdmissionPolicy/.test(o.message ?? "")) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });

  afterAll(async () => {
    await lab?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("type-checks cleanly: status.typeChecking has no warnings", async () => {
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    for (const { metadata } of vapObjects().policies) {
      const status = await waitFor(
        `the type-check status of ${metadata!.name}`,
        async () => {
          const p = await admission.readValidatingAdmissionPolicy({ name: metadata!.name! });
          return p.status?.observedGeneration === p.metadata?.generation && p.status?.typeChecking ? p.status : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      expect(status.typeChecking?.expressionWarnings ?? []).toEqual([]);
    }
  });

  // mechanisms.md §A7, with trust [trusted.example].
  it.each([
    ["trusted.example/app:1", true],
    ["TRUSTED.EXAMPLE/app", true],
    [`trusted.example/team/app@sha256:${HEX64}`, true],
    ["trusted.example.evil.com/app", false],
    ["trusted.example-evil/app", false],
    ["evil.com/trusted.example/app", false],
    ["trusted.example:5000/app", false],
    ["localhost:5000/x", false],
    ["nginx", false],
  ])("%s in a pod: allowed %s", async (image, allowed) => {
    const out = await dryRunPod("vap-registry", [image]);
    if (allowed) expect(out).toMatchObject({ code: 201, allowed: true });
    else expect(out).toMatchObject({ code: 403, allowed: false, message: untrustedMessage("pods", "p", "imagepolicy-lab-images-pods", image, REGISTRY_TRUST) });
  });

  it.each([
    ["vap-hub-repository", "nginx", true],
    ["vap-hub-repository", "library/nginx", true],
    ["vap-hub-repository", "docker.io/library/nginx/sub:1", true],
    ["vap-hub-repository", "nginx-evil", false],
    ["vap-hub-repository", "bitnami/redis", false],
    ["vap-hub-registry", "nginx", true],
    ["vap-hub-registry", "library/nginx", true],
    ["vap-hub-registry", "bitnami/redis", true],
    ["vap-hub-registry", "index.docker.io/library/nginx", true],
    ["vap-registry", "nginx", false],
    ["vap-registry", "library/nginx", false],
  ])("Docker Hub names: in %s, %s is allowed %s", async (ns, image, allowed) => {
    const out = await dryRunPod(ns, [image]);
    expect(out.allowed, out.message).toBe(allowed);
    expect(out.code).toBe(allowed ? 201 : 403);
  });

  it("refuses a pod whose init container is untrusted beside a trusted container, naming only the untrusted image", async () => {
    expect(await dryRunPod("vap-registry", ["trusted.example/app:1"], ["evil.example/init:1"])).toMatchObject({
      code: 403,
      message: untrustedMessage("pods", "p", "imagepolicy-lab-images-pods", "evil.example/init:1", REGISTRY_TRUST),
    });
  });

  it.each(Object.keys(workloads))("refuses a %s whose template has an untrusted image at create, admits a trusted one", async (kind) => {
    const create = workloads[kind]!;
    const bad = await create("vap-registry", ["trusted.example/app:1", "evil.example/app:1"]);
    expect(bad.code, bad.message).toBe(403);
    const policy = kind === "cronjob" ? "imagepolicy-lab-images-cronjobs" : "imagepolicy-lab-images-workloads";
    expect(bad.message).toMatch(new RegExp(`^\\S+ "w" is forbidden: ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request: untrusted registry for image\\(s\\): evil\\.example/app:1 \\(`));
    const good = await create("vap-registry", ["trusted.example/app:1"]);
    expect(good.code, good.message).toBe(201);
  });

  it("refuses every pod in a namespace without the trust ConfigMap (parameterNotFoundAction Deny): 422, not 403", async () => {
    expect(await dryRunPod(NO_CONFIGMAP, ["trusted.example/app:1"])).toEqual({
      code: 422,
      allowed: false,
      message: `pods "p" is forbidden: ValidatingAdmissionPolicy 'imagepolicy-lab-images-pods' with binding 'imagepolicy-lab-images-pods' denied request: failed to configure binding: no params found for policy binding with \`Deny\` parameterNotFoundAction`,
      durationMs: expect.any(Number),
    });
  });

  it("refuses an untrusted ephemeral container added through pods/ephemeralcontainers, admits a trusted one", async () => {
    await k8s.core.createNamespacedPod({ namespace: "vap-registry", body: { metadata: { name: "debug-me" }, spec: podSpec(["trusted.example/app:1"]) } });
    const addEphemeral = (name: string, image: string) =>
      apiOutcome(async () => {
        const pod = await k8s.core.readNamespacedPod({ namespace: "vap-registry", name: "debug-me" });
        pod.spec!.ephemeralContainers = [...(pod.spec!.ephemeralContainers ?? []), { name, image }];
        return k8s.core.replaceNamespacedPodEphemeralcontainersWithHttpInfo({ namespace: "vap-registry", name: "debug-me", body: pod });
      });
    expect(await addEphemeral("dbg1", "evil.example/debug:1")).toMatchObject({
      code: 403,
      message: untrustedMessage("pods", "debug-me", "imagepolicy-lab-images-pods", "evil.example/debug:1", REGISTRY_TRUST),
    });
    expect(await addEphemeral("dbg2", "trusted.example/debug:1")).toMatchObject({ code: 200, allowed: true });
  });

  it("stays within CEL's cost limits for 50 containers; lists 20 images and counts the rest, without repeats", async () => {
    const long = (i: number, host: string) => `${host}/team/app-${i}:1.0@sha256:${HEX64}`;
    expect(await dryRunPod("vap-registry", Array.from({ length: 50 }, (_, i) => long(i, "trusted.example")))).toMatchObject({ code: 201 });
    const denied = await dryRunPod("vap-registry", Array.from({ length: 50 }, (_, i) => long(i, "evil.example")));
    expect(denied.code, denied.message).toBe(403);
    expect(denied.message).toContain(`${long(19, "evil.example")}, and 30 more (`);
    const repeats = await dryRunPod("vap-registry", ["evil.example/a:1", "evil.example/a:1", "trusted.example/b:1", "evil.example/c:1"]);
    expect(repeats.message).toContain("untrusted registry for image(s): evil.example/a:1, evil.example/c:1 (");
  });

  // Tricky references, judged by the VAP (through a Deployment, which ImagePolicyWebhook does not
  // see) and by the stub's evaluate() with the same trust list: the verdicts must be equal.
  const CORPUS = [
    "trusted.example/app:1",
    "Trusted.Example/app",
    "Trusted.Example/App",
    "trusted.example/App:1",
    "trusted.example/app:TAG_ok",
    "trusted.example.evil.com/app",
    "trusted.example:443/app",
    "localhost:5000/x",
    "localhost:5000/x:1",
    "localhost/x",
    "nginx",
    "nginx:1.27",
    `nginx@sha256:${HEX64}`,
    `nginx@sha256:${HEX64.toUpperCase()}`,
    `nginx@sha384:${HEX64}`,
    "library/nginx",
    "docker.io/library/nginx/extra",
    "docker.io/nginx",
    "index.docker.io/nginx",
    "INDEX.DOCKER.IO/nginx",
    "nginx-evil",
    "bitnami/redis",
    "quay.io/team",
    "quay.io/team/app:1",
    "quay.io/teamevil/app",
    "QUAY.IO/team/app",
    "a_b.c/app",
    "[::1]:5000/x",
    HEX64,
    `nginx:${"t".repeat(128)}`,
    `nginx:${"t".repeat(129)}`,
    `ex.com/${"a".repeat(247)}`,
    `ex.com/${"a".repeat(248)}`,
    "/x",
    "x//y",
    "a.com:port/b",
    "ümlaut.example/x",
  ];
  it.each(Object.entries(TRUST))(`decides like the stub in %s (trust %j) on ${CORPUS.length} tricky references`, async (ns, entries) => {
    const stub = trustPolicy(entries);
    const mismatches: string[] = [];
    for (const image of CORPUS) {
      const out = await workloads.deployment!(ns, [image]);
      expect(out.code === 201 || out.code === 403, `${image}: ${out.code} ${out.message}`).toBe(true);
      const want = evaluate(stub, { containers: [{ image }] }).allowed;
      if (out.allowed !== want) mismatches.push(`${image}: VAP ${out.allowed ? "allowed" : `denied (${out.message})`}, stub ${want ? "allowed" : "denied"}`);
    }
    expect(mismatches).toEqual([]);
  });

  it("acts on a ConfigMap edit by the next request", async () => {
    const ns = "vap-registry";
    const samples: number[] = [];
    try {
      for (const trusted of [false, true, false, true]) {
        await setTrust(ns, trusted ? ["trusted.example"] : ["other.example"]);
        const t0 = performance.now();
        let requests = 0;
        await waitFor(
          `the decision for trusted.example/app:1 in ${ns} to become ${trusted ? "allowed" : "denied"}`,
          async () => {
            requests++;
            return (await dryRunPod(ns, ["trusted.example/app:1"])).allowed === trusted ? true : undefined;
          },
          { timeoutMs: 10_000, intervalMs: 10 },
        );
        samples.push(performance.now() - t0);
        console.log(`trust ConfigMap edit → ${trusted ? "allowed" : "denied"}: ${Math.round(performance.now() - t0)} ms after the write returned, ${requests} dry run(s)`);
      }
    } finally {
      await setTrust(ns, TRUST[ns]!);
    }
    expect(Math.max(...samples)).toBeLessThan(5_000);
  });

  // Params are resolved before matchConditions or validations run, so nothing in the policy can
  // exempt a terminating object: delete a namespace's ConfigMap last (or not at all).
  it("refuses to remove a finalizer from a terminating pod once its namespace lost the ConfigMap (422)", async () => {
    const ns = "vap-mixed";
    await k8s.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: "held", finalizers: ["example.com/hold"] }, spec: podSpec(["quay.io/team/app:1"]) } });
    await k8s.core.deleteNamespacedConfigMap({ namespace: ns, name: TRUST_PARAM_NAME });
    await k8s.core.deleteNamespacedPod({ namespace: ns, name: "held" });
    const removeFinalizer = () =>
      apiOutcome(() => k8s.core.patchNamespacedPodWithHttpInfo({ namespace: ns, name: "held", body: [{ op: "remove", path: "/metadata/finalizers" }] }, setHeaderOptions("Content-Type", PatchStrategy.JsonPatch)));
    // The deletion reaches the informer within milliseconds; wait for it rather than assume.
    const refused = await waitFor("the missing ConfigMap to take effect", async () => {
      const probe = await dryRunPod(ns, ["quay.io/team/app:1"]);
      return probe.code === 422 ? removeFinalizer() : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    expect(refused).toMatchObject({ code: 422, message: expect.stringContaining("no params found for policy binding with `Deny` parameterNotFoundAction") });
    await setTrust(ns, TRUST[ns]!);
    await sleep(200);
    expect(await waitFor("the finalizer removal to be admitted", async () => ((await removeFinalizer()).allowed ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 })).toBe(true);
  });
});
