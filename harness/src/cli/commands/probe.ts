// `probe`: checks an existing cluster against a declared trust list with server-side dry runs. Every
// flag is checked before the first request (errors name the flag); the report is printed, and
// written to --report-dir when given, also when the cluster could not be reached.
import { resolve } from "node:path";
import { ConfigError } from "../../util/errors.ts";
import { ensureWritableDir } from "../../util/dirs.ts";
import { checkProbeInput } from "../../probe/plan.ts";
import { runProbe } from "../../probe/runner.ts";
import { loadProbeTarget } from "../../probe/target.ts";
import { renderProbeTerminal } from "../../probe/terminal.ts";
import { writeProbeReports } from "../../probe/write-reports.ts";
import type { CliIO } from "../io.ts";

export interface ProbeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  trust?: string[];
  imageTrusted?: string[];
  pod?: string;
  reportDir?: string;
}

export async function probe(flags: ProbeFlags, io: CliIO, g: { quiet?: boolean }): Promise<number> {
  const trust = flags.trust ?? [];
  const trustedImages = flags.imageTrusted ?? [];
  const issues = checkProbeInput({ trust, trustedImages, namespace: flags.namespace, pod: flags.pod });
  if (issues.length) throw new ConfigError(issues, "cannot probe with these flags");
  const reportDir = flags.reportDir === undefined ? undefined : await ensureWritableDir(resolve(io.cwd, flags.reportDir), "--report-dir", 0o755);
  const target = await loadProbeTarget({ kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, env: io.env, cwd: io.cwd });
  const report = await runProbe({
    kubeConfig: target.kubeConfig,
    kubeconfigFile: target.file,
    namespace: target.namespace,
    trust,
    trustedImages,
    pod: flags.pod,
    onCase: g.quiet ? undefined : (c, i, n) => io.stderr.write(`[${i + 1}/${n}] ${c.title}…\n`),
  });
  const color = Boolean(io.stdout.isTTY) && !io.env.NO_COLOR;
  io.stdout.write(renderProbeTerminal(report, { color, width: io.stdout.columns ?? 120 }));
  if (reportDir) {
    const { files } = await writeProbeReports(reportDir, report);
    io.stdout.write(`reports: ${files.join(", ")}\n`);
  }
  return report.exitCode;
}
