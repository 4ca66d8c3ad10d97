// The conformance catalog as a vitest suite, for any provider: one run plays the whole catalog the way
// `imagepolicy-lab run` does (grouped by profile, slow scenarios alongside the rest); each scenario's
// verdict is then its own test. A scenario the run skipped is reported as skipped (ctx.skip), never as
// passed; a suite that cannot run at all skips every test and prints why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLab, type StartedLab } from "../src/lab/lab.ts";
import type { ClusterProvider } from "../src/providers/provider.ts";
import { scenarioLog } from "../src/report/evidence.ts";
import { waitRatio } from "../src/report/format.ts";
import type { MechanismName } from "../src/mechanism/names.ts";
import { forMechanism } from "../src/scenario/for-mechanism.ts";
import { forOpaBackend } from "../src/scenario/opa-backend-view.ts";
import { loadScenarios, resolveScenarioArgs } from "../src/scenario/load.ts";
import type { RunReport } from "../src/scenario/result.ts";
import { planByProfile, runScenarios } from "../src/scenario/runner.ts";

export interface CatalogSuiteOptions {
  title: string;
  provider: () => ClusterProvider;
  /** The lab's admission mechanism (default ImagePolicyWebhook); only the scenarios that apply to it are tests. */
  mechanism?: MechanismName;
  /** ImagePolicyWebhook's backend is the lab's OPA (`--backend opa`); only the scenarios it can play are tests. */
  opaBackend?: boolean;
  /** Why the suite cannot run here (printed, and every test skipped), or undefined to run it. */
  skipReason?: () => Promise<string | undefined>;
  /** Called with the report and the lab before it stops (extra checks, timings). */
  onReport?: (report: RunReport, lab: StartedLab) => Promise<void> | void;
  /** Called after the lab stopped (checks that nothing was left behind). */
  afterStop?: () => Promise<void> | void;
  /** Budget for the lab start plus the whole run. */
  timeoutMs?: number;
}

const skipSlow = process.env.IMAGEPOLICY_LAB_SKIP_SLOW === "1";

export async function defineCatalogSuite(o: CatalogSuiteOptions): Promise<void> {
  const mechanism = o.mechanism ?? "imagepolicywebhook";
  const all = (await loadScenarios(await resolveScenarioArgs([])))
    .filter((s) => forMechanism(s.doc, mechanism))
    .filter((s) => !o.opaBackend || !("notApplicable" in forOpaBackend(s.doc, mechanism)));
  const scenarios = all.filter((s) => !(skipSlow && s.doc.slow));

  describe(o.title, () => {
    let lab: StartedLab | undefined;
    let report: RunReport | undefined;
    let suiteSkip: string | undefined;

    beforeAll(async () => {
      suiteSkip = await o.skipReason?.();
      if (suiteSkip) {
        console.warn(`${o.title}: skipped: ${suiteSkip}`);
        return;
      }
      const t0 = performance.now();
      lab = await startLab({ provider: o.provider(), mechanism, opaBackend: o.opaBackend, profile: planByProfile(scenarios)[0]!.profile });
      const startMs = performance.now() - t0;
      report = await runScenarios({ lab, scenarios });
      console.log(
        `${o.title}: lab ready in ${(startMs / 1000).toFixed(1)} s; ${scenarios.length} scenarios in ${(report.durationMs / 1000).toFixed(1)} s; ` +
          `unavoidable waits ${(report.unavoidableWaitMs / 1000).toFixed(1)} s; ratio ${waitRatio(report)?.toFixed(2) ?? "none (no unavoidable waits)"}`,
      );
      await o.onReport?.(report, lab);
    }, o.timeoutMs ?? 1_200_000);

    afterAll(async () => {
      if (!lab) return;
      await lab.stop();
      await o.afterStop?.();
    }, 300_000);

    for (const s of all) {
      const run = skipSlow && s.doc.slow ? it.skip : it;
      run(`${s.doc.name}: ${s.doc.description.trim().split("\n")[0]}`, (ctx) => {
        if (suiteSkip) {
          ctx.skip(suiteSkip);
          return;
        }
        const result = report?.scenarios.find((r) => r.name === s.doc.name);
        expect(result, "the run has a result for every scenario").toBeDefined();
        if (result!.verdict === "skipped") {
          console.warn(`skipped ${s.doc.name}: ${result!.reason}`);
          ctx.skip(result!.reason ?? "skipped by the runner");
          return;
        }
        expect(result!.verdict, `${result!.reason ?? ""}\n${scenarioLog(result!)}`).toBe("pass");
      });
    }
  });
}
