// For the OPA tests only: one opa for every test file (found, or built once under ensureOpa's lock),
// and the skip-or-fail rule: without an opa a test is skipped with the reason, unless
// IMAGEPOLICY_LAB_OPA_TESTS=required (.ci/run), where that is a failure.
import type { TestContext } from "vitest";
import { ensureOpa } from "./opa-binary.ts";

/** How long a test file may wait for ensureOpa: a cold build took 2.5 min here on 2 cores. */
export const OPA_BUILD_BUDGET_MS = 900_000;

export type OpaForTests = { opa: string } | { opa?: undefined; reason: string };

/** ensureOpa() with the process environment, as a result instead of a throw. */
export async function opaForTests(): Promise<OpaForTests> {
  try {
    return { opa: await ensureOpa() };
  } catch (err) {
    const chain: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message.split("\n")[0] ?? "");
    return { reason: chain.join(": ") };
  }
}

/** The opa path, or skips the test saying why (fails instead under IMAGEPOLICY_LAB_OPA_TESTS=required). */
export function requireOpa(found: OpaForTests | undefined, ctx: TestContext): string {
  if (found?.opa !== undefined) return found.opa;
  const reason = found && "reason" in found ? found.reason : "opa lookup did not run";
  if (process.env.IMAGEPOLICY_LAB_OPA_TESTS?.trim() === "required") throw new Error(`IMAGEPOLICY_LAB_OPA_TESTS=required, but there is no opa: ${reason}`);
  console.warn(`skipping: no opa: ${reason}`);
  ctx.skip(`no opa: ${reason}`);
  throw new Error("unreachable");
}
