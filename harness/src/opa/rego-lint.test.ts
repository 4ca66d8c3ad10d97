// `lint my.rego` with a real opa: the fixture of classic mistakes (testdata/mistaken.rego) gets the
// OPA 1.x parse error and one finding per mistake, each on its line; the shipped policies get none;
// small policies pin down each check's edges. Skips with the reason when there is no opa (a failure
// under IMAGEPOLICY_LAB_OPA_TESTS=required).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { runCliInProcess } from "../../test/cli-in-process.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPA_POLICY_DIR } from "./opa-policy.ts";
import { lintRego, REGO_CHECKS, type RegoCheck } from "./rego-lint.ts";
import { OPA_BUILD_BUDGET_MS, opaForTests, requireOpa, type OpaForTests } from "./test-support.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MISTAKEN = relative(ROOT, fileURLToPath(new URL("./testdata/mistaken.rego", import.meta.url)));
const SHIPPED = relative(ROOT, OPA_POLICY_DIR);

let found: OpaForTests | undefined;
let work: string;
beforeAll(async () => {
  found = await opaForTests();
  work = await mkdtemp(join(tmpdir(), "iplab-rego-lint-"));
}, OPA_BUILD_BUDGET_MS);
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Lints `text` as one file; returns `line check` pairs. */
async function lintText(opa: string, text: string, name = "policy.rego"): Promise<string[]> {
  const file = join(work, name);
  await writeFile(file, text);
  const r = await lintRego([file], { opa });
  return r.findings.map((f) => `${f.line ?? "-"} ${f.check}`);
}

describe("lint of the classic mistakes (testdata/mistaken.rego)", () => {
  it("reports the OPA 1.x parse error and every mistake, each on its line", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const r = await lintRego([MISTAKEN], { opa, cwd: ROOT });
    expect(r.files).toEqual([MISTAKEN]);
    expect(r.findings.map((f) => `${f.file}:${f.line} ${f.check}`)).toEqual(
      (
        [
          [8, "no-review-document"],
          [8, "opa-check"],
          [10, "containers-only"],
          [10, "existential-allow"],
          [10, "gatekeeper-input"],
          [10, "glob-equality"],
          [13, "opa-check"],
          [15, "existential-allow"],
          [15, "gatekeeper-input"],
          [17, "prefix-boundary"],
          [20, "opa-check"],
          [22, "existential-allow"],
          [22, "gatekeeper-input"],
          [22, "glob-delimiters"],
        ] as [number, RegoCheck][]
      ).map(([line, check]) => `${MISTAKEN}:${line} ${check}`),
    );
    const byCheck = (check: RegoCheck) => r.findings.find((f) => f.check === check)?.message;
    // OPA's own words, plus what they mean at admission time.
    expect(byCheck("opa-check")).toMatch(/^rego_parse_error: `if` keyword is required before rule body .*connection refused/);
    expect(byCheck("glob-equality")).toContain('"ghcr.io/platform-team/*"');
    expect(byCheck("prefix-boundary")).toContain('"registry.corp.example.evil.example/app" matches too');
    expect(byCheck("glob-delimiters")).toContain("tag like :1.2");
    expect(byCheck("no-review-document")).toContain("/v0/data/cluster/images/permitted");
  });

  it("through the CLI: exit 1, one `error: file:line: check: message` line per finding", async (ctx) => {
    requireOpa(found, ctx);
    const r = await cli("lint", MISTAKEN);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(14);
    for (const l of lines) expect(l).toMatch(new RegExp(`^error: ${MISTAKEN.replaceAll(".", "\\.")}:\\d+: [a-z-]+: `));
    expect(r.stdout).toBe("");
  });
});

describe("lint of the shipped policies", () => {
  it("finds nothing in the directory (exit 0)", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const r = await lintRego([SHIPPED], { opa, cwd: ROOT });
    expect(r.findings).toEqual([]);
    expect(r.files.filter((f) => !f.endsWith("_test.rego")).map((f) => f.slice(SHIPPED.length).replace(/^\//, ""))).toEqual(["admission.rego", "imagereview.rego", "registry.rego"]);
    const c = await cli("lint", SHIPPED);
    expect(c).toEqual({ code: 0, stdout: `ok: ${r.files.length} Rego files: opa check --strict and the lab's checks found nothing\n`, stderr: "" });
  });

  it("finds nothing in the shared module alone (a library has no decision to judge)", async (ctx) => {
    const opa = requireOpa(found, ctx);
    expect((await lintRego([join(SHIPPED, "registry.rego")], { opa, cwd: ROOT })).findings).toEqual([]);
  });
});

describe("each check's edges", () => {
  const review = 'review := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"allowed": true}}\n';

  it.for<[string, string, string[]]>([
    ["`!=` and `in` with a glob", 'package p\nx if input.a != "q.io/*"\ny if input.a in {"q.io/*", "r"}\n' + review, ["2 glob-equality", "3 glob-equality"]],
    ["`=` that binds a glob is no comparison; `=` against a field is", 'package p\nx if {\n\tp = "q.io/*"\n\tglob.match(p, null, input.a)\n}\ny if input.a.b = "q.io/*"\n' + review, ["6 glob-equality"]],
    ['glob.match with ["/"] and a single *; with null; with ** ', 'package p\nx if glob.match("q.io/*", ["/"], input.a)\ny if glob.match("q.io/*", null, input.a)\nz if glob.match("q.io/**", ["/"], input.a)\n' + review, ["2 glob-delimiters"]],
    ["startswith: a boundary, a path prefix without one, Docker Hub, a non-registry", 'package p\na if startswith(input.a, "q.io/")\nb if startswith(input.a, "q.io/team")\nc if startswith(input.a, "docker.io/library/")\nd if startswith(input.a, "sha256")\ne if strings.any_prefix_match(input.a, ["localhost:5000", "x.io/"])\n' + review, ["3 prefix-boundary", "4 docker-hub-prefix", "6 prefix-boundary"]],
    ["`some c in …containers` in an allow rule; `every` and a deny rule are fine", 'package p\ndefault ok := false\nok if {\n\tsome c in input.request.object.spec.containers\n\tstartswith(c.image, "q.io/")\n}\nallow if {\n\tevery c in input.request.object.spec.initContainers {\n\t\tstartswith(c.image, "q.io/")\n\t}\n}\ndeny contains c.image if {\n\tsome c in input.request.object.spec.ephemeralContainers\n\tnot startswith(c.image, "q.io/")\n}\n' + review, ["4 existential-allow"]],
    ["an ImageReview policy reads only spec.containers, which is complete", 'package p\nallowed if every c in input.spec.containers {\n\tstartswith(c.image, "q.io/")\n}\nreview := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": allowed}}\n', []],
    ["system.main counts as a response document", 'package system\nmain := {"response": {"allowed": allow}}\ndefault allow := false\nallow if every c in input.request.object.spec.containers {\n\tstartswith(c.image, "q.io/")\n}\n', ["4 containers-only"]],
    ["a deny set without a response document", 'package p\ndeny contains "x" if input.request.object.spec.initContainers\n', ['2 no-review-document']],
  ])("%s", async ([, text, expected], ctx) => {
    const opa = requireOpa(found, ctx);
    expect(await lintText(opa, text)).toEqual(expected);
  });

  it("a file that neither parser accepts gets only OPA's error", async (ctx) => {
    const opa = requireOpa(found, ctx);
    expect(await lintText(opa, "package p\nallow if {\n")).toEqual(["3 opa-check"]);
  });

  it("a missing file is a finding, not a crash", async (ctx) => {
    const opa = requireOpa(found, ctx);
    const r = await lintRego([join(work, "nope.rego")], { opa });
    expect(r.findings).toMatchObject([{ check: "opa-check", message: "cannot read: no such file or directory" }]);
  });

  it("every check is documented in docs/opa.md", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(join(ROOT, "docs/opa.md"), "utf8");
    for (const check of Object.keys(REGO_CHECKS)) expect(doc, check).toContain(`\`${check}\``);
  });
});

/** The CLI in-process, with this process's environment for ensureOpa. */
const cli = (...argv: string[]) => runCliInProcess(["-q", ...argv], { cwd: ROOT, env: { ...process.env, CI: "1" } });
