// The conformance catalog as a vitest suite: every scenario in scenarios/ is played against a real
// kube-apiserver (local provider: real etcd, apiserver and controller-manager processes) and must
// behave as the scenario file says. One lab serves the whole catalog; scenarios are ordered by
// admission profile so the apiserver restarts as rarely as possible.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLab, type StartedLab } from "../lab/lab.ts";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { scenarioLog } from "../report/evidence.ts";
import { loadScenarios, resolveScenarioArgs } from "./load.ts";
import { createPlayer, planByProfile, type ScenarioPlayer } from "./runner.ts";

const scenarios = planByProfile(await loadScenarios(await resolveScenarioArgs([]))).flatMap((g) => g.scenarios);
const skipSlow = process.env.IMAGEPOLICY_LAB_SKIP_SLOW === "1";

describe("conformance catalog on the local provider", () => {
  let lab: StartedLab;
  let player: ScenarioPlayer;

  beforeAll(async () => {
    lab = await startLab({ provider: new LocalProvider(), profile: planByProfile(scenarios)[0]!.profile });
    player = createPlayer(lab);
  });

  afterAll(async () => {
    await lab?.stop();
  });

  for (const s of scenarios) {
    const run = skipSlow && s.doc.slow ? it.skip : it;
    run(`${s.doc.name}: ${s.doc.description.trim().split("\n")[0]}`, async () => {
      const result = await player.play(s);
      if (result.verdict === "skipped") {
        console.warn(`skipped ${s.doc.name}: ${result.reason}`);
        return;
      }
      expect(result.verdict, `${result.reason ?? ""}\n${scenarioLog(result)}`).toBe("pass");
    });
  }
});
