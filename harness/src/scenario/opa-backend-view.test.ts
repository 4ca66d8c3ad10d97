// Which catalog scenarios OPA as ImagePolicyWebhook's backend plays, and how: trust lists and OPA
// stopped keep their meaning; the stub's other faults, its policies and its journal do not.
import { describe, expect, it } from "vitest";
import { forMechanism } from "./for-mechanism.ts";
import { loadScenarios, resolveScenarioArgs } from "./load.ts";
import { forOpaBackend } from "./opa-backend-view.ts";
import type { ScenarioDoc } from "./schema.ts";

const catalog = await loadScenarios(await resolveScenarioArgs([]));
const view = (name: string) => {
  const s = catalog.find((c) => c.doc.name === name)!;
  return forOpaBackend(forMechanism(s.doc, "imagepolicywebhook")!, "imagepolicywebhook");
};

describe("forOpaBackend", () => {
  it("plays the catalog's trust-list and OPA-down scenarios, and only those", () => {
    const played = catalog
      .filter((s) => forMechanism(s.doc, "imagepolicywebhook"))
      .filter((s) => !("notApplicable" in forOpaBackend(forMechanism(s.doc, "imagepolicywebhook")!, "imagepolicywebhook")))
      .map((s) => s.doc.name);
    expect(played).toEqual([
      "deployment-pods-refused",
      "ephemeral-container-reviewed",
      "fail-closed-connection-refused",
      "fail-open-connection-refused",
      "fail-open-explicit-deny",
      "implicit-docker-hub",
      "init-container-untrusted-denied",
      "job-pods-refused",
      "mixed-containers-denied",
      "pod-update-reviewed",
      "registry-spoofing",
      "trusted-image-allowed",
      "untrusted-image-denied",
    ]);
  });

  it.each([
    ["fail-closed-http-500", 'backend.fault needs the stub\'s fault "status:500"; OPA can only be stopped (refuse)'],
    ["fail-closed-status-codes", 'step 1 (setBackend) needs the stub\'s fault "status:400"'],
    ["break-glass", "needs a stub policy (policy); the shipped Rego takes trust lists only"],
    ["cache-key", "its subject (tag caching) is the plugin's calls to the backend, seen only in the stub's journal"],
    ["image-order", "its subject (tag request-format)"],
  ])("%s is not applicable: %s", (name, why) => {
    const v = view(name);
    expect("notApplicable" in v && v.notApplicable).toContain(why);
  });

  it("drops journal checks with a note per step and keeps the apiserver's answers, messages included", () => {
    const v = view("untrusted-image-denied");
    if ("notApplicable" in v) throw new Error(v.notApplicable);
    expect(v.doc.steps[0]!.expect).toEqual({ allowed: false, code: 403, message: '/^pods "untrusted-pod" is forbidden: image policy webhook backend denied one or more images: .*nginx/' });
    expect(v.notes).toEqual([["backendCalls 1: OPA's reviews are not visible to the lab (only the stub keeps a journal)"]]);
    expect(v.doc.backend).toEqual({ trust: ["trusted.example"] });
  });

  it("keeps the fault refuse (OPA stopped) and refuses other mechanisms", () => {
    const v = view("fail-closed-connection-refused");
    expect("doc" in v && v.doc.backend?.fault).toBe("refuse");
    const doc = catalog.find((c) => c.doc.name === "untrusted-image-denied")!.doc as ScenarioDoc;
    expect(forOpaBackend(forMechanism(doc, "webhook")!, "webhook")).toEqual({ notApplicable: "OPA as a backend is ImagePolicyWebhook's, not the webhook mechanism's" });
  });
});
