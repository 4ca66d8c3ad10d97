// Lints a profile file: our own `AdmissionProfile` document, an `AdmissionConfiguration` (embedded
// ImagePolicyWebhook configuration), or a legacy top-level `imagePolicy:` file. For the real
// apiserver formats it also reports what the apiserver would silently ignore (behavior spec §1-§2).
import type { ConfigIssue } from "../util/errors.ts";
import { ConfigError } from "../util/errors.ts";
import { readYamlSource, type YamlSource } from "../util/yaml-source.ts";
import { lintProfile, PROFILE_API_VERSION, type LintResult } from "./profile.ts";

const KNOWN = ["kubeConfigFile", "allowTTL", "denyTTL", "retryBackoff", "defaultAllow"];

export async function lintAdmissionFile(file: string): Promise<LintResult> {
  let src: YamlSource;
  try {
    src = await readYamlSource(file);
  } catch (err) {
    if (err instanceof ConfigError) return { errors: err.issues, warnings: [] };
    throw err;
  }
  const v = src.value as Record<string, unknown> | null;
  const issue = (path: PropertyKey[], message: string): ConfigIssue => ({ file, line: src.lineOf(path), path: path.join("."), message });
  if (!v || typeof v !== "object") return { errors: [issue([], "expected a mapping")], warnings: [] };

  if (v.kind === "AdmissionProfile") {
    const { apiVersion, kind: _k, ...rest } = v;
    if (apiVersion !== PROFILE_API_VERSION) {
      return { errors: [issue(["apiVersion"], `apiVersion must be ${PROFILE_API_VERSION}, got ${apiVersion === undefined ? "none" : JSON.stringify(apiVersion)}`)], warnings: [] };
    }
    return lintProfile(rest, { file, lineOf: src.lineOf });
  }
  if (v.kind === "AdmissionConfiguration") {
    const plugins = Array.isArray(v.plugins) ? (v.plugins as Record<string, unknown>[]) : [];
    const i = plugins.findIndex((p) => p?.name === "ImagePolicyWebhook");
    if (i < 0) return { errors: [issue(["plugins"], 'no plugin entry named ImagePolicyWebhook: the apiserver exits with "no config specified"')], warnings: [] };
    const entry = plugins[i]!;
    if (entry.path !== undefined && entry.configuration === undefined) {
      return { errors: [], warnings: [issue(["plugins", i, "path"], `the plugin config lives in ${String(entry.path)} (relative to this file's directory); lint that file`)] };
    }
    return lintPayload(src, entry.configuration, ["plugins", i, "configuration"]);
  }
  if (Object.keys(v).some((k) => k.toLowerCase() === "imagepolicy")) return lintPayload(src, v, []);
  return {
    errors: [issue([], "expected kind AdmissionProfile, kind AdmissionConfiguration, or a legacy file with a top-level imagePolicy key")],
    warnings: [],
  };
}

/** The plugin payload `{imagePolicy: {...}}`, decoded leniently by the apiserver. */
function lintPayload(src: YamlSource, payload: unknown, base: PropertyKey[]): LintResult {
  const file = src.file;
  const at = (path: PropertyKey[], message: string): ConfigIssue => ({ file, line: src.lineOf([...base, ...path]), path: [...base, ...path].join("."), message });
  const warnings: ConfigIssue[] = [];
  const p = payload as Record<string, unknown> | undefined;
  // The wrapper key, like the fields, is matched case-insensitively by the apiserver's JSON decoder.
  const wrapper = p && typeof p === "object" ? Object.keys(p).findLast((k) => k.toLowerCase() === "imagepolicy") : undefined;
  if (!p || wrapper === undefined) {
    return {
      errors: [at([], "no imagePolicy key: the apiserver ignores every field here and runs with an empty kubeConfigFile (startup fails) — wrap the fields in imagePolicy:")],
      warnings,
    };
  }
  for (const k of Object.keys(p)) {
    if (k === wrapper) {
      if (k !== "imagePolicy") warnings.push(at([k], "read as imagePolicy (keys are matched case-insensitively); write imagePolicy"));
    } else warnings.push(at([k], `ignored by the apiserver (only imagePolicy is read)`));
  }
  const ip = (p[wrapper] ?? {}) as Record<string, unknown>;
  if (typeof ip !== "object" || Array.isArray(ip)) {
    return { errors: [at([wrapper], `imagePolicy must be a mapping of ${KNOWN.join(", ")}; the apiserver cannot decode it`)], warnings };
  }
  const normalized: Record<string, unknown> = {};
  // Field → the key as written, so problems point at the user's own spelling and line.
  const written: Record<string, string> = {};
  for (const [k, val] of Object.entries(ip)) {
    const known = KNOWN.find((n) => n.toLowerCase() === k.toLowerCase());
    if (!known) warnings.push(at([wrapper, k], `unknown key, silently ignored by the apiserver (expected one of ${KNOWN.join(", ")})`));
    else {
      if (known !== k) warnings.push(at([wrapper, k], `read as ${known} (keys are matched case-insensitively); write ${known}`));
      normalized[known] = val;
      written[known] = k;
    }
  }
  const errors: ConfigIssue[] = [];
  if (typeof normalized.kubeConfigFile !== "string" || !normalized.kubeConfigFile) {
    errors.push(at([wrapper], "kubeConfigFile is missing: startup fails unless the apiserver happens to have $KUBECONFIG"));
  } else if (!normalized.kubeConfigFile.startsWith("/")) {
    warnings.push(at([wrapper, written.kubeConfigFile!], "relative path: resolved against the apiserver's working directory, not this file's"));
  }
  delete normalized.kubeConfigFile;
  // Absent numeric fields mean 0 (the plugin default), unlike our profile's lab defaults.
  const withPluginDefaults = { defaultAllow: false, allowTTL: 0, denyTTL: 0, retryBackoff: 0, ...normalized };
  const asWritten = (path: PropertyKey[]) => [...base, wrapper, ...path.map((k) => written[String(k)] ?? k)];
  const r = lintProfile(withPluginDefaults, { file, lineOf: (path) => src.lineOf(asWritten(path)) });
  const located = (i: ConfigIssue): ConfigIssue => ({ ...i, path: asWritten(i.path ? i.path.split(".") : []).join(".") });
  return { profile: errors.length ? undefined : r.profile, errors: [...errors, ...r.errors.map(located)], warnings: [...warnings, ...r.warnings.map(located)] };
}
