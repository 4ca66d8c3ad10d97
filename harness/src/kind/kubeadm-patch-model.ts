// A small model of what kind and kubeadm do with our patch, so unit tests can check the *result* (the
// apiserver's flags and volumes) for both kubeadm API versions without a cluster. It follows kind
// v0.32.0 `pkg/internal/patch` (resource.go `matches`/`applyMergePatch`, kubeadm_merge.go
// `mergeAndStrip`) and kubeadm's `ArgumentsToCommand` (kind-integration.md §3, §5). It is a model:
// the real thing is only proven by a live kind run (kind.e2e.test.ts).
import { parse } from "yaml";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch (what evanphx/json-patch MergePatch does): maps merge, null deletes, everything else (lists too) replaces. */
export function jsonMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}

/** kind's `resource.matches`: kind must match; apiVersion only when the patch sets one (group, then version if given). */
export function kindPatchMatches(target: { apiVersion?: string; kind?: string }, patch: { apiVersion?: string; kind?: string }): boolean {
  if (target.kind !== patch.kind) return false;
  if (!patch.apiVersion) return true;
  const split = (av: string) => (av.includes("/") ? (av.split("/", 2) as [string, string]) : ["", av]);
  const [group, version] = split(target.apiVersion ?? "");
  const [pGroup, pVersion] = split(patch.apiVersion);
  return group === pGroup && (pVersion === "" || version === pVersion);
}

function toNameValueList(map: JsonObject): Json[] {
  return Object.entries(map).map(([name, value]) => ({ name, value }));
}

// kind kubeadm_merge.go `walkAndMerge`: extraArgs/kubeletExtraArgs merged by name for v1beta4 targets
// (an unversioned map-form patch is converted first; a versioned map is dropped), certSANs appended;
// those keys are then stripped from the patch before the RFC 7386 merge.
function walkAndMerge(target: JsonObject, patch: JsonObject, targetVersion: string, patchVersion: string): void {
  for (const [k, patchVal] of Object.entries(patch)) {
    if (k === "extraArgs" || k === "kubeletExtraArgs") {
      if (targetVersion.endsWith("v1beta4")) {
        let patchList: Json[] = [];
        if (Array.isArray(patchVal)) patchList = patchVal;
        else if (patchVersion === "" && isObject(patchVal)) patchList = toNameValueList(patchVal);
        const tv = target[k];
        let targetList: Json[] = Array.isArray(tv) ? tv : isObject(tv) ? toNameValueList(tv) : [];
        for (const item of patchList) {
          if (!isObject(item) || typeof item.name !== "string") continue;
          const idx = targetList.findIndex((t) => isObject(t) && t.name === item.name);
          const value = item.value ?? null;
          if (idx >= 0) {
            if (value === null) targetList = targetList.filter((_, i) => i !== idx);
            else (targetList[idx] as JsonObject).value = value;
          } else if (value !== null) {
            targetList.push({ name: item.name, value });
          }
        }
        target[k] = targetList;
        delete patch[k];
      }
      continue;
    }
    if (k === "certSANs") {
      const list = Array.isArray(target[k]) ? (target[k] as Json[]) : [];
      for (const san of Array.isArray(patchVal) ? patchVal : []) if (!list.includes(san)) list.push(san);
      target[k] = list;
      delete patch[k];
      continue;
    }
    if (isObject(patchVal)) {
      if (!(k in target)) target[k] = {};
      const t = target[k];
      if (isObject(t)) walkAndMerge(t, patchVal, targetVersion, patchVersion);
    }
  }
}

/**
 * Applies kind merge patches (YAML strings, in the order kind applies them: cluster level, then node
 * level) to one generated kubeadm document. Non-matching patches are skipped silently, as in kind.
 */
export function applyKindMergePatches<T extends object>(generated: T, patches: string[]): T {
  let doc = structuredClone(generated) as unknown as JsonObject;
  for (const text of patches) {
    const patch = parse(text) as JsonObject;
    if (!kindPatchMatches(doc as { apiVersion?: string; kind?: string }, patch as { apiVersion?: string; kind?: string })) continue;
    const target = structuredClone(doc);
    const stripped = structuredClone(patch);
    walkAndMerge(target, stripped, String(doc.apiVersion ?? ""), String(patch.apiVersion ?? ""));
    doc = jsonMergePatch(target, stripped) as JsonObject;
  }
  return doc as unknown as T;
}

/**
 * kubeadm's view of `apiServer.extraArgs` as a flag map, for either API version: v1beta3 maps are
 * taken as they are; v1beta4 lists must hold `{name, value}` strings. A map in a v1beta4 document
 * (or a list in v1beta3) is what kubeadm refuses to decode (`cannot unmarshal …`), so it throws.
 */
export function kubeadmExtraArgs(clusterConfiguration: { apiVersion?: string; apiServer?: { extraArgs?: unknown } }): Record<string, string> {
  const v = clusterConfiguration.apiVersion ?? "";
  const args = clusterConfiguration.apiServer?.extraArgs;
  if (args === undefined || args === null) return {};
  if (v.endsWith("v1beta4")) {
    if (!Array.isArray(args)) throw new Error(`kubeadm ${v}: apiServer.extraArgs must be a list of {name, value}, got a map`);
    return Object.fromEntries(args.map((a: { name: string; value: string }) => [a.name, String(a.value)]));
  }
  if (!isObject(args)) throw new Error(`kubeadm ${v}: apiServer.extraArgs must be a map, got a list`);
  return Object.fromEntries(Object.entries(args).map(([k, val]) => [k, String(val)]));
}

/** kubeadm `ArgumentsToCommand`: an extraArgs entry replaces the default of the same name. */
export function kubeadmApiserverCommand(defaults: Record<string, string>, extraArgs: Record<string, string>): string[] {
  const merged = { ...defaults, ...extraArgs };
  return Object.keys(merged)
    .sort()
    .map((k) => `--${k}=${merged[k]}`);
}
