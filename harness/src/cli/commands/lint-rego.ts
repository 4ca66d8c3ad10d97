// `lint my.rego` (or a directory of Rego): OPA's strict checker plus the lab's checks for the classic
// registry-policy mistakes (opa/rego-lint.ts). The opa binary is found or built first (cached).
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import pc from "picocolors";
import { ensureOpa } from "../../opa/opa-binary.ts";
import { lintRego } from "../../opa/rego-lint.ts";
import { formatIssue } from "../../util/errors.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

/** Whether `lint <file>` means Rego: a `.rego` file, or a directory (of Rego files). */
export async function isRegoTarget(file: string, cwd: string): Promise<boolean> {
  if (file.endsWith(".rego")) return true;
  try {
    return (await stat(resolve(cwd, file))).isDirectory();
  } catch {
    return false;
  }
}

export async function lintRegoCommand(file: string, io: CliIO, g: { verbose?: boolean; quiet?: boolean } = {}): Promise<number> {
  const opa = await ensureOpa({ env: io.env, progress: terminalProgress(io, g.quiet), logger: terminalLogger(io, g.verbose) });
  const r = await lintRego([file], { opa, cwd: io.cwd });
  for (const f of r.findings) io.stderr.write(`${pc.red("error:")} ${formatIssue(f)}\n`);
  if (r.findings.length) return 1;
  io.stdout.write(`ok: ${r.files.length} Rego file${r.files.length === 1 ? "" : "s"}: opa check --strict and the lab's checks found nothing\n`);
  return 0;
}
