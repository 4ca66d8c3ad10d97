import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, formatIssue } from "../util/errors.ts";
import { CATALOG_DIR, loadScenarioFile, loadScenarios, resolveScenarioArgs } from "./load.ts";
import { STEP_ACTIONS } from "./schema.ts";

const TESTDATA = fileURLToPath(new URL("./testdata/", import.meta.url));
const ACTIONS = STEP_ACTIONS.join(", ");

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

/** Issues as `file:line: path: message`, with file relative to testdata/. */
const formatted = (err: ConfigError) => err.issues.map((i) => formatIssue({ ...i, file: relative(TESTDATA, i.file) }));

describe("the catalog", async () => {
  const files = (await readdir(CATALOG_DIR)).filter((f) => f.endsWith(".yaml")).sort();

  it("is not empty", () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)("%s loads, and its name is its file name", async (f) => {
    const s = await loadScenarioFile(join(CATALOG_DIR, f));
    expect(`${s.doc.name}.yaml`).toBe(f);
    expect(s.doc.steps.length).toBeGreaterThan(0);
  });

  it("loads as a whole, names unique", async () => {
    const all = await loadScenarios(await resolveScenarioArgs([]));
    expect(all.map((s) => `${s.doc.name}.yaml`)).toEqual(files);
  });
});

describe("valid testdata", () => {
  it.each(["valid-minimal.yaml", "valid-marks.yaml", "valid-mechanisms.yaml"])("%s loads", async (f) => {
    await expect(loadScenarioFile(join(TESTDATA, f))).resolves.toMatchObject({ file: join(TESTDATA, f), nameLine: 3 });
  });
});

describe("invalid testdata: file:line: path: message", () => {
  const CASES: Record<string, string[]> = {
    "invalid-unknown-step-key.yaml": ['invalid-unknown-step-key.yaml:9: steps.0.expect.backendCall: unknown field "backendCall"'],
    "invalid-unknown-step-field.yaml": ['invalid-unknown-step-field.yaml:7: steps.0.expected: unknown field "expected"'],
    "invalid-two-actions.yaml": [`invalid-two-actions.yaml:7: steps.1: a step needs exactly one action (${ACTIONS}), found createPod, wait`],
    "invalid-no-action.yaml": [`invalid-no-action.yaml:6: steps.0: a step needs exactly one action (${ACTIONS}), found none`],
    "invalid-profile-ttl.yaml": ["invalid-profile-ttl.yaml:7: profile.allowTTL: allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600"],
    "invalid-unknown-mark.yaml": ['invalid-unknown-mark.yaml:9: steps.1.expect.backendCallsSince.mark: mark "start" is not set by this or an earlier step'],
    "invalid-api-version.yaml": ['invalid-api-version.yaml:1: apiVersion: apiVersion must be imagepolicy-lab.dev/v1alpha1, got "imagepolicy-lab.dev/v1"'],
    "invalid-expect-type.yaml": ["invalid-expect-type.yaml:9: steps.1.expect.allowed: Invalid input: expected boolean, received string"],
    "invalid-yaml-syntax.yaml": ["invalid-yaml-syntax.yaml:4: YAML syntax: Nested mappings are not allowed in compact mappings"],
    "invalid-unknown-mechanism.yaml": ['invalid-unknown-mechanism.yaml:5: mechanisms.1: unknown mechanism "opa-gatekeeper"; expected one of imagepolicywebhook, webhook, vap, opa'],
    "invalid-mechanism-expectation.yaml": [
      "invalid-mechanism-expectation.yaml:11: steps.0.expect.byMechanism.vap: expectations for vap, but this step plays only under imagepolicywebhook, webhook",
      "invalid-mechanism-expectation.yaml:17: steps.1.expect.byMechanism.imagepolicywebhook: expectations for imagepolicywebhook, but this step plays only under webhook",
      "invalid-mechanism-expectation.yaml:19: steps.2.mechanisms: mechanism vap is not one the scenario applies to (mechanisms: imagepolicywebhook, webhook)",
    ],
    "invalid-vap-backend.yaml": [
      "invalid-vap-backend.yaml:6: backend.fault: vap has no backend to fail: a fault applies to imagepolicywebhook and webhook only (list only imagepolicywebhook and webhook in the scenario's `mechanisms:`)",
      "invalid-vap-backend.yaml:6: backend.policyFile: vap's policy is a trust list: use `trust:` (registries and repositories), not policyFile",
      "invalid-vap-backend.yaml:8: steps.0.setBackend.fault: vap has no backend to fail: a fault applies to imagepolicywebhook and webhook only (give this step `mechanisms: [imagepolicywebhook, webhook]`)",
      "invalid-vap-backend.yaml:12: steps.2.expect.byMechanism.vap.backendCalls: vap has no backend, so backendCalls is never observed under it",
    ],
    "invalid-opa-backend.yaml": [
      'invalid-opa-backend.yaml:6: backend.fault: opa plays only the faults refuse (OPA stopped, connections refused) and status:404 (an undefined decision, OPA answers 404); "status:500" needs the stub (leave opa out of the scenario\'s `mechanisms:`)',
      'invalid-opa-backend.yaml:8: steps.0.setBackend.fault: opa plays only the faults refuse (OPA stopped, connections refused) and status:404 (an undefined decision, OPA answers 404); "hang" needs the stub (give this step `mechanisms: [webhook]`)',
      "invalid-opa-backend.yaml:13: steps.4.setBackend.policy: opa's policy (policies/opa) takes a trust list: use `trust:` (registries and repositories), not policy",
      "invalid-opa-backend.yaml:15: steps.5.expect.byMechanism.opa.backendCalls: opa's calls go to OPA, which the lab does not journal, so backendCalls is never observed under it",
    ],
    // Every problem at once; the failed step 0 still sets its mark, so step 2 gets no follow-on error.
    "invalid-many.yaml": [
      'invalid-many.yaml:3: kind: kind must be Scenario, got "Scenarios"',
      "invalid-many.yaml:9: steps.0.createPod.images: Too small: expected array to have >=1 items",
      "invalid-many.yaml:11: steps.1.expect: a wait step has nothing to check",
      "invalid-many.yaml:6: profile.denyTTL: denyTTL must be -1 (off), 0 (default) or 1..1800 seconds, got -5",
    ],
  };

  it.each(Object.entries(CASES))("%s", async (f, want) => {
    const err = await configError(loadScenarioFile(join(TESTDATA, f)));
    expect(formatted(err)).toEqual(want);
    expect(err.message.split("\n").slice(1)).toEqual(err.issues.map((i) => `  ${formatIssue(i)}`));
  });

  it("covers every invalid-* file", async () => {
    const files = (await readdir(TESTDATA)).filter((f) => f.startsWith("invalid-")).sort();
    expect(files).toEqual(Object.keys(CASES).sort());
  });

  it("loadScenarios collects the problems of every file and still reports duplicate names", async () => {
    const err = await configError(
      loadScenarios([
        join(TESTDATA, "dup/a.yaml"),
        join(TESTDATA, "invalid-no-action.yaml"),
        join(TESTDATA, "dup/b.yaml"),
        join(TESTDATA, "valid-minimal.yaml"),
        join(TESTDATA, "invalid-api-version.yaml"),
      ]),
    );
    expect(formatted(err)).toEqual([
      `invalid-no-action.yaml:6: steps.0: a step needs exactly one action (${ACTIONS}), found none`,
      'invalid-api-version.yaml:1: apiVersion: apiVersion must be imagepolicy-lab.dev/v1alpha1, got "imagepolicy-lab.dev/v1"',
      `dup/b.yaml:3: name: scenario name "same-name" is also used by ${join(TESTDATA, "dup/a.yaml")}`,
    ]);
  });
});

describe("validation rules", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "scenario-load-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const HEADER = "apiVersion: imagepolicy-lab.dev/v1alpha1\nkind: Scenario\nname: t\ndescription: d\n";
  let n = 0;
  async function issuesOf(body: string): Promise<string[]> {
    const file = join(dir, `s${n++}.yaml`);
    await writeFile(file, HEADER + body);
    try {
      await loadScenarioFile(file);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    }
  }

  it.each([
    ["a mark set by the same step", "steps:\n  - mark: m\n    createPod: { images: [a] }\n    expect: { sinceMarkMs: { mark: m, max: 5 } }\n", []],
    ["a mark set by an earlier step", "steps:\n  - mark: m\n    wait: 1\n  - createPod: { images: [a] }\n    expect: { backendCallsSince: { mark: m, count: 1 } }\n", []],
    [
      "a mark set only by a later step",
      "steps:\n  - mark: x\n    wait: 1\n  - createPod: { images: [a] }\n    expect: { sinceMarkMs: { mark: m, max: 5 } }\n  - mark: m\n    wait: 1\n",
      ['9: steps.1.expect.sinceMarkMs.mark: mark "m" is not set by this or an earlier step (set so far: x)'],
    ],
    ["repeat without expectations", "steps:\n  - createPod: { images: [a] }\n    repeat: { untilExpected: true, timeoutMs: 100 }\n", ["7: steps.0.repeat: repeat needs expectations to wait for"]],
    ["a step that is not a mapping", "steps:\n  - createPod\n", ["6: steps.0: a step must be a mapping with one action"]],
    ["no steps", "steps: []\n", ["5: steps: a scenario needs at least one step"]],
    ["two backend sources", "backend: { trust: [a], policyFile: p.yaml }\nsteps:\n  - wait: 1\n", ["5: backend: give at most one of trust, policy, policyFile"]],
    [
      "a message pattern that is not a valid regular expression",
      "steps:\n  - createPod: { images: [a] }\n    expect:\n      message: /image (x/\n",
      ["8: steps.0.expect.message: not a valid regular expression: Invalid regular expression: /image (x/: Unterminated group"],
    ],
    [
      "a misspelled fault, in the backend block and in a setBackend step",
      "backend: { fault: 'status:5OO' }\nsteps:\n  - setBackend: { fault: hangs }\n",
      [
        '5: backend.fault: status CODE must be an integer from 400 to 599, got "5OO"',
        '7: steps.0.setBackend.fault: unknown fault "hangs"; expected one of healthy, refuse, status:CODE, status:CODE:retry-after:SECONDS, delay:MS, hang, reset, malformed, content-type, empty, bad-cert, first:N:SPEC',
      ],
    ],
    ["valid faults", "backend: { fault: 'first:2:status:500' }\nsteps:\n  - setBackend: { fault: refuse }\n  - setBackend: { fault: ' healthy ' }\n", []],
    [
      "a step namespace that is not listed in namespaces",
      "namespaces: [other]\nsteps:\n  - createPod: { images: [a], namespace: other }\n  - createPod: { images: [a], namespace: typo }\n",
      ['8: steps.1.createPod.namespace: namespace "typo" is not listed in the scenario\'s namespaces (listed: other); add it there so it is created'],
    ],
    [
      "a step namespace with no namespaces at all",
      "steps:\n  - updatePod: { name: p, namespace: other }\n",
      ['6: steps.0.updatePod.namespace: namespace "other" is not listed in the scenario\'s namespaces (none listed); add it there so it is created'],
    ],
    [
      "a namespace suffix that cannot be part of a namespace name",
      "namespaces: [Other, a-very-long-suffix]\nsteps:\n  - wait: 1\n",
      [
        "5: namespaces.0: a namespace suffix must be lower-case letters, digits and '-'",
        "5: namespaces.1: a namespace suffix has at most 13 characters (it is appended to the scenario's namespace)",
      ],
    ],
    ["a profile of the wrong type, reported once", "profile: { allowTTL: '5' }\nsteps:\n  - wait: 1\n", ["5: profile.allowTTL: Invalid input: expected number, received string"]],
  ] as [string, string, string[]][])("%s", async (_label, body, want) => {
    expect(await issuesOf(body)).toEqual(want);
  });

  it("rejects a name that is not a DNS label", async () => {
    const file = join(dir, "bad-name.yaml");
    await writeFile(file, HEADER.replace("name: t", "name: Bad_Name") + "steps:\n  - wait: 1\n");
    const err = await configError(loadScenarioFile(file));
    expect(err.issues.map((i) => [i.line, i.path])).toEqual([[3, "name"]]);
  });
});

describe("resolveScenarioArgs", () => {
  let dir: string;
  let catalog: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "scenario-args-"));
    catalog = join(dir, "catalog");
    await mkdir(join(catalog, "nested"), { recursive: true });
    for (const f of ["b.yaml", "a.yml", "notes.txt", "nested/c.yaml"]) await writeFile(join(catalog, f), "x: 1\n");
    await mkdir(join(dir, "more"));
    await writeFile(join(dir, "more", "z.yaml"), "x: 1\n");
    await writeFile(join(dir, "loose.yaml"), "x: 1\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("no arguments: every YAML file of the catalog, sorted, not recursive", async () => {
    expect(await resolveScenarioArgs([], catalog)).toEqual([join(catalog, "a.yml"), join(catalog, "b.yaml")]);
  });

  it("mixes catalog names, files and directories, in argument order", async () => {
    expect(await resolveScenarioArgs(["b", join(dir, "loose.yaml"), join(dir, "more")], catalog)).toEqual([
      join(catalog, "b.yaml"),
      join(dir, "loose.yaml"),
      join(dir, "more", "z.yaml"),
    ]);
  });

  it("resolves catalog names against the real catalog by default", async () => {
    expect(await resolveScenarioArgs(["cache-key"])).toEqual([join(CATALOG_DIR, "cache-key.yaml")]);
  });

  it("an unknown name lists the known ones", async () => {
    const err = await configError(resolveScenarioArgs(["nope"], catalog));
    expect(err.issues).toEqual([{ file: "nope", path: "", message: "no such file, and no catalog scenario of that name (known: a, b)" }]);
  });
});
