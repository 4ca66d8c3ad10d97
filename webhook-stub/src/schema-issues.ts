// zod issues → ConfigIssues with file and line. Unlike harness zodIssues, each unknown key becomes its
// own issue at the key's own line, so a typo is reported where it was typed.
import type { z } from "zod";
import type { ConfigIssue } from "../../harness/src/util/errors.ts";
import type { YamlSource } from "../../harness/src/util/yaml-source.ts";

export function schemaIssues(error: z.ZodError, file: string, lineOf?: YamlSource["lineOf"]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const paths = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of paths) {
      issues.push({
        file,
        line: lineOf?.(path),
        path: path.map(String).join("."),
        message: issue.code === "unrecognized_keys" ? `unknown field "${String(path.at(-1))}"` : issue.message,
      });
    }
  }
  return issues;
}
