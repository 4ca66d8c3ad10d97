import { describe, expect, it } from "vitest";
import { parseYamlSource } from "../util/yaml-source.ts";
import { loadExercises, validateExercise } from "./load.ts";
import { describeEdit } from "./session.ts";

const valid = `apiVersion: imagepolicy-lab.dev/v1alpha1
kind: Exercise
name: demo
title: Demo
task: Do it.
hints: [one]
checks:
  - name: refused
    whenFailing: admitted
    steps:
      - createPod: { images: [nginx] }
        expect: { allowed: false }
solution:
  text: Fix it.
  edits:
    - file: admission/admission-config.yaml
      replace: "defaultAllow: true"
      with: "defaultAllow: false"
    - restartApiserver: true
`;
const issues = (text: string) => validateExercise(parseYamlSource("ex.yaml", text)).map((i) => `${i.line}: ${i.path}: ${i.message}`);

describe("exercise files", () => {
  it("loads every shipped exercise", async () => {
    const all = await loadExercises();
    expect(all.length).toBeGreaterThanOrEqual(8);
    expect(new Set(all.map((e) => e.doc.name)).size).toBe(all.length);
  });

  it("accepts a minimal exercise", () => {
    expect(issues(valid)).toEqual([]);
  });

  it("names file line and path for an unknown key, a bad check step and a forbidden edit", () => {
    const bad = valid
      .replace("title: Demo", "title: Demo\ntitel: typo")
      .replace("expect: { allowed: false }", "expect: { alowed: false }")
      .replace("file: admission/admission-config.yaml", "file: pki/ca.key");
    expect(issues(bad)).toEqual([
      "17: solution.edits.0.file: an edit may change manifests/kube-apiserver.yaml or a file in admission/",
      `5: titel: unknown field "titel"`,
      `13: checks.0.steps.0.expect.alowed: unknown field "alowed"`,
    ]);
  });

  it("refuses a check that would change the trainee's backend", () => {
    const bad = valid.replace("      - createPod: { images: [nginx] }\n        expect: { allowed: false }", "      - setBackend: { trust: [x.example] }");
    expect(issues(bad)).toEqual(["11: checks.0.steps.0.setBackend: a check may not change the backend (it would undo the trainee's settings); use start.backend or solution.edits"]);
  });

  it("describes edits as a human would do them", () => {
    expect(describeEdit({ file: "admission/admission-config.yaml", replace: "defaultAllow: true", with: "defaultAllow: false" })).toBe(
      `in admission/admission-config.yaml, replace "defaultAllow: true" with "defaultAllow: false"`,
    );
    expect(describeEdit({ stub: { trust: ["registry.k8s.io", "ghcr.io/acme"] } })).toBe("set the backend: imagepolicy-lab stub set --trust registry.k8s.io --trust ghcr.io/acme");
    expect(describeEdit({ restartApiserver: true })).toMatch(/touch manifests\/kube-apiserver.yaml/);
  });
});
