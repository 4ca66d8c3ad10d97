import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { DEFAULT_YAML_LIMITS, parseWithSchema, parseYamlSource, readYamlSource, zodIssues } from "./yaml-source.ts";

function parseError(text: string): ConfigError {
  try {
    parseYamlSource("f.yaml", text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const DOC = `# comment line 1
name: demo                 # 2
profile:                   # 3
  allowTTL: 50             # 4
  nested:                  # 5
    deep: true             # 6
steps:                     # 7
  - createPod:             # 8
      images: [a, b]       # 9
  - wait: 100              # 10
    expect:                # 11
      backendCalls: 0      # 12
description: |             # 13
  two
  lines
`;

describe("parseYamlSource lineOf", () => {
  const src = parseYamlSource("f.yaml", DOC);

  it.each([
    [[], 2],
    [["name"], 2],
    [["profile"], 3],
    [["profile", "allowTTL"], 4],
    [["profile", "nested"], 5],
    [["profile", "nested", "deep"], 6],
    [["steps"], 7],
    [["steps", 0], 8],
    [["steps", 0, "createPod"], 8],
    [["steps", 0, "createPod", "images"], 9],
    [["steps", 0, "createPod", "images", 1], 9],
    [["steps", 1], 10],
    [["steps", 1, "wait"], 10],
    [["steps", 1, "expect"], 11],
    [["steps", 1, "expect", "backendCalls"], 12],
    [["description"], 13],
    // Missing parts fall back to the nearest existing parent.
    [["profile", "missing"], 3],
    [["profile", "nested", "missing", "more"], 5],
    [["steps", 7], 7],
    [["steps", 1, "expect", "nope"], 11],
    [["name", "not-a-map"], 2],
    [["steps", "0"], 7],
  ] as [PropertyKey[], number][])("%j is on line %i", (path, line) => {
    expect(src.lineOf(path)).toBe(line);
  });

  it("keeps the plain value", () => {
    expect(src.value).toMatchObject({ name: "demo", profile: { allowTTL: 50, nested: { deep: true } }, steps: [{ createPod: { images: ["a", "b"] } }, { wait: 100 }] });
  });
});

describe("parseYamlSource errors", () => {
  it.each([
    // An unclosed flow sequence is noticed on the next line, where the parser gives up.
    ["a: 1\nb: [1, 2\nc: 3\n", 3, /^YAML syntax: /],
    ["a:\n  b: 1: 2\n", 2, /Nested mappings are not allowed/],
    ["a: 1\n\tb: 2\n", 2, /Tabs|tab/i],
    ["a: 1\nb: 2\na: 3\n", 3, /Map keys must be unique/],
  ])("syntax error in %j is reported at line %i", (text, line, message) => {
    const err = parseError(text);
    expect(err.issues.length).toBeGreaterThanOrEqual(1);
    expect(err.issues[0]).toMatchObject({ file: "f.yaml", line, path: "" });
    expect(err.issues[0]!.message).toMatch(message);
    // One line per issue: the yaml library's pretty context is not repeated.
    for (const i of err.issues) expect(i.message).not.toContain("\n");
  });

  it("rejects two documents, pointing at the second", () => {
    const err = parseError("a: 1\n---\nb: 2\n");
    expect(err.issues).toEqual([{ file: "f.yaml", line: 2, path: "", message: "expected exactly one YAML document, found 2" }]);
  });

  it.each(["", "# only a comment\n", "---\n"])("rejects an empty file %j", (text) => {
    expect(parseError(text).issues[0]!.message).toBe("expected exactly one YAML document, found 0");
  });

  it.each(["---\na: 1\n", "a: 1\n---\n", "a: 1\n...\n", "---\na: 1\n---\n# trailing comment\n"])("accepts one document with separators %j", (text) => {
    expect(parseYamlSource("f.yaml", text).value).toEqual({ a: 1 });
  });

  it("refuses alias bombs", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 12; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    const err = parseError(lines.join("\n"));
    // A ConfigError naming the file and the first alias's line, not the yaml library's bare ReferenceError.
    expect(err.issues).toEqual([{ file: "f.yaml", line: 2, path: "", message: expect.stringMatching(/^aliases expand too far .*at most 100 alias uses/) }]);
  });

  it("refuses a document over its node limit, quickly", () => {
    const text = `steps:\n${"  - wait: 1\n".repeat(30_000)}`;
    const t0 = performance.now();
    const err = parseError2(() => parseYamlSource("f.yaml", text, { maxBytes: 10_000_000, maxNodes: 20_000 }));
    expect(err.issues[0]).toMatchObject({ file: "f.yaml", message: expect.stringMatching(/more than 20000 YAML nodes/) });
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("refuses a string that is not Unicode text (an unpaired surrogate escape), naming its line", () => {
    const err = parseError('a: ok\nb: "bad \\ud800 here"\n');
    expect(err.issues[0]).toMatchObject({ file: "f.yaml", line: 2, message: expect.stringMatching(/unpaired UTF-16 surrogate/) });
  });
});

function parseError2(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("readYamlSource", () => {
  it("reads a file and reports a missing one as a ConfigError naming it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "yaml-source-"));
    try {
      const file = join(dir, "x.yaml");
      await writeFile(file, "a:\n  b: 1\n");
      const src = await readYamlSource(file);
      expect(src.file).toBe(file);
      expect(src.lineOf(["a", "b"])).toBe(2);
      await expect(readYamlSource(join(dir, "nope.yaml"))).rejects.toMatchObject({
        name: "ConfigError",
        issues: [{ file: join(dir, "nope.yaml"), path: "", message: expect.stringMatching(/^cannot read file: .*ENOENT/) }],
      });
      await expect(readYamlSource(dir)).rejects.toMatchObject({ name: "ConfigError", issues: [{ file: dir, message: "cannot read file: not a regular file" }] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a file over the byte limit without reading it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "yaml-source-"));
    try {
      const file = join(dir, "big.yaml");
      await writeFile(file, `a: "${"x".repeat(DEFAULT_YAML_LIMITS.maxBytes)}"\n`);
      await expect(readYamlSource(file)).rejects.toMatchObject({
        name: "ConfigError",
        issues: [{ file, path: "", message: `the file is ${DEFAULT_YAML_LIMITS.maxBytes + 6} bytes; the limit is ${DEFAULT_YAML_LIMITS.maxBytes}` }],
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses bytes that are not UTF-8, naming the line, instead of replacing them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "yaml-source-"));
    try {
      const file = join(dir, "latin1.yaml");
      await writeFile(file, Buffer.from("name: x\ndescription: caf\xe9 \xff\n", "latin1"));
      await expect(readYamlSource(file)).rejects.toMatchObject({
        name: "ConfigError",
        issues: [{ file, line: 2, path: "", message: "not valid UTF-8: byte 0xe9 at offset 24; save the file as UTF-8" }],
      });
      // A UTF-8 BOM and multi-byte text are fine.
      await writeFile(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("description: café ✓ 🙂\n", "utf8")]));
      expect((await readYamlSource(file)).value).toEqual({ description: "café ✓ 🙂" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("zodIssues and parseWithSchema", () => {
  const schema = z.strictObject({ spec: z.strictObject({ count: z.number(), name: z.string().optional() }) });
  const src = parseYamlSource("s.yaml", "spec:\n  count: two\n  colour: red\n  size: 3\n");

  it("names file, line and dot path; each unknown key at its own line", () => {
    const r = schema.safeParse(src.value);
    expect(r.success).toBe(false);
    const issues = zodIssues(src, r.error!);
    expect(issues.map((i) => [i.line, i.path])).toEqual(
      expect.arrayContaining([
        [2, "spec.count"],
        [3, "spec.colour"],
        [4, "spec.size"],
      ]),
    );
    expect(issues).toHaveLength(3);
    expect(issues.find((i) => i.path === "spec.colour")?.message).toBe('unknown field "colour"');
  });

  it("parseWithSchema returns the data or throws every issue", () => {
    expect(parseWithSchema(parseYamlSource("ok.yaml", "spec: { count: 2 }\n"), schema, "thing")).toEqual({ spec: { count: 2 } });
    expect(() => parseWithSchema(src, schema, "thing")).toThrow(ConfigError);
    expect(() => parseWithSchema(src, schema, "thing")).toThrow(/^invalid thing in s\.yaml:\n {2}s\.yaml:2: spec\.count: /);
  });
});
