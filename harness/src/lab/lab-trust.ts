// The quick `--trust` allowlist as a lab uses it (`up --trust`, `stub set --trust`).
import { DEFAULT_POLICY, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import type { StubPolicy } from "../../../webhook-stub/src/types.ts";
import type { ProviderName } from "../providers/provider.ts";

/**
 * Allows exactly `entries` (registries or repository prefixes). On kind the cluster's own pods are
 * reviewed too (kindnet, CoreDNS, the apiserver's mirror pod after a restart), so the default
 * policy's allow-all rules for kube-system and local-path-storage are kept, or the node breaks.
 */
export function labTrustPolicy(provider: ProviderName, entries: string[]): StubPolicy {
  return trustPolicy(entries, { namespaces: provider === "kind" ? DEFAULT_POLICY.namespaces : undefined });
}
