// `run`: the main job. Loads and validates every scenario first (nothing starts when a file is
// invalid), starts one lab with the first profile, plays the catalog, writes reports.
import { resolve } from "node:path";
import { startLab } from "../../lab/lab.ts";
import { selectProvider } from "../../providers/select.ts";
import { liveReporter, renderSummaryTable } from "../../report/terminal.ts";
import { writeReports } from "../../report/write-reports.ts";
import { loadScenarios, resolveScenarioArgs } from "../../scenario/load.ts";
import { exitCodeFor, type RunReport } from "../../scenario/result.ts";
import { planByProfile, runScenarios } from "../../scenario/runner.ts";
import { EXIT } from "../exit-codes.ts";
import { warnAboutOrphans } from "../../lab/orphans.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";
import { VERSION } from "../../util/version.ts";
import { versionInfo } from "../../binaries/versions.ts";
import { ensureWritableDir } from "../../util/dirs.ts";

export interface RunFlags {
  provider: "local" | "kind" | "auto";
  k8sVersion?: string;
  reportDir?: string;
  stateDir?: string;
  tag?: string[];
  skipSlow?: boolean;
}

export async function runCommand(names: string[], flags: RunFlags, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const files = await resolveScenarioArgs(names.map((n) => (n.includes("/") || n.endsWith(".yaml") ? resolve(io.cwd, n) : n)));
  let scenarios = await loadScenarios(files);
  if (flags.tag?.length) scenarios = scenarios.filter((s) => s.doc.tags?.some((t) => flags.tag!.includes(t)));
  if (flags.skipSlow) scenarios = scenarios.filter((s) => !s.doc.slow);
  if (!scenarios.length) {
    io.stderr.write("no scenarios selected\n");
    return EXIT.labFailed;
  }
  // Every flag is checked before the lab starts: a report dir that cannot be written would
  // otherwise fail the run only at its end.
  if (flags.k8sVersion !== undefined) versionInfo(flags.k8sVersion);
  if (flags.reportDir !== undefined) await ensureWritableDir(resolve(io.cwd, flags.reportDir), "--report-dir", 0o755);
  if (flags.stateDir !== undefined) await ensureWritableDir(resolve(io.cwd, flags.stateDir), "--state-dir");
  const logger = terminalLogger(io, g.verbose);
  const { provider, why } = await selectProvider(flags.provider, { kind: { k8sVersion: flags.k8sVersion, logger } });
  logger.info(`provider: ${provider.name} (${why}); ${scenarios.length} scenarios`);
  const color = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  const first = planByProfile(scenarios)[0]!.profile;
  const t0 = performance.now();
  // CI still gets a report when the lab fails: one errored "lab setup" case says why nothing (more) ran.
  const reportLabError = async (err: unknown) => {
    if (!flags.reportDir) return;
    const now = new Date().toISOString();
    const report: RunReport = {
      tool: { name: "imagepolicy-lab", version: VERSION },
      startedAt: now,
      finishedAt: now,
      durationMs: performance.now() - t0,
      provider: provider.name,
      k8sVersion: flags.k8sVersion ?? "",
      labStartMs: 0,
      profileSwitches: [],
      scenarios: [],
      totals: { pass: 0, fail: 0, error: 0, skipped: 0 },
      unavoidableWaitMs: 0,
      labError: err instanceof Error ? err.message : String(err),
    };
    await writeReports(resolve(io.cwd, flags.reportDir), report);
  };
  let lab;
  try {
    lab = await startLab({
      provider,
      stateDir: flags.stateDir ? resolve(io.cwd, flags.stateDir) : undefined,
      k8sVersion: flags.k8sVersion,
      profile: first,
      logger,
      progress: terminalProgress(io, g.quiet),
      // Said before anything starts: if this command is killed outright, the user knows where the
      // lab's files are (`down --state-dir` takes it from there).
      onStateDir: async (dir) => {
        logger.info(`lab state: ${dir} (if this command is killed: imagepolicy-lab down --state-dir ${dir})`);
        await warnAboutOrphans(logger, { except: dir });
      },
    });
  } catch (err) {
    await reportLabError(err);
    throw err;
  }
  let report: RunReport;
  try {
    const labStartMs = performance.now() - t0;
    report = await runScenarios({ lab, scenarios, labStartMs, version: VERSION, onEvent: liveReporter(io.stdout, { color, interactive: Boolean(io.stdout.isTTY) }) });
  } catch (err) {
    // Scenario failures are results; this is the lab failing under them (e.g. an apiserver that
    // did not come back after a profile switch).
    await reportLabError(err);
    throw err;
  } finally {
    await lab.stop().catch((err) => logger.warn(`stopping the lab: ${(err as Error).message}`));
  }
  io.stdout.write(`\n${renderSummaryTable(report, { color, width: io.stdout.columns ?? 120 })}\n`);
  if (flags.reportDir) {
    const { files: written } = await writeReports(resolve(io.cwd, flags.reportDir), report);
    io.stdout.write(`reports: ${written.join(", ")}\n`);
  }
  return exitCodeFor(report);
}
