import { relative, resolve } from "node:path";
import pc from "picocolors";
import { CATALOG_DIR, loadScenarios, resolveScenarioArgs } from "../../scenario/load.ts";
import { scenarioProfile } from "../../scenario/runner.ts";
import { ConfigError, formatIssue } from "../../util/errors.ts";
import type { CliIO } from "../io.ts";

export async function list(io: CliIO): Promise<number> {
  const scenarios = await loadScenarios(await resolveScenarioArgs([], CATALOG_DIR));
  const width = Math.max(...scenarios.map((s) => s.doc.name.length));
  for (const s of scenarios) {
    const p = scenarioProfile(s.doc);
    const first = s.doc.description.trim().split("\n")[0]!;
    io.stdout.write(`${s.doc.name.padEnd(width)}  ${pc.dim(`[${p.defaultAllow ? "open" : "closed"} ttl ${p.allowTTL}/${p.denyTTL} backoff ${p.retryBackoff}]`)} ${first}\n`);
  }
  io.stdout.write(`${scenarios.length} scenarios in ${relative(io.cwd, CATALOG_DIR) || "."}\n`);
  return 0;
}

export async function check(files: string[], io: CliIO): Promise<number> {
  try {
    const loaded = await loadScenarios(files.map((f) => resolve(io.cwd, f)));
    io.stdout.write(`ok: ${loaded.length} scenario file(s) valid\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const i of err.issues) io.stderr.write(`${pc.red("error:")} ${formatIssue(i)}\n`);
    return 2;
  }
}
