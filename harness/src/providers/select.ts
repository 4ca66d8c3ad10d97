// Chooses the cluster provider: an explicit name wins; `auto` takes kind when Docker, the right kind
// binary and the pinned node image are all usable here, else the local processes, and always says why.
// Nothing falls back silently: an explicit `kind` that cannot run is returned with its reasons.
// Also the one registry of providers by name, for commands that know only the name a state file holds.
import type { ClusterProvider, PreflightResult, ProviderName } from "./provider.ts";
import type { KindProviderOptions } from "./kind/kind-provider.ts";
import type { LocalProviderOptions } from "./local/local-provider.ts";
import { LabError } from "../util/errors.ts";

export type ProviderChoice = "local" | "kind" | "auto";

export interface ProviderSelection {
  provider: ClusterProvider;
  /** One sentence for the user, e.g. "auto: kind is not usable here (…), so the local provider runs the control plane as processes." */
  why: string;
  /** The preflight of the chosen provider (and of kind when auto fell back to local). */
  preflight: PreflightResult;
  kindPreflight?: PreflightResult;
}

export interface SelectOptions {
  kind?: KindProviderOptions;
  local?: LocalProviderOptions;
  /** For tests: build the providers yourself. */
  make?: { kind?: () => ClusterProvider; local?: () => ClusterProvider };
}

/**
 * Every provider by name: a new provider is added here (and to ProviderName), and `down` finds it.
 * Loaded on demand, so `down` of a local lab does not pay about a second for the kind provider's imports.
 */
const FACTORIES: Record<ProviderName, (o: SelectOptions) => Promise<ClusterProvider>> = {
  local: async (o) => o.make?.local?.() ?? new (await import("./local/local-provider.ts")).LocalProvider(o.local),
  kind: async (o) => o.make?.kind?.() ?? new (await import("./kind/kind-provider.ts")).KindProvider(o.kind),
};

/** The names `providerByName` knows, in the order `down` asks them to look for leftovers. */
export const PROVIDER_NAMES = Object.keys(FACTORIES) as ProviderName[];

/**
 * The provider a state file names (for `down`, which has only that name). Throws a LabError for a
 * name this version does not know (a state file from a newer version, or edited by hand).
 */
export async function providerByName(name: string, o: SelectOptions = {}): Promise<ClusterProvider> {
  const make = Object.hasOwn(FACTORIES, name) ? FACTORIES[name as ProviderName] : undefined;
  if (!make) throw new LabError(`unknown provider "${name}": this version knows ${PROVIDER_NAMES.join(", ")}`);
  return await make(o);
}

/** Returns the provider for `choice` and a sentence saying why; the caller decides what to do with an unusable one. */
export async function selectProvider(choice: ProviderChoice, o: SelectOptions = {}): Promise<ProviderSelection> {
  const kind = () => providerByName("kind", o);
  const local = () => providerByName("local", o);
  if (choice === "local") {
    const provider = await local();
    return { provider, preflight: await provider.preflight(), why: "local provider chosen explicitly (--provider local): etcd, kube-apiserver and kube-controller-manager run as processes on loopback." };
  }
  if (choice === "kind") {
    const provider = await kind();
    const preflight = await provider.preflight();
    return {
      provider,
      preflight,
      why: preflight.usable
        ? `kind provider chosen explicitly (--provider kind): ${preflight.detail ?? "docker and kind are usable"}.`
        : `kind provider chosen explicitly (--provider kind), but it is not usable here: ${preflight.reasons.join("; ")}.`,
    };
  }
  const k = await kind();
  const kindPreflight = await k.preflight();
  if (kindPreflight.usable) {
    return { provider: k, preflight: kindPreflight, kindPreflight, why: `auto: kind is usable (${kindPreflight.detail ?? "docker, kind and the node image are present"}), so the lab runs in a kind cluster.` };
  }
  const l = await local();
  const preflight = await l.preflight();
  return {
    provider: l,
    preflight,
    kindPreflight,
    why: `auto: kind is not usable here (${kindPreflight.reasons.join("; ")}), so the local provider runs the control plane as processes on loopback.`,
  };
}
