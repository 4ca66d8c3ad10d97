// `lint`: checks a profile from flags or a file before anything starts. A file may be our profile
// (kind: AdmissionProfile) or a real AdmissionConfiguration, whose ImagePolicyWebhook payload is
// checked the way the apiserver reads it, including the mistakes it silently ignores. A `.rego` file
// (or a directory) is a policy for OPA instead: see lint-rego.ts.
import pc from "picocolors";
import { lintAdmissionFile } from "../../profile/lint-file.ts";
import { formatIssue } from "../../util/errors.ts";
import type { CliIO } from "../io.ts";
import { lintProfileFlags, type ProfileFlags } from "../options.ts";

export async function lint(file: string | undefined, flags: ProfileFlags & { fileChecks?: boolean }, io: CliIO, g: { verbose?: boolean; quiet?: boolean } = {}): Promise<number> {
  const rego = await import("./lint-rego.ts");
  if (file && (await rego.isRegoTarget(file, io.cwd))) return rego.lintRegoCommand(file, io, g);
  const result = file ? await lintAdmissionFile(file, { checkFiles: flags.fileChecks ?? true }) : lintProfileFlags(flags);
  for (const w of result.warnings) io.stderr.write(`${pc.yellow("warning:")} ${formatIssue(w)}\n`);
  for (const e of result.errors) io.stderr.write(`${pc.red("error:")} ${formatIssue(e)}\n`);
  if (result.errors.length) return 1;
  const p = result.profile;
  // A plugin entry with `path:` carries no values of its own (the warning names the file to lint).
  if (!p) io.stdout.write("ok: no ImagePolicyWebhook values in this file\n");
  else io.stdout.write(`ok: defaultAllow=${p.defaultAllow} allowTTL=${p.allowTTL} denyTTL=${p.denyTTL} retryBackoff=${p.retryBackoff}\n`);
  return 0;
}
