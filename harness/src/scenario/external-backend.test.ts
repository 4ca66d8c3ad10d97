import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { StartedLab } from "../lab/lab.ts";
import { DEFAULT_PROFILE, type AdmissionProfile } from "../profile/profile.ts";
import { runScenarios } from "./runner.ts";
import { ConfigError } from "../util/errors.ts";
import { checkDeclaredTrust, forExternalBackend, mapTrustedImage, type ExternalBackendPlay } from "./external-backend.ts";
import { forMechanism } from "./for-mechanism.ts";
import { CATALOG_DIR, loadScenarios, resolveScenarioArgs } from "./load.ts";
import type { ScenarioDoc, StepDoc } from "./schema.ts";

function doc(more: Partial<ScenarioDoc>): ScenarioDoc {
  return { apiVersion: "imagepolicy-lab.dev/v1alpha1", kind: "Scenario", name: "x", description: "x", backend: { trust: ["trusted.example"] }, steps: [{ wait: 1 }], ...more } as ScenarioDoc;
}
const pod = (images: string[], expect: NonNullable<StepDoc["expect"]>): StepDoc => ({ createPod: { images }, expect }) as StepDoc;
const play = (d: ScenarioDoc, trust = ["registry.corp.example"], mechanism: "imagepolicywebhook" | "webhook" = "imagepolicywebhook") => forExternalBackend(d, { trust, mechanism });
const played = (v: ReturnType<typeof play>): ExternalBackendPlay => {
  if ("notApplicable" in v) throw new Error(`not applicable: ${v.notApplicable}`);
  return v;
};

describe("mapTrustedImage: trusted.example becomes the user's first --trust entry, each variant keeping its meaning", () => {
  it.each<[string, string, string]>([
    ["registry.corp.example", "trusted.example/app:1.0", "registry.corp.example/app:1.0"],
    ["registry.corp.example", "trusted.example.evil.com/app:1.0", "registry.corp.example.evil.com/app:1.0"],
    ["registry.corp.example", "trusted.example-evil/app:1.0", "registry.corp.example-evil/app:1.0"],
    ["registry.corp.example", "evil.com/trusted.example/app:1.0", "evil.com/registry.corp.example/app:1.0"],
    ["registry.corp.example", "trusted.example:5000/app:1.0", "registry.corp.example:5000/app:1.0"],
    // A repository: suffixes go on its last path component, another port on its host.
    ["ghcr.io/corp", "trusted.example/app:1.0", "ghcr.io/corp/app:1.0"],
    ["ghcr.io/corp", "trusted.example.evil.com/app:1.0", "ghcr.io/corp.evil.com/app:1.0"],
    ["ghcr.io/corp", "trusted.example-evil/app:1.0", "ghcr.io/corp-evil/app:1.0"],
    ["ghcr.io/corp", "trusted.example:5000/app:1.0", "ghcr.io:5000/corp/app:1.0"],
    // A registry with a port: suffixes before the port; the "other port" is really another one; no port inside a path.
    ["localhost:5000", "trusted.example.evil.com/app:1.0", "localhost.evil.com:5000/app:1.0"],
    ["localhost:5000", "trusted.example:5000/app:1.0", "localhost:5001/app:1.0"],
    ["localhost:5000", "evil.com/trusted.example/app:1.0", "evil.com/localhost/app:1.0"],
    // Images without the name are left alone.
    ["registry.corp.example", "docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"],
    ["registry.corp.example", "evil.example/trusted.examples/app:1", "evil.example/trusted.examples/app:1"],
  ])("%s: %s → %s", (target, image, want) => {
    expect(mapTrustedImage(image, target)).toBe(want);
  });
});

describe("forExternalBackend: what can be played against someone else's backend", () => {
  it.each<[string, Partial<ScenarioDoc>, RegExp]>([
    ["no backend block", { backend: undefined }, /follows? the stub's default policy/],
    ["a fault", { backend: { trust: ["trusted.example"], fault: "status:500" } }, /needs the stub's fault "status:500"/],
    ["a stub policy", { backend: { policy: { allowRegistries: ["trusted.example"] } } }, /needs a stub policy \(backend\.policy\)/],
    ["a policy file", { backend: { policyFile: "p.yaml" } }, /backend\.policyFile p\.yaml/],
    ["setBackend", { steps: [{ wait: 1 }, { setBackend: { fault: "healthy" } }] as StepDoc[] }, /step 2 changes the backend \(setBackend\)/],
    ["a caching tag", { tags: ["basics", "caching"] }, /tag caching/],
    ["retries counted", { steps: [pod(["trusted.example/a:1"], { allowed: true, backendCalls: 5 })] }, /step 1 counts the backend's calls \(5\)/],
    ["a count since a mark", { steps: [pod(["trusted.example/a:1"], { allowed: true, backendCallsSince: { mark: "m", count: 1 } })] }, /since a mark/],
    ["gaps between calls", { steps: [pod(["trusted.example/a:1"], { callGapsGrow: true })] }, /gaps between the backend's calls/],
    [
      "the same request twice, counted (the cache)",
      { steps: [pod(["trusted.example/a:1"], { allowed: true, backendCalls: 1 }), pod(["trusted.example/a:1"], { allowed: true, backendCalls: 0 })] },
      /step 2 repeats step 1's request/,
    ],
    ["an untrusted image the user trusts", { steps: [pod(["docker.io/library/nginx:1.25"], { allowed: false })] }, /"docker\.io\/library\/nginx:1\.25" is untrusted in the scenario .* but trusted under your --trust registry\.corp\.example, docker\.io$/],
  ])("not applicable: %s", (_label, more, reason) => {
    const v = play(doc(more), ["registry.corp.example", "docker.io"]);
    expect("notApplicable" in v && v.notApplicable).toMatch(reason);
  });

  it("not applicable when a trusted image of the scenario is not on the user's list, naming both forms", () => {
    const v = play(doc({ backend: { trust: ["docker.io/library/nginx"] }, steps: [pod(["nginx:1.25"], { allowed: true })] }));
    expect(v).toEqual({ notApplicable: '"nginx:1.25" is trusted in the scenario (trust: docker.io/library/nginx) but untrusted under your --trust registry.corp.example' });
  });

  it("the vap mechanism has no backend", () => {
    expect(forExternalBackend(doc({}), { trust: ["registry.corp.example"], mechanism: "vap" })).toEqual({ notApplicable: "the vap mechanism has no backend" });
  });

  it("maps images, drops journal checks and the stub's wording with a note each, and requires the backend's own denial", () => {
    const v = played(
      play(
        doc({
          steps: [
            pod(["trusted.example/app:1.0"], { allowed: true, backendCalls: 1, received: { images: ["trusted.example/app:1.0"] } }),
            pod(["trusted.example.evil.com/app:1.0"], { allowed: false, code: 403, message: "trusted.example.evil.com", backendCalls: 1 }),
          ],
        }),
      ),
    );
    expect(v.doc.steps).toEqual([
      { createPod: { images: ["registry.corp.example/app:1.0"] }, expect: { allowed: true } },
      { createPod: { images: ["registry.corp.example.evil.com/app:1.0"] }, expect: { allowed: false, code: 403, message: "image policy webhook backend denied one or more images" } },
    ]);
    expect(v.notes[0]).toEqual([
      'backendCalls 1: your backend\'s reviews are not visible to the lab (only the stub keeps a journal)',
      'received {"images":["trusted.example/app:1.0"]}: your backend\'s reviews are not visible to the lab (only the stub keeps a journal)',
    ]);
    expect(v.notes[1]).toEqual([
      "backendCalls 1: your backend's reviews are not visible to the lab (only the stub keeps a journal)",
      'message "trusted.example.evil.com": written against the stub\'s wording; your backend words its reasons its own way',
    ]);
    expect(v.doc.backend).toEqual({ trust: ["registry.corp.example"] });
  });

  it("under the webhook mechanism, a refusal must name the lab's webhook", () => {
    const v = played(play(doc({ steps: [pod(["evil.example/app:1"], { allowed: false })] }), undefined, "webhook"));
    expect(v.doc.steps[0]!.expect).toEqual({ allowed: false, message: 'admission webhook "images.imagepolicy-lab.dev" denied the request' });
  });

  it("the catalog: the answers-only scenarios are played, every other one says why not", async () => {
    const all = await loadScenarios(await resolveScenarioArgs([], CATALOG_DIR));
    const table = (mechanism: "imagepolicywebhook" | "webhook") =>
      Object.fromEntries(
        all.flatMap((s) => {
          const view = forMechanism(s.doc, mechanism);
          if (!view) return [];
          const v = play(view, ["registry.corp.example"], mechanism);
          return [[s.doc.name, "notApplicable" in v ? v.notApplicable : "played"]];
        }),
      );
    const playedNames = (t: Record<string, string>) => Object.keys(t).filter((k) => t[k] === "played");
    const ipw = table("imagepolicywebhook");
    expect(playedNames(ipw)).toEqual([
      "deployment-pods-refused",
      "ephemeral-container-reviewed",
      "fail-open-explicit-deny",
      "init-container-untrusted-denied",
      "job-pods-refused",
      "mixed-containers-denied",
      "pod-update-reviewed",
      "registry-spoofing",
      "trusted-image-allowed",
      "untrusted-image-denied",
    ]);
    expect(playedNames(table("webhook"))).toEqual(playedNames(ipw).filter((n) => n !== "fail-open-explicit-deny"));
    // Every scenario of the catalog is accounted for, with a reason.
    expect(Object.keys(ipw)).toHaveLength(all.filter((s) => forMechanism(s.doc, "imagepolicywebhook")).length);
    expect(ipw["cache-key"]).toBe("its subject (tag caching) is the plugin's calls to the backend, seen only in the stub's journal");
    expect(ipw["fail-closed-hang"]).toBe('needs the stub\'s fault "hang"');
    expect(ipw["allow-ttl-expiry"]).toBe("step 2 changes the backend (setBackend), which only the stub can do");
    expect(ipw["break-glass"]).toBe("needs a stub policy (backend.policy), not a plain trust list");
    expect(ipw["implicit-docker-hub"]).toBe('"nginx:1.25" is trusted in the scenario (trust: docker.io/library/nginx) but untrusted under your --trust registry.corp.example');
    // Trusting Docker Hub's nginx as well makes the normalization scenario playable.
    const nginx = all.find((s) => s.doc.name === "implicit-docker-hub")!;
    expect("notApplicable" in play(nginx.doc, ["registry.corp.example", "docker.io/library/nginx"])).toBe(false);
  });
});

describe("checkDeclaredTrust", () => {
  it("refuses * (no untrusted image left to check) and entries that are neither registry nor repository, naming --trust", () => {
    expect(() => checkDeclaredTrust(["*"])).toThrow(ConfigError);
    expect(() => checkDeclaredTrust(["*"])).toThrow(/--trust: "\*" trusts every image/);
    expect(() => checkDeclaredTrust(["Bad Registry"])).toThrow(ConfigError);
    expect(() => checkDeclaredTrust(["registry.corp.example", "ghcr.io/corp"])).not.toThrow();
  });
});

describe("runScenarios with the user's backend", () => {
  it("reports not-applicable scenarios as skipped with the reason, never switches the profile for them, and records the backend", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: "c", server: "https://127.0.0.1:1" }], users: [{ name: "u" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
    const switched: AdmissionProfile[] = [];
    const lab = {
      provider: { name: "local" },
      mechanism: { name: "imagepolicywebhook", setNamespacePolicy: async () => {} },
      k8sVersion: "1.36.1",
      profile: { ...DEFAULT_PROFILE },
      cluster: { capabilities: {} },
      kubeConfig: () => kc,
      applyProfile: async (p: AdmissionProfile) => {
        switched.push(p);
        return { elapsedMs: 1 };
      },
    } as unknown as StartedLab;
    const loaded = (d: ScenarioDoc) => ({ file: `/s/${d.name}.yaml`, doc: d });
    const faulty = doc({ name: "faulty", profile: { defaultAllow: true }, backend: { trust: ["trusted.example"], fault: "status:500" } });
    const fine = doc({ name: "fine", profile: { ...DEFAULT_PROFILE }, steps: [pod(["trusted.example/app:1"], { allowed: true })] });
    const report = await runScenarios({ lab, scenarios: [loaded(faulty), loaded(fine)], externalBackend: { url: "https://b.example/review", trust: ["registry.corp.example"] } });
    expect(switched).toEqual([]);
    const byName = Object.fromEntries(report.scenarios.map((r) => [r.name, r]));
    expect(byName.faulty).toMatchObject({ verdict: "skipped", reason: 'not applicable with your backend: needs the stub\'s fault "status:500"' });
    // Played (it errors here: no apiserver answers), with the user's image.
    expect(byName.fine!.verdict).toBe("error");
    expect(report.externalBackend).toEqual({ url: "https://b.example/review", trust: ["registry.corp.example"] });
  });
});
