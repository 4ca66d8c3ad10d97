import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIssue } from "../util/errors.ts";
import { lintAdmissionFile, type LintFileOptions } from "./lint-file.ts";
import { DEFAULT_PROFILE, type AdmissionProfile } from "./profile.ts";

const TESTDATA = fileURLToPath(new URL("./testdata/", import.meta.url));
const IP = "plugins.0.configuration.imagePolicy";

interface Case {
  /** The profile the apiserver would run with, or undefined when the file carries none / is refused. */
  profile?: AdmissionProfile;
  /** Every error and warning as `line: path: message` (formatIssue without the file). */
  errors: string[];
  warnings: string[];
}

const plugin = (p: Partial<AdmissionProfile>): AdmissionProfile => ({ defaultAllow: false, allowTTL: 0, denyTTL: 0, retryBackoff: 0, ...p });

// One entry per file in testdata/; the last test checks nothing is left out.
const CASES: Record<string, Case> = {
  "valid-profile.yaml": { profile: DEFAULT_PROFILE, errors: [], warnings: [] },
  "valid-profile-partial.yaml": { profile: { ...DEFAULT_PROFILE, allowTTL: -1 }, errors: [], warnings: [] },
  "valid-admission-configuration.yaml": {
    profile: { defaultAllow: true, allowTTL: 50, denyTTL: 50, retryBackoff: 500 },
    errors: [],
    warnings: [`12: ${IP}.defaultAllow: fail-open: while the backend is down or erroring, every image is admitted`],
  },
  "valid-admission-configuration-sentinels.yaml": { profile: plugin({ allowTTL: -1, retryBackoff: -1 }), errors: [], warnings: [] },
  "valid-legacy-image-policy.yaml": {
    profile: plugin({ allowTTL: 1800, denyTTL: 1, retryBackoff: 300_000 }),
    errors: [],
    warnings: ["6: imagePolicy.retryBackoff: a failing backend delays each pod create by about 2437.5 s (5 attempts)"],
  },
  "valid-plugin-path.yaml": {
    errors: [],
    warnings: ["6: plugins.0.path: the plugin config lives in imagepolicy.yaml (relative to this file's directory); lint that file"],
  },
  "valid-warns-unknown-key.yaml": {
    // allowTtlSeconds is dropped: allowTTL stays 0, the plugin's 300 s default.
    profile: plugin({ denyTTL: 10 }),
    errors: [],
    warnings: [
      `9: ${IP}.allowTtlSeconds: unknown key, silently ignored by the apiserver (expected one of kubeConfigFile, allowTTL, denyTTL, retryBackoff, defaultAllow)`,
    ],
  },
  "valid-warns-wrong-case-key.yaml": {
    profile: plugin({ allowTTL: 30, denyTTL: 5 }),
    errors: [],
    warnings: [
      "7: plugins.0.configuration.ImagePolicy: read as imagePolicy (keys are matched case-insensitively); write imagePolicy",
      "9: plugins.0.configuration.ImagePolicy.AllowTtl: read as allowTTL (keys are matched case-insensitively); write allowTTL",
      "10: plugins.0.configuration.ImagePolicy.DENYTTL: read as denyTTL (keys are matched case-insensitively); write denyTTL",
    ],
  },
  "valid-warns-relative-kubeconfig.yaml": {
    profile: plugin({}),
    errors: [],
    warnings: [
      "5: extra: ignored by the apiserver (only imagePolicy is read)",
      "3: imagePolicy.kubeConfigFile: relative path: resolved against the apiserver's working directory, not this file's",
    ],
  },
  "invalid-no-image-policy-wrapper.yaml": {
    errors: [
      "7: plugins.0.configuration: no imagePolicy key: the apiserver ignores every field here and runs with an empty kubeConfigFile (startup fails) — wrap the fields in imagePolicy:",
    ],
    warnings: [],
  },
  "invalid-allow-ttl-too-large.yaml": {
    errors: [`9: ${IP}.allowTTL: allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600`],
    warnings: [],
  },
  "invalid-allow-ttl-fraction.yaml": {
    errors: [`8: ${IP}.allowTTL: allowTTL must be an integer number of seconds (the apiserver refuses fractions), got 1.5`],
    warnings: [],
  },
  "invalid-allow-ttl-duration-string.yaml": {
    errors: [`9: ${IP}.allowTTL: allowTTL must be an integer number of seconds, got "2s"`],
    warnings: [],
  },
  "invalid-wrong-case-key.yaml": {
    // The error names the key as written and its line, not the normalized field.
    errors: [`9: ${IP}.AllowTtl: allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600`],
    warnings: [`9: ${IP}.AllowTtl: read as allowTTL (keys are matched case-insensitively); write allowTTL`],
  },
  "invalid-missing-kubeconfig.yaml": {
    errors: [`6: ${IP}: kubeConfigFile is missing: startup fails unless the apiserver happens to have $KUBECONFIG`],
    warnings: [],
  },
  "invalid-no-plugin-entry.yaml": {
    errors: ['3: plugins: no plugin entry named ImagePolicyWebhook: the apiserver exits with "no config specified"'],
    warnings: [],
  },
  "invalid-profile-wrong-case.yaml": {
    errors: ['4: AllowTtl: unknown field "AllowTtl"; did you mean allowTTL? (field names are case-sensitive here)'],
    warnings: [],
  },
  "invalid-profile-allow-ttl-too-large.yaml": {
    errors: ["4: allowTTL: allowTTL must be -1 (off), 0 (default) or 1..1800 seconds, got 3600"],
    warnings: [],
  },
  "invalid-profile-api-version.yaml": {
    errors: ['1: apiVersion: apiVersion must be imagepolicy-lab.dev/v1alpha1, got "imagepolicy-lab.dev/v1"'],
    warnings: [],
  },
  "invalid-unknown-kind.yaml": {
    errors: ["1: expected kind AdmissionProfile, kind AdmissionConfiguration, or a legacy file with a top-level imagePolicy key"],
    warnings: [],
  },
  "invalid-yaml-syntax.yaml": {
    errors: ["3: YAML syntax: Nested mappings are not allowed in compact mappings"],
    warnings: [],
  },
};

/** formatIssue without the file prefix, after checking the file is the one linted. */
const located = (file: string) => (i: Parameters<typeof formatIssue>[0]) => {
  expect(i.file).toBe(file);
  return formatIssue(i).slice(`${file}:`.length);
};

describe("lintAdmissionFile on testdata", () => {
  // The files these name (/etc/kubernetes/...) are not on a test machine; the checks of them are below.
  it.each(Object.entries(CASES))("%s", async (name, want) => {
    const file = join(TESTDATA, name);
    const r = await lintAdmissionFile(file, { checkFiles: false });
    expect({ profile: r.profile, errors: r.errors.map(located(file)), warnings: r.warnings.map(located(file)) }).toEqual({
      profile: want.profile,
      errors: want.errors,
      warnings: want.warnings,
    });
  });

  it("has a case for every testdata file, and invalid-* files are exactly those with errors", async () => {
    const files = (await readdir(TESTDATA)).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual(Object.keys(CASES).sort());
    for (const [name, c] of Object.entries(CASES)) expect(`${name}: ${c.errors.length > 0}`).toBe(`${name}: ${name.startsWith("invalid-")}`);
  });
});

describe("lintAdmissionFile edge cases", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lint-file-test-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  // Content checks only (`/k` is no file here), unless a test asks for the file checks.
  const lintText = async (text: string, options: LintFileOptions = { checkFiles: false }) => {
    const file = join(dir, `f${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, text);
    return lintAdmissionFile(file, options);
  };

  it("reports an unreadable file as an issue, not a throw", async () => {
    const r = await lintAdmissionFile(join(dir, "missing.yaml"));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.message).toMatch(/^cannot read file: .*ENOENT/);
  });

  it("rejects a document that is not a mapping", async () => {
    const r = await lintText("- a\n- b\n");
    expect(r.errors.map((e) => e.message)).toEqual(["expected kind AdmissionProfile, kind AdmissionConfiguration, or a legacy file with a top-level imagePolicy key"]);
  });

  it("rejects an imagePolicy that is not a mapping", async () => {
    const r = await lintText("imagePolicy: [a]\n");
    expect(r.errors.map((e) => [e.line, e.path])).toEqual([[1, "imagePolicy"]]);
  });

  it("takes the last of two spellings of one field, as encoding/json does", async () => {
    const r = await lintText("imagePolicy:\n  kubeConfigFile: /k\n  allowTTL: 5\n  AllowTTL: 6\n");
    expect(r.profile?.allowTTL).toBe(6);
  });

  it("lints the configuration, not the path, when a plugin entry has both", async () => {
    const r = await lintText(
      "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  path: x.yaml\n  configuration:\n    imagePolicy:\n      kubeConfigFile: /k\n      denyTTL: 4000\n",
    );
    expect(r.errors.map((e) => [e.line, e.path])).toEqual([[9, `${IP}.denyTTL`]]);
  });

  it("checks that an absolute kubeConfigFile exists and is a readable file", async () => {
    const kubeconfig = join(dir, "webhook.kubeconfig");
    await writeFile(kubeconfig, "apiVersion: v1\nkind: Config\n");
    await symlink(join(dir, "gone.kubeconfig"), join(dir, "dangling.kubeconfig"));
    const config = (path: string) => `imagePolicy:\n  kubeConfigFile: ${path}\n  allowTTL: 50\n`;
    expect((await lintText(config(kubeconfig), {})).errors).toEqual([]);
    for (const [path, problem] of [
      [join(dir, "missing.kubeconfig"), "no such file (ENOENT)"],
      [join(dir, "dangling.kubeconfig"), "no such file (ENOENT)"],
      [dir, "is a directory, not a file"],
    ]) {
      const r = await lintText(config(path!), {});
      expect(r.profile).toBeUndefined();
      expect(r.errors.map((e) => [e.line, e.path, e.message])).toEqual([
        [2, "imagePolicy.kubeConfigFile", `${path}: ${problem}: the apiserver fails at startup (lint with --no-file-checks if the file is meant for another machine)`],
      ]);
      expect((await lintText(config(path!))).errors, "with the file checks off").toEqual([]);
    }
  });

  it("follows a plugin path (relative to the file) and lints the file it names, or says it is missing", async () => {
    const sub = join(dir, "admission");
    await mkdir(sub, { recursive: true });
    const admission = join(sub, "admission.yaml");
    const body = (path: string) => `apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: ImagePolicyWebhook\n  path: ${path}\n`;
    await writeFile(admission, body("imagepolicy.yaml"));
    const missing = await lintAdmissionFile(admission);
    expect(missing.errors.map((e) => [e.file, e.line, e.path, e.message])).toEqual([
      [admission, 5, "plugins.0.path", `${join(sub, "imagepolicy.yaml")}: no such file (ENOENT): the apiserver fails at startup`],
    ]);
    await writeFile(join(sub, "imagepolicy.yaml"), "imagePolicy:\n  kubeConfigFile: /no/such/kubeconfig\n  allowTTL: 3600\n");
    const followed = await lintAdmissionFile(admission);
    expect(followed.errors.map((e) => [e.file, e.line, e.path])).toEqual([
      [join(sub, "imagepolicy.yaml"), 3, "imagePolicy.allowTTL"],
      [join(sub, "imagepolicy.yaml"), 2, "imagePolicy.kubeConfigFile"],
    ]);
    // A path pointing at another AdmissionConfiguration (here: itself) is an error, not a loop.
    await writeFile(admission, body("admission.yaml"));
    expect((await lintAdmissionFile(admission)).errors.map((e) => e.message)).toEqual(["a plugin config file must hold imagePolicy:, not another AdmissionConfiguration"]);
  });

  it("requires the apiVersion of our own profile kind", async () => {
    const r = await lintText("kind: AdmissionProfile\nallowTTL: 5\n");
    expect(r.errors.map((e) => e.message)).toEqual(["apiVersion must be imagepolicy-lab.dev/v1alpha1, got none"]);
  });
});
