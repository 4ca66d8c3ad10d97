// Lints a profile file: our own `AdmissionProfile` document, an `AdmissionConfiguration` (embedded
// ImagePolicyWebhook configuration), or a legacy top-level `imagePolicy:` file. For the real
// apiserver formats it also reports what the apiserver would silently ignore (behavior spec §1-§2).
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { ConfigIssue } from "../util/errors.ts";
import { ConfigError } from "../util/errors.ts";
import { readYamlSource, type YamlSource } from "../util/yaml-source.ts";
import { lintProfile, PROFILE_API_VERSION, type LintResult } from "./profile.ts";

const KNOWN = ["kubeConfigFile", "allowTTL", "denyTTL", "retryBackoff", "defaultAllow"];

export interface LintFileOptions {
  /**
   * Check that the files the configuration names (an absolute `kubeConfigFile`, a plugin `path`)
   * exist here and are readable, as the apiserver needs at startup. Default true; turn it off for a
   * file meant for another machine (e.g. a kind node's /etc/kubernetes).
   */
  checkFiles?: boolean;
}

export async function lintAdmissionFile(file: string, options: LintFileOptions = {}): Promise<LintResult> {
  return lintFile(file, options, false);
}

async function lintFile(file: string, options: LintFileOptions, followed: boolean): Promise<LintResult> {
  const checkFiles = options.checkFiles ?? true;
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
      if (!checkFiles) {
        return { errors: [], warnings: [issue(["plugins", i, "path"], `the plugin config lives in ${String(entry.path)} (relative to this file's directory); lint that file`)] };
      }
      // The apiserver resolves it against this file's directory, then reads and decodes it.
      const target = typeof entry.path === "string" ? resolve(dirname(resolve(file)), entry.path) : undefined;
      const problem = target === undefined ? "must be a file path" : await unreadable(target);
      if (problem) return { errors: [issue(["plugins", i, "path"], `${target ?? JSON.stringify(entry.path)}: ${problem}: the apiserver fails at startup`)], warnings: [] };
      // The file a path names holds the plugin's own config, never another AdmissionConfiguration.
      if (followed) return { errors: [issue(["plugins", i, "path"], "a plugin config file must hold imagePolicy:, not another AdmissionConfiguration")], warnings: [] };
      return lintFile(target!, options, true);
    }
    return withFileChecks(lintPayload(src, entry.configuration, ["plugins", i, "configuration"]), checkFiles);
  }
  if (Object.keys(v).some((k) => k.toLowerCase() === "imagepolicy")) return withFileChecks(lintPayload(src, v, []), checkFiles);
  return {
    errors: [issue([], "expected kind AdmissionProfile, kind AdmissionConfiguration, or a legacy file with a top-level imagePolicy key")],
    warnings: [],
  };
}

/** What is wrong with reading `file` as the apiserver would, or undefined when it can. */
async function unreadable(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return st.isDirectory() ? "is a directory, not a file" : "is not a regular file";
    await access(file, constants.R_OK);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === "ENOENT" ? "no such file (ENOENT)" : e.code === "EACCES" ? "not readable (EACCES)" : e.message;
  }
}

/** Adds the existence check of an absolute kubeConfigFile to a payload's lint result. */
async function withFileChecks(pending: LintResult & { kubeConfig?: { file: string; issue: (message: string) => ConfigIssue } }, checkFiles: boolean): Promise<LintResult> {
  const { kubeConfig, ...result } = pending;
  if (!checkFiles || !kubeConfig) return result;
  const problem = await unreadable(kubeConfig.file);
  if (!problem) return result;
  const error = kubeConfig.issue(`${kubeConfig.file}: ${problem}: the apiserver fails at startup (lint with --no-file-checks if the file is meant for another machine)`);
  return { ...result, profile: undefined, errors: [...result.errors, error] };
}

/** The plugin payload `{imagePolicy: {...}}`, decoded leniently by the apiserver. */
function lintPayload(src: YamlSource, payload: unknown, base: PropertyKey[]): LintResult & { kubeConfig?: { file: string; issue: (message: string) => ConfigIssue } } {
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
  let kubeConfig: { file: string; issue: (message: string) => ConfigIssue } | undefined;
  if (typeof normalized.kubeConfigFile !== "string" || !normalized.kubeConfigFile) {
    errors.push(at([wrapper], "kubeConfigFile is missing: startup fails unless the apiserver happens to have $KUBECONFIG"));
  } else if (!isAbsolute(normalized.kubeConfigFile)) {
    warnings.push(at([wrapper, written.kubeConfigFile!], "relative path: resolved against the apiserver's working directory, not this file's"));
  } else {
    const key = written.kubeConfigFile!;
    kubeConfig = { file: normalized.kubeConfigFile, issue: (message) => at([wrapper, key], message) };
  }
  delete normalized.kubeConfigFile;
  // Absent numeric fields mean 0 (the plugin default), unlike our profile's lab defaults.
  const withPluginDefaults = { defaultAllow: false, allowTTL: 0, denyTTL: 0, retryBackoff: 0, ...normalized };
  const asWritten = (path: PropertyKey[]) => [...base, wrapper, ...path.map((k) => written[String(k)] ?? k)];
  const r = lintProfile(withPluginDefaults, { file, lineOf: (path) => src.lineOf(asWritten(path)) });
  const located = (i: ConfigIssue): ConfigIssue => ({ ...i, path: asWritten(i.path ? i.path.split(".") : []).join(".") });
  return { profile: errors.length ? undefined : r.profile, errors: [...errors, ...r.errors.map(located)], warnings: [...warnings, ...r.warnings.map(located)], ...(kubeConfig ? { kubeConfig } : {}) };
}
