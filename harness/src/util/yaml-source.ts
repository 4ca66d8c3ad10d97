// Parses YAML documents while keeping node positions, so schema errors can name `file:line: path`.
import { readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "./errors.ts";

export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  /** The parsed plain value (maps become objects). */
  value: unknown;
  /** 1-based line of the node at `path`, or of its nearest existing parent. */
  lineOf(path: ReadonlyArray<PropertyKey>): number | undefined;
}

/** Parses exactly one YAML document from `text`; syntax errors become ConfigIssues with lines. */
export function parseYamlSource(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const issues: ConfigIssue[] = [];
  for (const d of list) {
    for (const e of d.errors) {
      issues.push({ file, line: lineCounter.linePos(e.pos[0]).line, path: "", message: `YAML syntax: ${e.message.split("\n")[0]}` });
    }
  }
  if (issues.length) throw new ConfigError(issues, `failed to parse ${file}`);
  // A bare `---` (e.g. a trailing separator) yields an empty plain scalar, not a document.
  const nonEmpty = list.filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null && !d.contents.source));
  if (nonEmpty.length !== 1) {
    const extra = nonEmpty[1];
    throw new ConfigError(
      [{ file, line: extra ? lineCounter.linePos(extra.range[0]).line : undefined, path: "", message: `expected exactly one YAML document, found ${nonEmpty.length}` }],
      `failed to parse ${file}`,
    );
  }
  const doc = nonEmpty[0]!;
  const lineOf = (path: ReadonlyArray<PropertyKey>): number | undefined => {
    let node: unknown = doc.contents;
    let best: number | undefined = rangeLine(node);
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
        if (!pair) break;
        best = rangeLine(pair.key) ?? best;
        node = pair.value;
        // A block collection starts on the line after its key; the key's line is where to look.
        if (!isMap(node) && !isSeq(node)) best = rangeLine(node) ?? best;
      } else if (isSeq(node) && typeof key === "number") {
        node = node.items[key];
        if (node === undefined) break;
        best = rangeLine(node) ?? best;
      } else break;
    }
    return best;
  };
  function rangeLine(node: unknown): number | undefined {
    const range = (node as Node | undefined)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  }
  return { file, doc, value: doc.toJS({ maxAliasCount: 100 }), lineOf };
}

export async function readYamlSource(file: string): Promise<YamlSource> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError([{ file, path: "", message: `cannot read file: ${(err as Error).message}` }], `failed to read ${file}`);
  }
  return parseYamlSource(file, text);
}

/** zod issues → ConfigIssues; each unknown key becomes its own issue at the key's own line. */
export function zodIssues(src: Pick<YamlSource, "file" | "lineOf">, error: z.ZodError): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const paths = issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return paths.map((path) => ({
      file: src.file,
      line: src.lineOf(path),
      path: path.map(String).join("."),
      message: issue.code === "unrecognized_keys" ? `unknown field "${String(path.at(-1))}"` : issue.message,
    }));
  });
}

/** Validates `src.value` against `schema`; throws a ConfigError naming every problem. */
export function parseWithSchema<T extends z.ZodType>(src: YamlSource, schema: T, what: string): z.output<T> {
  const result = schema.safeParse(src.value);
  if (!result.success) throw new ConfigError(zodIssues(src, result.error), `invalid ${what} in ${src.file}`);
  return result.data;
}
