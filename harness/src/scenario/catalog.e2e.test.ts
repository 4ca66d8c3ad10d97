// The conformance catalog as a vitest suite: every scenario in scenarios/ is played against a real
// kube-apiserver (local provider: real etcd, apiserver and controller-manager processes) and must
// behave as its file says. One run plays the whole catalog the way `imagepolicy-lab run` does
// (grouped by profile, slow scenarios alongside the rest); each scenario's verdict is then its own test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLab, type StartedLab } from "../lab/lab.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { scenarioLog } from "../report/evidence.ts";
import { loadScenarios, resolveScenarioArgs } from "./load.ts";
import type { RunReport } from "./result.ts";
import { planByProfile, runScenarios } from "./runner.ts";

const skipSlow = process.env.IMAGEPOLICY_LAB_SKIP_SLOW === "1";
const all = await loadScenarios(await resolveScenarioArgs([]));
const scenarios = all.filter((s) => !(skipSlow && s.doc.slow));

describe("conformance catalog on the local provider", () => {
  let lab: StartedLab | undefined;
  let report: RunReport;

  beforeAll(async () => {
    lab = await startLab({ provider: new LocalProvider(), profile: planByProfile(scenarios)[0]!.profile });
    report = await runScenarios({ lab, scenarios });
    console.log(
      `catalog: ${scenarios.length} scenarios in ${(report.durationMs / 1000).toFixed(1)} s; ` +
        `unavoidable waits ${(report.unavoidableWaitMs / 1000).toFixed(1)} s; ratio ${(report.durationMs / report.unavoidableWaitMs).toFixed(2)}`,
    );
  });

  afterAll(async () => {
    await lab?.stop();
  });

  for (const s of all) {
    const run = skipSlow && s.doc.slow ? it.skip : it;
    run(`${s.doc.name}: ${s.doc.description.trim().split("\n")[0]}`, () => {
      const result = report.scenarios.find((r) => r.name === s.doc.name);
      expect(result, "the run has a result for every scenario").toBeDefined();
      if (result!.verdict === "skipped") {
        console.warn(`skipped ${s.doc.name}: ${result!.reason}`);
        return;
      }
      expect(result!.verdict, `${result!.reason ?? ""}\n${scenarioLog(result!)}`).toBe("pass");
    });
  }
});
