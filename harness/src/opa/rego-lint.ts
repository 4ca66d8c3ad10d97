// `lint my.rego`: OPA's own checker first (`opa check --strict`, the OPA 1.x parser), then the lab's
// checks for the mistakes registry policies copied from guides keep making (mechanisms.md §A6, §A7).
// The checks read OPA's AST (`opa parse --format json`), so every finding carries the line OPA
// reports; a file that only parses as v0 Rego is analysed through `--v0-compatible` as well, so one
// run shows both the load error and what the policy would do once it loads.
import { readdir, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { tryRun } from "../providers/kind/tools.ts";
import { CommandError, type ConfigIssue } from "../util/errors.ts";

/** What each check is about; the id is printed with every finding. */
export const REGO_CHECKS = Object.freeze({
  "opa-check": "OPA's parser and strict checker (`opa check --strict`): a policy that fails here is not loaded.",
  "glob-equality": "`==`, `!=` or `in` against a string with `*`: a literal comparison, `*` is no wildcard.",
  "glob-delimiters": "`glob.match` with `[]` (which means `[\".\"]`), `[\".\"]` or `[\"/\"]` delimiters: `*` stops at those characters.",
  "prefix-boundary": "`startswith` (or `strings.any_prefix_match`) with a registry that does not end in `/`: `quay.io` also matches `quay.io.evil.com`.",
  "docker-hub-prefix": "a `docker.io/` prefix: Docker Hub images are mostly written without it (`nginx`, `bitnami/redis`).",
  "gatekeeper-input": "`input.review`: Gatekeeper's input; a plain OPA webhook's input is the AdmissionReview itself (`input.request.object`).",
  "existential-allow": "`containers[_]` (or `some c in …containers`) in an allow rule: one matching container is enough.",
  "containers-only": "pod specs read without `initContainers` and `ephemeralContainers`.",
  "no-review-document": "no AdmissionReview or ImageReview document and no `system.main`: a bare boolean is no admission response.",
} as const);

export type RegoCheck = keyof typeof REGO_CHECKS;

/** A finding: ConfigIssue's file, line and message, with `path` set to the check's id. */
export interface RegoFinding extends ConfigIssue {
  check: RegoCheck;
}

export interface RegoLintResult {
  /** The .rego files looked at (directories expanded), as given or relative to them. */
  files: string[];
  /** Sorted by file, line and check. Empty: nothing to report. */
  findings: RegoFinding[];
}

export interface LintRegoOptions {
  /** Path of an opa OPA_VERSION (ensureOpa()). */
  opa: string;
  /** Directory that relative paths are resolved against; default process.cwd(). */
  cwd?: string;
  signal?: AbortSignal;
}

/**
 * Lints Rego files and directories (all `*.rego` below them, one policy together): `opa check
 * --strict` over all of them, then the lab's checks over each file that is not a `*_test.rego`.
 * A missing path is a finding (as for the profile lint). Throws CommandError only when opa itself
 * misbehaves (no JSON where JSON was due).
 */
export async function lintRego(paths: string[], o: LintRegoOptions): Promise<RegoLintResult> {
  const cwd = o.cwd ?? process.cwd();
  // opa runs with absolute paths (tryRun has no cwd); findings name files as the caller wrote them.
  const shown = new Map<string, string>();
  const findings: RegoFinding[] = [];
  for (const p of paths) {
    try {
      for (const f of await regoFiles(p, cwd)) shown.set(f.abs, f.shown);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message;
      findings.push({ file: p, path: "opa-check", check: "opa-check", message: `cannot read: ${why}` });
    }
  }
  const files = [...shown.values()];
  if (shown.size === 0) {
    if (!findings.length) findings.push({ file: paths.join(", "), path: "opa-check", check: "opa-check", message: "no .rego files here" });
    return { files, findings };
  }
  const rename = (f: RegoFinding): RegoFinding => ({ ...f, file: shown.get(f.file) ?? f.file });
  findings.push(...(await opaCheck([...shown.keys()], o)).map(rename));
  const modules: RegoModule[] = [];
  for (const abs of [...shown.keys()].filter((f) => !f.endsWith("_test.rego"))) {
    const m = await parseModule(abs, o);
    if (m) modules.push({ ...m, file: shown.get(abs) ?? abs });
  }
  findings.push(...analyzeModules(modules));
  return { files, findings: sortFindings(dedupe(findings)) };
}

/** A file as itself, a directory as every `*.rego` below it (sorted). */
async function regoFiles(path: string, cwd: string): Promise<{ abs: string; shown: string }[]> {
  const abs = resolve(cwd, path);
  if (!(await stat(abs)).isDirectory()) return [{ abs, shown: path }];
  const out: { abs: string; shown: string }[] = [];
  for (const entry of await readdir(abs, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".rego")) continue;
    const file = join(entry.parentPath, entry.name);
    out.push({ abs: file, shown: join(path, relative(abs, file)) });
  }
  return out.sort((a, b) => a.shown.localeCompare(b.shown));
}

// ---------------------------------------------------------------------------------------------
// opa check and opa parse

interface OpaError {
  message: string;
  code: string;
  location?: { file: string; row: number };
}

/** What a parse or load error means for a webhook backed by this policy. */
const LOAD_CONSEQUENCE = "OPA does not load the policy: `opa run` exits, the apiserver gets connection refused, and failurePolicy (or defaultAllow) decides every request";

async function opaCheck(files: string[], o: LintRegoOptions): Promise<RegoFinding[]> {
  const r = await tryRun(o.opa, ["check", "--strict", "--max-errors", "-1", "--format", "json", ...files], { timeoutMs: 60_000, ...(o.signal ? { signal: o.signal } : {}) });
  if (r.ok) return [];
  const errors = opaErrors(r.stderr) ?? opaErrors(r.stdout);
  if (!errors) throw new CommandError(r.argv, r.exitCode ?? null, null, r.spawnError ?? `${r.stdout}\n${r.stderr}`, "failed to run opa check: it printed no JSON errors");
  return errors.map((e) => {
    const v0 = /`if` keyword is required|`contains` keyword is required/.test(e.message)
      ? " (v0 syntax: OPA 1.x refuses it; `opa check --v0-compatible` would load it, `opa fmt --v0-v1` rewrites it)"
      : "";
    const consequence = e.code === "rego_parse_error" || e.code === "rego_type_error" || e.code === "rego_compile_error" || e.code === "rego_recursion_error" ? `; ${LOAD_CONSEQUENCE}` : "";
    return {
      file: e.location?.file ?? files.join(", "),
      ...(e.location?.row ? { line: e.location.row } : {}),
      path: "opa-check",
      check: "opa-check" as const,
      message: `${e.code}: ${e.message}${v0}${consequence}`,
    };
  });
}

function opaErrors(text: string): OpaError[] | undefined {
  const start = text.indexOf("{");
  if (start === -1) return undefined;
  try {
    const doc = JSON.parse(text.slice(start)) as { errors?: OpaError[] };
    return Array.isArray(doc.errors) ? doc.errors : undefined;
  } catch {
    return undefined;
  }
}

/** One parsed module: OPA's AST as JSON, and whether only the v0 parser accepted it. */
export interface RegoModule {
  file: string;
  ast: AstModule;
  v0: boolean;
}

/** `opa parse` of one file, with the v1 parser, else the v0 one; undefined when neither accepts it. */
export async function parseModule(file: string, o: LintRegoOptions): Promise<RegoModule | undefined> {
  for (const v0 of [false, true]) {
    const r = await tryRun(o.opa, ["parse", "--format", "json", "--json-include", "locations,-comments", ...(v0 ? ["--v0-compatible"] : []), file], {
      timeoutMs: 60_000,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    if (!r.ok) continue;
    try {
      return { file, ast: JSON.parse(r.stdout) as AstModule, v0 };
    } catch {
      throw new CommandError(r.argv, r.exitCode ?? null, null, r.stdout.slice(0, 2000), "failed to read `opa parse` output: not JSON");
    }
  }
  // Neither parser accepts it: opa check has said why; there is nothing to analyse.
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The AST as `opa parse --format json` prints it (only what the checks read)

interface Location {
  file?: string;
  row?: number;
}

interface Term {
  type: string;
  value: unknown;
  location?: Location;
}

interface Expr {
  terms: Term | Term[] | { symbols: Term[] } | { body: Expr[]; domain: Term; key: Term | null; value: Term };
  negated?: boolean;
  location?: Location;
  generated?: boolean;
}

interface Rule {
  head: { name?: string; ref?: Term[]; args?: Term[]; key?: Term; value?: Term; location?: Location };
  body: Expr[];
  default?: boolean;
  else?: Rule;
  location?: Location;
}

interface AstModule {
  package: { path: Term[]; location?: Location };
  rules?: Rule[];
}

const isTerm = (x: unknown): x is Term => typeof x === "object" && x !== null && typeof (x as Term).type === "string" && "value" in x;

/** `glob.match` from a ref term of vars and strings; undefined for refs with other parts. */
function refName(t: Term): string | undefined {
  if (t.type !== "ref" || !Array.isArray(t.value)) return undefined;
  const parts = t.value as Term[];
  const names: string[] = [];
  for (const [i, p] of parts.entries()) {
    if (i === 0 ? p.type !== "var" : p.type !== "string") return undefined;
    names.push(String(p.value));
  }
  return names.join(".");
}

interface Call {
  op: string;
  args: Term[];
  line?: number;
}

/** Every call in `node` (infix operators are calls too: `==` is `equal`, `in` is `internal.member_2`). */
function* calls(node: unknown, line?: number): Generator<Call> {
  if (Array.isArray(node)) {
    for (const n of node) yield* calls(n, line);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const here = (node as { location?: Location }).location?.row ?? line;
  const expr = node as Partial<Expr>;
  if (Array.isArray(expr.terms) && expr.terms.length > 0 && isTerm(expr.terms[0]) && expr.terms[0].type === "ref") {
    const op = refName(expr.terms[0]);
    if (op) yield { op, args: expr.terms.slice(1), ...(here ? { line: here } : {}) };
  }
  if (isTerm(node) && node.type === "call" && Array.isArray(node.value)) {
    const [opTerm, ...args] = node.value as Term[];
    const op = opTerm ? refName(opTerm) : undefined;
    if (op) yield { op, args, ...(here ? { line: here } : {}) };
  }
  for (const v of Object.values(node)) yield* calls(v, here);
}

interface Ref {
  parts: Term[];
  line?: number;
}

/** Every ref term in `node`; `shallow` stops at comprehensions and `every` (their iteration is not the rule's). */
function* refs(node: unknown, shallow = false, line?: number): Generator<Ref> {
  if (Array.isArray(node)) {
    for (const n of node) yield* refs(n, shallow, line);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const here = (node as { location?: Location }).location?.row ?? line;
  if (isTerm(node)) {
    if (shallow && /comprehension$/.test(node.type)) return;
    if (node.type === "ref" && Array.isArray(node.value)) yield { parts: node.value as Term[], ...(here ? { line: here } : {}) };
  }
  if (shallow && "domain" in node && "body" in node) return; // an `every`
  for (const v of Object.values(node)) yield* refs(v, shallow, here);
}

/** Every string literal in `node`. */
function* strings(node: unknown): Generator<string> {
  if (Array.isArray(node)) {
    for (const n of node) yield* strings(n);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  if (isTerm(node) && node.type === "string" && typeof node.value === "string") yield node.value;
  for (const v of Object.values(node)) yield* strings(v);
}

const stringValue = (t: Term | undefined): string | undefined => (t?.type === "string" && typeof t.value === "string" ? t.value : undefined);

function ruleName(r: Rule): string {
  return r.head.name ?? (r.head.ref ? r.head.ref.map((p) => String(p.value)).join(".") : "?");
}

function ruleLine(r: Rule): number | undefined {
  return r.location?.row ?? r.head.location?.row;
}

// ---------------------------------------------------------------------------------------------
// The lab's checks

const CONTAINER_LISTS = new Set(["containers", "initContainers", "ephemeralContainers"]);
const ALLOW_NAME = /allow|permit|approve/i;
const DENY_NAME = /^(deny|violation)/i;

/** A literal that reads like a registry: its first component has a `.` or `:` or is `localhost`. */
function registryLike(s: string): boolean {
  const first = s.split("/")[0] ?? "";
  return first !== "" && (/[.:]/.test(first) || first.toLowerCase() === "localhost") && !/\s/.test(s);
}

/** A `*` that is not part of `**` (which crosses every delimiter). */
const SINGLE_STAR = /(^|[^*])\*($|[^*])/;

/** The lab's checks over parsed modules (one policy); `opa check` findings come separately. */
export function analyzeModules(modules: RegoModule[]): RegoFinding[] {
  const out: RegoFinding[] = [];
  for (const m of modules) out.push(...callFindings(m), ...gatekeeperFindings(m), ...existentialFindings(m));
  out.push(...containersOnlyFindings(modules), ...reviewDocumentFindings(modules));
  return out;
}

function finding(m: RegoModule, line: number | undefined, check: RegoCheck, message: string): RegoFinding {
  return { file: m.file, ...(line ? { line } : {}), path: check, check, message };
}

function callFindings(m: RegoModule): RegoFinding[] {
  const out: RegoFinding[] = [];
  for (const c of calls(m.ast.rules ?? [])) {
    if (c.op === "equal" || c.op === "neq" || c.op === "eq") {
      const glob = c.args.map(stringValue).find((s) => s?.includes("*"));
      // `x = "a/*"` may just bind x; only a comparison with a field or call result is a mistake.
      const compared = c.op !== "eq" || c.args.some((a) => a.type === "call" || (a.type === "ref" && Array.isArray(a.value) && a.value.length > 1));
      if (glob !== undefined && compared) {
        const op = c.op === "neq" ? "!=" : c.op === "eq" ? "=" : "==";
        const effect = c.op === "neq" ? "it is true for every real image" : "no real image ever equals it, so this never matches";
        out.push(finding(m, c.line, "glob-equality", `\`${op}\` compares with "${glob}" as a literal string: \`*\` is no wildcard, ${effect}; compare the parsed registry host for equality instead`));
      }
    }
    if (c.op === "internal.member_2" || c.op === "internal.member_3") {
      const collection = c.args[c.args.length - 1];
      if (collection && (collection.type === "set" || collection.type === "array") && Array.isArray(collection.value)) {
        const glob = (collection.value as Term[]).map(stringValue).find((s) => s?.includes("*"));
        if (glob !== undefined) out.push(finding(m, c.line, "glob-equality", `\`in\` compares with "${glob}" as a literal string: \`*\` is no wildcard, so no real image is in this collection`));
      }
    }
    if (c.op === "glob.match") {
      const [pattern, delimiters] = c.args;
      if (delimiters?.type !== "array" || !Array.isArray(delimiters.value)) continue;
      const delims = (delimiters.value as Term[]).map(stringValue);
      const p = stringValue(pattern);
      if (p !== undefined && !SINGLE_STAR.test(p)) continue;
      const shown = p !== undefined ? `"${p}"` : "the pattern";
      if (delims.length === 0 || delims.includes(".")) {
        const what = delims.length === 0 ? 'default delimiters (`[]` means `["."]`)' : 'the delimiter "."';
        out.push(finding(m, c.line, "glob-delimiters", `glob.match with ${what}: \`*\` in ${shown} cannot cross a ".", so trusted images with a "." where the \`*\` stands (a tag like :1.2) are denied; use null delimiters with a "/" boundary, or compare the parsed registry host`));
      } else if (delims.includes("/")) {
        out.push(finding(m, c.line, "glob-delimiters", `glob.match with the delimiter "/": \`*\` in ${shown} cannot cross a "/", so trusted images in nested repositories (registry/team/app) are denied; use null delimiters, or "**"`));
      }
    }
    if (c.op === "startswith" || c.op === "strings.any_prefix_match") {
      const arg = c.args[1];
      const prefixes = arg?.type === "array" || arg?.type === "set" ? ((arg.value as Term[]) ?? []).map(stringValue) : [stringValue(arg)];
      for (const prefix of prefixes) {
        if (prefix === undefined) continue;
        if (/^(index\.)?docker\.io\//i.test(prefix)) {
          out.push(finding(m, c.line, "docker-hub-prefix", `${c.op} with "${prefix}": Docker Hub images are usually written without it ("nginx", "bitnami/redis"), so those are treated as untrusted; normalize the reference first (nginx is docker.io/library/nginx)`));
        } else if (registryLike(prefix) && !prefix.endsWith("/")) {
          const evil = prefix.includes("/") ? `${prefix}-evil/app` : `${prefix}.evil.example/app`;
          out.push(finding(m, c.line, "prefix-boundary", `${c.op} with "${prefix}" has no "/" boundary: "${evil}" matches too, so an attacker's registry is trusted; end the prefix with "/" or compare the parsed registry host`));
        }
      }
    }
  }
  return out;
}

function gatekeeperFindings(m: RegoModule): RegoFinding[] {
  const out: RegoFinding[] = [];
  for (const r of refs(m.ast.rules ?? [])) {
    const [head, next] = r.parts;
    if (head?.type === "var" && head.value === "input" && stringValue(next) === "review") {
      out.push(finding(m, r.line, "gatekeeper-input", "input.review is Gatekeeper's input shape; OPA serving a webhook gets the AdmissionReview itself (input.request.object), so input.review is undefined and every rule that reads it is undefined"));
    }
  }
  return out;
}

/** The module's package path without `data` (e.g. ["cluster", "images"]). */
export function packagePath(m: RegoModule): string[] {
  return m.ast.package.path.slice(1).map((t) => String(t.value));
}

/** Names of the rules that decide "allowed" (see allowRules), in file order, each once. */
export function allowRuleNames(m: RegoModule): string[] {
  return [...new Set(allowRules(m).map(ruleName))];
}

/** Rules that decide "allowed": named like it, or with `default <name> := false`. */
function allowRules(m: RegoModule): Rule[] {
  const rules = m.ast.rules ?? [];
  const defaultFalse = new Set(rules.filter((r) => r.default && r.head.value?.type === "boolean" && r.head.value.value === false).map(ruleName));
  return rules.filter((r) => !r.default && !r.head.args && (defaultFalse.has(ruleName(r)) || ALLOW_NAME.test(ruleName(r))));
}

function existentialFindings(m: RegoModule): RegoFinding[] {
  const out: RegoFinding[] = [];
  for (const first of allowRules(m)) {
    for (let r: Rule | undefined = first; r; r = r.else) {
      for (const e of r.body) {
        if (e.negated) continue;
        for (const ref of refs(e.terms, true)) {
          const i = ref.parts.findIndex((p, k) => k > 0 && CONTAINER_LISTS.has(stringValue(p) ?? ""));
          const after = i === -1 ? undefined : ref.parts[i + 1];
          if (after?.type === "var") {
            const written = String(after.value).startsWith("$") ? "_" : String(after.value);
            out.push(finding(m, ref.line ?? e.location?.row, "existential-allow", `\`${stringValue(ref.parts[i])}[${written}]\` in the allow rule "${ruleName(first)}" is existential: one matching container makes it true, so a pod with a trusted and an untrusted image is admitted; deny when any image is untrusted (or use \`every\`)`));
          }
        }
        // `some c in input.….containers` declared in the allow rule's body.
        const symbols = !Array.isArray(e.terms) && "symbols" in e.terms ? e.terms.symbols : [];
        for (const s of symbols) {
          for (const c of calls(s, e.location?.row)) {
            if (!c.op.startsWith("internal.member_")) continue;
            const domain = c.args[c.args.length - 1];
            const last = domain?.type === "ref" && Array.isArray(domain.value) ? stringValue((domain.value as Term[]).at(-1)) : undefined;
            if (last && CONTAINER_LISTS.has(last)) {
              out.push(finding(m, c.line, "existential-allow", `\`some … in …${last}\` in the allow rule "${ruleName(first)}" is existential: one matching container makes it true, so a pod with a trusted and an untrusted image is admitted; deny when any image is untrusted (or use \`every\`)`));
            }
          }
        }
      }
    }
  }
  return out;
}

function containersOnlyFindings(modules: RegoModule[]): RegoFinding[] {
  let firstPodRead: { m: RegoModule; line?: number } | undefined;
  for (const m of modules) {
    const mentioned = new Set([...strings(m.ast.rules ?? [])].filter((s) => CONTAINER_LISTS.has(s)));
    if (mentioned.has("initContainers") || mentioned.has("ephemeralContainers")) return [];
    if (firstPodRead) continue;
    for (const r of refs(m.ast.rules ?? [])) {
      const names = r.parts.map((p) => (p.type === "var" ? String(p.value) : stringValue(p)));
      const i = names.indexOf("containers");
      if (i < 1) continue;
      // input.spec.containers is an ImageReview's list, which already holds init and ephemeral containers.
      if (i === 2 && names[0] === "input" && names[1] === "spec") continue;
      firstPodRead = { m, ...(r.line ? { line: r.line } : {}) };
      break;
    }
  }
  if (!firstPodRead) return [];
  return [
    finding(firstPodRead.m, firstPodRead.line, "containers-only", "only spec.containers is checked: initContainers and ephemeralContainers are never looked at, so an untrusted init container beside a trusted app container, or one added by kubectl debug, is admitted"),
  ];
}

const REVIEW_KINDS = new Set(["AdmissionReview", "ImageReview"]);

function reviewDocumentFindings(modules: RegoModule[]): RegoFinding[] {
  if (modules.length === 0) return [];
  for (const m of modules) {
    const pkg = m.ast.package.path.slice(1).map((p) => String(p.value)).join(".");
    if (pkg === "system" && (m.ast.rules ?? []).some((r) => ruleName(r) === "main")) return [];
    for (const s of strings(m.ast.rules ?? [])) if (REVIEW_KINDS.has(s)) return [];
  }
  // Point at the decision the author meant the apiserver to get; a module of helpers has none.
  for (const m of modules) {
    const rule = allowRules(m)[0] ?? (m.ast.rules ?? []).find((r) => DENY_NAME.test(ruleName(r)));
    if (!rule) continue;
    const name = ruleName(rule);
    const what = rule.head.key ? `"${name}" is a set of messages` : `"${name}" is a bare ${rule.head.value && rule.head.value.type !== "boolean" ? rule.head.value.type : "boolean"}`;
    const pkg = m.ast.package.path.slice(1).map((p) => String(p.value)).join("/");
    return [
      finding(
        m,
        ruleLine(rule),
        "no-review-document",
        `${what}; no rule builds an AdmissionReview or ImageReview document and there is no system.main: through POST / OPA answers 404 (a call failure: failurePolicy decides), and at /v0/data/${pkg}/${name} the apiserver gets that value instead of {apiVersion, kind, response: {uid, allowed, status}} and refuses it as an invalid response (also a call failure)`,
      ),
    ];
  }
  return [];
}

function dedupe(findings: RegoFinding[]): RegoFinding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.file}\0${f.line}\0${f.check}\0${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortFindings(findings: RegoFinding[]): RegoFinding[] {
  return [...findings].sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || a.check.localeCompare(b.check));
}
