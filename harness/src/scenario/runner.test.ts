import { describe, expect, it } from "vitest";
import { DEFAULT_PROFILE, type AdmissionProfile } from "../profile/profile.ts";
import type { LoadedScenario } from "./load.ts";
import { KubeConfig } from "@kubernetes/client-node";
import type { StartedLab } from "../lab/lab.ts";
import { exitCodeFor } from "./result.ts";
import { planByProfile, runScenarios, scenarioProfile } from "./runner.ts";
import type { ScenarioDoc } from "./schema.ts";

function scenario(name: string, profile?: Partial<AdmissionProfile>): LoadedScenario {
  const doc = { apiVersion: "imagepolicy-lab.dev/v1alpha1", kind: "Scenario", name, description: name, profile, steps: [{ wait: 1 }] } as ScenarioDoc;
  return { file: `/s/${name}.yaml`, doc };
}

const OPEN = { defaultAllow: true };
const NO_CACHE = { allowTTL: -1, denyTTL: -1 };

/** Plan as `profile-label: names`, with the default profile labelled "default". */
function plan(scenarios: LoadedScenario[], current?: AdmissionProfile): string[] {
  return planByProfile(scenarios, current).map((g) => {
    const diff = Object.entries(g.profile).filter(([k, v]) => DEFAULT_PROFILE[k as keyof AdmissionProfile] !== v);
    return `${diff.length ? diff.map(([k, v]) => `${k}=${v}`).join(",") : "default"}: ${g.scenarios.map((s) => s.doc.name).join(" ")}`;
  });
}

describe("scenarioProfile", () => {
  it("fills missing fields with the lab defaults", () => {
    expect(scenarioProfile(scenario("a").doc)).toEqual(DEFAULT_PROFILE);
    expect(scenarioProfile(scenario("a", { denyTTL: 3 }).doc)).toEqual({ ...DEFAULT_PROFILE, denyTTL: 3 });
  });
});

describe("planByProfile", () => {
  const list = [
    scenario("a"),
    scenario("b", OPEN),
    scenario("c", NO_CACHE),
    scenario("d", { ...DEFAULT_PROFILE }),
    scenario("e", OPEN),
    scenario("f", { allowTTL: 50 }), // = default, written out partly
  ];

  it("groups equal profiles (however they are written), in order of first appearance, scenarios in file order", () => {
    expect(plan(list)).toEqual(["default: a d f", "defaultAllow=true: b e", "allowTTL=-1,denyTTL=-1: c"]);
  });

  it("puts the lab's current profile first and keeps the rest in order", () => {
    expect(plan(list, { ...DEFAULT_PROFILE, ...NO_CACHE })).toEqual(["allowTTL=-1,denyTTL=-1: c", "default: a d f", "defaultAllow=true: b e"]);
    expect(plan(list, { ...DEFAULT_PROFILE, ...OPEN })).toEqual(["defaultAllow=true: b e", "default: a d f", "allowTTL=-1,denyTTL=-1: c"]);
  });

  it("keeps the order when the current profile is already first or not used at all", () => {
    const plain = plan(list);
    expect(plan(list, DEFAULT_PROFILE)).toEqual(plain);
    expect(plan(list, { ...DEFAULT_PROFILE, retryBackoff: 1 })).toEqual(plain);
  });

  it("loses and duplicates no scenario", () => {
    const names = planByProfile(list, { ...DEFAULT_PROFILE, ...OPEN }).flatMap((g) => g.scenarios.map((s) => s.doc.name));
    expect(names.sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  it("returns nothing for no scenarios", () => {
    expect(planByProfile([], DEFAULT_PROFILE)).toEqual([]);
  });
});

describe("runScenarios when a profile cannot be applied", () => {
  it("marks that group's scenarios as errors with the reason and still plays the other groups", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "https://127.0.0.1:1" }],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    let profile: AdmissionProfile = { ...DEFAULT_PROFILE };
    const lab = {
      provider: { name: "local" },
      k8sVersion: "1.36.1",
      get profile() {
        return profile;
      },
      cluster: { capabilities: {} },
      kubeConfig: () => kc,
      applyProfile: async (next: AdmissionProfile) => {
        if (next.defaultAllow) throw new Error("kube-apiserver exited (code 1)");
        profile = next;
        return { elapsedMs: 1 };
      },
    } as unknown as StartedLab;
    const report = await runScenarios({ lab, scenarios: [scenario("opens", OPEN), scenario("waits")] });
    const byName = Object.fromEntries(report.scenarios.map((r) => [r.name, r]));
    expect(byName.opens).toMatchObject({ verdict: "error" });
    expect(byName.opens!.reason).toContain("failed to apply the profile defaultAllow=true");
    expect(byName.opens!.reason).toContain("kube-apiserver exited (code 1)");
    // The default-profile group was still played (it fails on its own: there is no apiserver here).
    expect(byName.waits!.reason ?? "").not.toContain("failed to apply the profile");
    expect(byName.waits!.namespace).toMatch(/^ipl-waits-/);
    expect(exitCodeFor(report)).toBe(2);
  });
});
