// `run`: the main job. Loads and validates every scenario first (nothing starts when a file is
// invalid), starts one lab per mechanism with the first profile, plays the scenarios that apply to
// it, writes reports; `--mechanism all` plays each mechanism in turn and compares them.
import { resolve } from "node:path";
import { opaUnsupportedMessage, startLab } from "../../lab/lab.ts";
import { MECHANISM_NAMES, type MechanismName } from "../../mechanism/names.ts";
import { selectProvider } from "../../providers/select.ts";
import type { ClusterProvider } from "../../providers/provider.ts";
import { comparisonExitCode, renderComparisonTable, writeComparisonReports, type ComparisonReport } from "../../report/comparison.ts";
import { liveReporter, renderSummaryTable } from "../../report/terminal.ts";
import { writeReports } from "../../report/write-reports.ts";
import { forMechanism } from "../../scenario/for-mechanism.ts";
import { loadScenarios, resolveScenarioArgs, type LoadedScenario } from "../../scenario/load.ts";
import { exitCodeFor, totals, type RunReport } from "../../scenario/result.ts";
import { NOT_APPLICABLE, planByProfile, runScenarios } from "../../scenario/runner.ts";
import { CATALOG_TRUSTED_REGISTRY, forExternalBackend } from "../../scenario/external-backend.ts";
import { ConfigError } from "../../util/errors.ts";
import { backendChoiceIssues, readBackendCa, runBackendFlagIssues, type BackendName } from "../backend-flags.ts";
import { NOT_APPLICABLE_WITH_OPA } from "../../scenario/opa-backend-view.ts";
import { EXIT } from "../exit-codes.ts";
import { warnAboutOrphans } from "../../lab/orphans.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";
import { VERSION } from "../../util/version.ts";
import { versionInfo } from "../../binaries/versions.ts";
import { ensureWritableDir } from "../../util/dirs.ts";
import type { Logger } from "../../util/logger.ts";

export interface RunFlags {
  provider: "local" | "kind" | "auto";
  mechanism?: MechanismName | "all";
  k8sVersion?: string;
  reportDir?: string;
  stateDir?: string;
  tag?: string[];
  skipSlow?: boolean;
  /** ImagePolicyWebhook's backend: the stub (default) or the lab's OPA with the shipped Rego. */
  backend?: BackendName;
  /** The user's backend instead of the stub (with --backend-ca and --trust). */
  backendUrl?: string;
  backendCa?: string;
  /** With --backend-url: the registries or repositories the backend is declared to trust (the expectation). */
  trust?: string[];
  /** With --mechanism opa: the user's own Rego policy, played instead of the shipped one. */
  policy?: string;
}

interface Globals {
  verbose?: boolean;
  quiet?: boolean;
}

export async function runCommand(names: string[], flags: RunFlags, io: CliIO, g: Globals): Promise<number> {
  const choiceIssues = backendChoiceIssues(flags);
  if (choiceIssues.length) throw new ConfigError(choiceIssues, "invalid backend flags");
  if (flags.policy !== undefined && (flags.mechanism !== "opa" || !flags.policy.endsWith(".rego"))) {
    throw new ConfigError([{ file: "command line", path: "--policy", message: "a Rego policy (.rego) for --mechanism opa: the catalog then shows what it really does (other mechanisms take their trust lists from the scenarios)" }], "invalid flags for the mechanism");
  }
  const backendIssues = runBackendFlagIssues(flags);
  if (backendIssues.length) throw new ConfigError(backendIssues, "invalid backend flags");
  const files = await resolveScenarioArgs(names.map((n) => (n.includes("/") || n.endsWith(".yaml") ? resolve(io.cwd, n) : n)));
  let scenarios = await loadScenarios(files);
  if (flags.tag?.length) scenarios = scenarios.filter((s) => s.doc.tags?.some((t) => flags.tag!.includes(t)));
  if (flags.skipSlow) scenarios = scenarios.filter((s) => !s.doc.slow);
  const mechanisms = flags.mechanism === "all" ? [...MECHANISM_NAMES] : [flags.mechanism ?? "imagepolicywebhook"];
  const applicable = (m: MechanismName) => scenarios.filter((s) => forMechanism(s.doc, m));
  if (!mechanisms.some((m) => applicable(m).length)) {
    io.stderr.write(`no scenarios selected${scenarios.length ? ` (none of the ${scenarios.length} given applies to ${mechanisms.join(", ")})` : ""}\n`);
    return EXIT.labFailed;
  }
  // Every flag is checked before the lab starts: a report dir that cannot be written would
  // otherwise fail the run only at its end.
  if (flags.k8sVersion !== undefined) versionInfo(flags.k8sVersion);
  if (flags.reportDir !== undefined) await ensureWritableDir(resolve(io.cwd, flags.reportDir), "--report-dir", 0o755);
  if (flags.stateDir !== undefined) await ensureWritableDir(resolve(io.cwd, flags.stateDir), "--state-dir");
  const external: ExternalBackend | undefined = flags.backendUrl
    ? { url: flags.backendUrl, trust: flags.trust!, caPem: await readBackendCa(resolve(io.cwd, flags.backendCa!)) }
    : undefined;
  if (external && flags.mechanism !== "all") {
    // Nothing to play means nothing to start: say why each scenario cannot be played.
    const mechanism = mechanisms[0]!;
    const views = applicable(mechanism).map((s) => ({ name: s.doc.name, view: forExternalBackend(forMechanism(s.doc, mechanism)!, { trust: external.trust, mechanism }) }));
    if (!views.some((v) => !("notApplicable" in v.view))) {
      io.stderr.write(`none of the ${views.length} selected scenarios can be played against your backend:\n`);
      for (const v of views) if ("notApplicable" in v.view) io.stderr.write(`  ${v.name}: ${v.view.notApplicable}\n`);
      return EXIT.labFailed;
    }
  }
  const logger = terminalLogger(io, g.verbose);
  const { provider, why } = await selectProvider(flags.provider, { kind: { k8sVersion: flags.k8sVersion, logger } });
  const color = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;

  if (flags.mechanism !== "all") {
    const mechanism = mechanisms[0]!;
    const selected = applicable(mechanism);
    logger.info(`provider: ${provider.name} (${why}); mechanism: ${mechanism}; ${describeSelection(selected.length, scenarios.length, mechanism)}`);
    if (flags.backend === "opa") logger.info("backend: the lab's OPA with the shipped Rego (policies/opa) answers ImagePolicyWebhook's reviews; scenarios that need the stub are not applicable");
    if (external) logger.info(`backend: yours, ${external.url}; expected to trust ${external.trust.join(", ")} (${external.trust[0]} stands for the catalog's ${CATALOG_TRUSTED_REGISTRY})`);
    const report = await playMechanism(mechanism, selected, { provider, flags, io, g, logger, color, reportDir: flags.reportDir, external });
    io.stdout.write(`\n${renderSummaryTable(report, { color, width: io.stdout.columns ?? 120 })}\n`);
    if (external) io.stdout.write(`${externalBackendSummary(report)}\n`);
    if (report.opaBackend) io.stdout.write(`${opaBackendSummary(report)}\n`);
    if (flags.reportDir) {
      const { files: written } = await writeReports(resolve(io.cwd, flags.reportDir), report);
      io.stdout.write(`reports: ${written.join(", ")}\n`);
    }
    return exitCodeFor(report);
  }

  // The comparison: one lab per mechanism, one after the other (one mechanism per lab: admission
  // stops at the first denial, so a second would only see what the first admitted).
  // A provider that cannot run OPA yet (kind) compares the others; `--mechanism opa` alone says why it cannot.
  const playable = mechanisms.filter((m) => m !== "opa" || provider.startOpa);
  for (const m of mechanisms.filter((x) => !playable.includes(x))) logger.warn(`leaving out ${m}: ${opaUnsupportedMessage(provider.name)}`);
  logger.info(`provider: ${provider.name} (${why}); mechanisms: ${playable.join(", ")}; ${scenarios.length} scenarios`);
  const started = new Date();
  const t0 = performance.now();
  const runs: RunReport[] = [];
  let labError: string | undefined;
  for (const mechanism of playable) {
    const selected = applicable(mechanism);
    if (!selected.length) continue;
    logger.info(`── ${mechanism}: ${describeSelection(selected.length, scenarios.length, mechanism)}`);
    try {
      runs.push(await playMechanism(mechanism, selected, { provider, flags, io, g, logger, color }));
    } catch (err) {
      // One mechanism's lab failing leaves the others' evidence standing; the report says which failed.
      labError = `${mechanism}: ${err instanceof Error ? err.message : String(err)}`;
      logger.warn(`the ${mechanism} lab failed: ${labError}`);
      runs.push(labFailedReport(provider, mechanism, flags, labError, performance.now()));
    }
  }
  const comparison: ComparisonReport = {
    tool: { name: "imagepolicy-lab", version: VERSION },
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: performance.now() - t0,
    provider: provider.name,
    k8sVersion: runs.find((r) => r.k8sVersion)?.k8sVersion ?? flags.k8sVersion ?? "",
    runs,
    labError,
  };
  io.stdout.write(`\n${renderComparisonTable(comparison, { color, width: io.stdout.columns ?? 120 })}\n`);
  if (flags.reportDir) {
    const { files: written } = await writeComparisonReports(resolve(io.cwd, flags.reportDir), comparison);
    io.stdout.write(`reports: ${written.join(", ")}\n`);
  }
  return comparisonExitCode(comparison);
}

function describeSelection(n: number, of: number, mechanism: MechanismName): string {
  return n === of ? `${n} scenarios` : `${n} of ${of} scenarios apply to ${mechanism}`;
}

interface PlayContext {
  provider: ClusterProvider;
  flags: RunFlags;
  io: CliIO;
  g: Globals;
  logger: Logger;
  color: boolean;
  /** Where a lab failure is reported (single-mechanism runs; the comparison reports it itself). */
  reportDir?: string;
  /** The user's backend, when --backend-url replaces the stub. */
  external?: ExternalBackend;
}

interface ExternalBackend {
  url: string;
  trust: string[];
  caPem: string;
}

/** After the table: what the run could and could not check of the user's backend. */
function externalBackendSummary(report: RunReport): string {
  const na = report.scenarios.filter((s) => s.verdict === "skipped" && s.reason?.startsWith(NOT_APPLICABLE)).length;
  const played = report.scenarios.filter((s) => s.verdict !== "skipped").length;
  return (
    `backend: yours (${report.externalBackend?.url}), judged against --trust ${report.externalBackend?.trust.join(", ")}: ${played} scenarios played, ${na} not applicable ` +
    "(they need the stub's faults, policies or journal; each says why). Your backend's reviews are not observed: only the apiserver's answers are checked."
  );
}

/** After the table: what a run with OPA as the backend played, and what it could not. */
function opaBackendSummary(report: RunReport): string {
  const na = report.scenarios.filter((s) => s.verdict === "skipped" && s.reason?.startsWith(NOT_APPLICABLE_WITH_OPA)).length;
  const played = report.scenarios.filter((s) => s.verdict !== "skipped").length;
  return (
    `backend OPA: ${played} scenarios played, ${na} not applicable ` +
    "(they need the stub's faults, policies or journal; each says why). OPA's reviews are not observed: only the apiserver's answers are checked."
  );
}

/** A report that says only why the lab could not run: CI still gets one errored "lab setup" case. */
function labFailedReport(provider: ClusterProvider, mechanism: MechanismName, flags: RunFlags, labError: string, t0: number): RunReport {
  const now = new Date().toISOString();
  return {
    tool: { name: "imagepolicy-lab", version: VERSION },
    startedAt: now,
    finishedAt: now,
    durationMs: performance.now() - t0,
    provider: provider.name,
    mechanism,
    k8sVersion: flags.k8sVersion ?? "",
    labStartMs: 0,
    profileSwitches: [],
    scenarios: [],
    totals: totals([]),
    unavoidableWaitMs: 0,
    labError,
  };
}

/** Starts a lab with this mechanism, plays the scenarios, stops the lab. */
async function playMechanism(mechanism: MechanismName, scenarios: LoadedScenario[], c: PlayContext): Promise<RunReport> {
  const { io, flags, logger } = c;
  // The lab starts with a profile some playable scenario uses (not-applicable ones never switch it).
  const playable = c.external ? scenarios.filter((s) => !("notApplicable" in forExternalBackend(forMechanism(s.doc, mechanism)!, { trust: c.external!.trust, mechanism }))) : scenarios;
  const first = planByProfile(playable.length ? playable : scenarios)[0]!.profile;
  const t0 = performance.now();
  const reportLabError = async (err: unknown) => {
    if (!c.reportDir) return;
    await writeReports(resolve(io.cwd, c.reportDir), labFailedReport(c.provider, mechanism, flags, err instanceof Error ? err.message : String(err), t0));
  };
  let lab;
  try {
    lab = await startLab({
      provider: c.provider,
      mechanism,
      stateDir: flags.stateDir ? resolve(io.cwd, flags.stateDir) : undefined,
      k8sVersion: flags.k8sVersion,
      profile: first,
      opaPolicyFile: flags.policy ? resolve(io.cwd, flags.policy) : undefined,
      opaBackend: flags.backend === "opa",
      externalBackend: c.external ? { url: c.external.url, caPem: c.external.caPem } : undefined,
      logger,
      progress: terminalProgress(io, c.g.quiet),
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
  try {
    const labStartMs = performance.now() - t0;
    const externalBackend = c.external ? { url: c.external.url, trust: c.external.trust } : undefined;
    return await runScenarios({ lab, scenarios, labStartMs, version: VERSION, externalBackend, onEvent: liveReporter(io.stdout, { color: c.color, interactive: Boolean(io.stdout.isTTY) }) });
  } catch (err) {
    // Scenario failures are results; this is the lab failing under them (e.g. an apiserver that
    // did not come back after a profile switch).
    await reportLabError(err);
    throw err;
  } finally {
    await lab.stop().catch((err) => logger.warn(`stopping the lab: ${(err as Error).message}`));
  }
}
