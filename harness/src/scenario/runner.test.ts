import { describe, expect, it } from "vitest";
import { DEFAULT_PROFILE, type AdmissionProfile } from "../profile/profile.ts";
import type { LoadedScenario } from "./load.ts";
import { planByProfile, scenarioProfile } from "./runner.ts";
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
