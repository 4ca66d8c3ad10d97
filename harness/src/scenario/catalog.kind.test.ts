// The whole conformance catalog on real kind clusters, one per admission mechanism: `kind create cluster` with the lab's config
// (the kubeadm patch turns on ImagePolicyWebhook and the audit log), the stub as a container on the
// kind network. Runs wherever Docker, kind and a node image are usable; elsewhere every test is
// skipped with the reason, unless IMAGEPOLICY_LAB_KIND_TESTS=required (CI), where that is a failure.
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { expect } from "vitest";
import { tryRun } from "../providers/kind/tools.ts";
import { LAB_LABEL } from "../providers/kind/lab-container.ts";
import { KindProvider } from "../providers/kind/kind-provider.ts";
import { dockerGate, kindTestsRequired } from "../../test/docker-gate.ts";
import { defineCatalogSuite } from "../../test/catalog-suite.ts";
import { MECHANISM_NAMES, MECHANISM_TITLES } from "../mechanism/names.ts";
import { opaForTests } from "../opa/test-support.ts";

// One kind cluster per mechanism, one after the other (vitest runs a file's suites in order), and one
// more for ImagePolicyWebhook with OPA as its backend (`--backend opa`).
const LABS = [...MECHANISM_NAMES.map((mechanism) => ({ mechanism, opaBackend: false })), { mechanism: "imagepolicywebhook" as const, opaBackend: true }];
for (const { mechanism, opaBackend } of LABS) {
  await defineCatalogSuite({
    title: opaBackend
      ? "conformance catalog on a kind cluster, ImagePolicyWebhook with OPA as its backend"
      : mechanism === "imagepolicywebhook"
        ? "conformance catalog on a kind cluster"
        : `conformance catalog on a kind cluster, ${MECHANISM_TITLES[mechanism]}`,
    mechanism,
    opaBackend,
    provider: () => new KindProvider(),
    timeoutMs: 1_500_000,
    skipReason: async () => {
      const gate = await dockerGate();
      const pre = gate.on ? await new KindProvider().preflight() : undefined;
      const why = !gate.on ? gate.why : pre && !pre.usable ? pre.reasons.join("; ") : undefined;
      if (why && kindTestsRequired()) throw new Error(`IMAGEPOLICY_LAB_KIND_TESTS=required, but the kind catalog cannot run here: ${why}`);
      if (why || (mechanism !== "opa" && !opaBackend)) return why;
      // OPA's container needs an opa binary (found or built from its Go module).
      const opa = await opaForTests();
      if (opa.opa === undefined && process.env.IMAGEPOLICY_LAB_OPA_TESTS?.trim() === "required") throw new Error(`IMAGEPOLICY_LAB_OPA_TESTS=required, but there is no opa: ${opa.reason}`);
      return opa.opa === undefined ? `no opa: ${opa.reason}` : undefined;
    },
    onReport: async (_report, lab) => {
      const audit = await lab.cluster.logs("audit", 5);
      expect(audit.length, "the kind apiserver writes its audit log").toBeGreaterThan(0);
      // kube-system keeps working under the catalog's fail-closed profiles: the static (mirror) pods,
      // kube-proxy and CoreDNS were all admitted by the stub's default policy and are running.
      // After the last profile switch the kubelet re-creates the apiserver's mirror pod through the new
      // apiserver, a few seconds later and reviewed like any pod; wait for it rather than race it.
      const kc = new KubeConfig();
      kc.loadFromFile(lab.cluster.kubeconfigPath);
      const core = kc.makeApiClient(CoreV1Api);
      const prefixes = ["kube-apiserver-", "kube-controller-manager-", "kube-scheduler-", "etcd-", "kube-proxy-", "coredns-"];
      let summary: string[] = [];
      const deadline = performance.now() + 90_000;
      for (;;) {
        const pods = (await core.listNamespacedPod({ namespace: "kube-system" })).items;
        summary = pods.map((p) => `${p.metadata?.name}=${p.status?.phase}`);
        const missing = prefixes.filter((prefix) => pods.find((p) => p.metadata?.name?.startsWith(prefix))?.status?.phase !== "Running");
        if (!missing.length || performance.now() > deadline) {
          const journal = (await lab.stub!.journal()).entries.filter((e) => e.namespace === "kube-system").slice(-5);
          expect(missing, `kube-system pods not Running (${summary.join(", ")}); the backend's last kube-system reviews: ${JSON.stringify(journal.map((e) => [e.images, e.outcome, e.status]))}`).toEqual([]);
          break;
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
      console.log(`kind kube-system after the catalog: ${summary.join(", ")}`);
    },
    afterStop: async () => {
      // Nothing of the lab's is left: no node, stub or OPA container, no kind cluster, no anonymous volume.
      const containers = (await tryRun("docker", ["ps", "-a", "--filter", "name=iplab-", "--format", "{{.Names}}"])).stdout.trim();
      expect(containers, "lab containers left behind").toBe("");
      const stubs = (await tryRun("docker", ["ps", "-a", "--filter", `label=${LAB_LABEL}`, "--format", "{{.Names}}"])).stdout.trim();
      expect(stubs, "stub or OPA containers left behind").toBe("");
      const volumes = (await tryRun("docker", ["volume", "ls", "-q", "--filter", "dangling=true"])).stdout.trim();
      expect(volumes, "dangling volumes left behind").toBe("");
    },
  });
}
