// Parses YAML documents while keeping node positions, so schema errors can name `file:line: path`.
// Input is bounded before it costs anything: a file over its byte limit is not read, a document
// over its node limit is not converted, aliases cannot multiply it, and its text must be UTF-8.
import { open } from "node:fs/promises";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document, type Node } from "yaml";
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

/** How much one YAML file may hold. */
export interface YamlLimits {
  /** Largest file in bytes. */
  maxBytes: number;
  /** Most YAML nodes (mappings, sequences, scalars, aliases) in the document. */
  maxNodes: number;
}

/**
 * Defaults for the lab's files (policies, profiles, serve configs): a policy listing thousands of
 * registries stays far below them, while a 20 MB file of a million nodes (which once took two
 * minutes and 4 GB to load) is refused at once.
 */
export const DEFAULT_YAML_LIMITS: Readonly<YamlLimits> = Object.freeze({ maxBytes: 1_048_576, maxNodes: 50_000 });

/** Aliases allowed per document (the yaml library's guard against exponential expansion). */
const MAX_ALIAS_COUNT = 100;

/** Parses exactly one YAML document from `text`; syntax errors become ConfigIssues with lines. */
export function parseYamlSource(file: string, text: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): YamlSource {
  const fail = (message: string, line?: number): never => {
    throw new ConfigError([{ file, ...(line ? { line } : {}), path: "", message }], `failed to parse ${file}`);
  };
  if (text.length > limits.maxBytes) fail(`the file has more than ${limits.maxBytes} characters; the limit is ${limits.maxBytes} bytes`);
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
  // Counted before anything walks the tree: validation and line lookups are linear in it.
  let nodes = 0;
  let firstAlias: Node | undefined;
  visit(doc, (_key, node) => {
    nodes++;
    if (isAlias(node)) firstAlias ??= node;
    if (nodes > limits.maxNodes) return visit.BREAK;
  });
  if (nodes > limits.maxNodes) fail(`the document has more than ${limits.maxNodes} YAML nodes (mappings, lists, values); the limit keeps loading fast`);
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
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The yaml library throws a plain ReferenceError for an alias bomb; say where and what.
    const line = firstAlias ? rangeLine(firstAlias) : undefined;
    fail(`aliases expand too far (${(err as Error).message}); at most ${MAX_ALIAS_COUNT} alias uses are allowed`, line);
  }
  // Escapes such as "\ud800" produce strings that are not Unicode text (invalid UTF-8 once written out).
  let badLine: number | undefined;
  let bad = false;
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === "string" && !node.value.isWellFormed()) {
        bad = true;
        badLine = rangeLine(node);
        return visit.BREAK;
      }
    },
  });
  if (bad) fail("a string holds an unpaired UTF-16 surrogate (an escape such as \\ud800): text must be valid Unicode", badLine);
  return { file, doc, value, lineOf };
}

/**
 * Reads and parses a YAML file. The size is checked before reading, and the text must be valid
 * UTF-8 (an invalid byte is reported with its line, not replaced by U+FFFD).
 */
export async function readYamlSource(file: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): Promise<YamlSource> {
  const cannot = (err: unknown): never => {
    throw new ConfigError([{ file, path: "", message: `cannot read file: ${(err as Error).message}` }], `failed to read ${file}`);
  };
  let bytes: Buffer;
  try {
    const handle = await open(file, "r");
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error(`not a regular file`);
      if (st.size > limits.maxBytes) {
        throw new ConfigError([{ file, path: "", message: `the file is ${st.size} bytes; the limit is ${limits.maxBytes}` }], `refused ${file}`);
      }
      // Read at most one byte past the limit: the file may grow between stat and read.
      const buf = Buffer.alloc(limits.maxBytes + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      if (bytesRead > limits.maxBytes) throw new ConfigError([{ file, path: "", message: `the file is over the limit of ${limits.maxBytes} bytes` }], `refused ${file}`);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return cannot(err);
  }
  return parseYamlSource(file, decodeUtf8(file, bytes), limits);
}

/** Strict UTF-8: the first invalid byte is an error naming its line. */
export function decodeUtf8(file: string, bytes: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) line++;
    throw new ConfigError(
      [{ file, line, path: "", message: `not valid UTF-8: byte 0x${bytes[offset]?.toString(16).padStart(2, "0")} at offset ${offset}; save the file as UTF-8` }],
      `failed to read ${file}`,
    );
  }
}

// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence.
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const need = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
    }
    // Overlong three-byte forms, surrogates, and code points past U+10FFFF.
    if ((c === 0xe0 && b[i + 1]! < 0xa0) || (c === 0xed && b[i + 1]! > 0x9f) || (c === 0xf0 && b[i + 1]! < 0x90) || (c === 0xf4 && b[i + 1]! > 0x8f)) return i;
    i += need + 1;
  }
  return b.length;
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
