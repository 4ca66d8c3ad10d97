// Turns a scenario's `backend:` block into the stub policy to install.
import { resolve } from "node:path";
import { DEFAULT_POLICY, loadPolicyFile, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import type { StubPolicy } from "../../../webhook-stub/src/types.ts";
import type { BackendDoc } from "./schema.ts";

/** The policy a backend block asks for; DEFAULT_POLICY when it names none and `fallback` is set. */
export async function policyFromDoc(b: BackendDoc, baseDir: string, ns: string): Promise<StubPolicy | undefined> {
  if (b.trust) return trustPolicy(b.trust);
  if (b.policyFile) return loadPolicyFile(resolve(baseDir, b.policyFile));
  if (b.policy) {
    const p = b.policy;
    const rules = (r: typeof p) => ({
      allowRegistries: r.allowRegistries ?? [],
      allowRepositories: r.allowRepositories ?? [],
      denyPatterns: r.denyPatterns ?? [],
      requireDigest: r.requireDigest ?? false,
      denyLatest: r.denyLatest ?? false,
    });
    return {
      ...rules(p),
      namespaces: Object.fromEntries(Object.entries(p.namespaces ?? {}).map(([k, v]) => [k.replaceAll("$ns", ns), rules(v)])),
      breakGlass: p.breakGlass,
      auditAnnotations: p.auditAnnotations ?? {},
    };
  }
  return undefined;
}

export { DEFAULT_POLICY };
