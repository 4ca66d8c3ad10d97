import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { totals } from "../scenario/result.ts";
import { LabError } from "../util/errors.ts";
import {
  comparisonExitCode,
  comparisonRows,
  COMPARISON_SCHEMA_VERSION,
  latencyStats,
  mechanismSummaries,
  parseComparisonJson,
  renderComparisonHtml,
  renderComparisonJson,
  renderComparisonJUnit,
  renderComparisonTable,
  scenarioOrder,
  writeComparisonReports,
  type ComparisonReport,
  type ComparisonRow,
  type PlayedCell,
} from "./comparison.ts";
import { comparisonFixture, HOSTILE, NOT_FOR_WEBHOOK, WEBHOOK_DENIAL } from "./comparison-fixtures.ts";
import { fixtureReport } from "./fixtures.ts";
import { renderJUnit } from "./junit.ts";
import { kindCatalogReport } from "./testdata/kind-catalog.ts";
import { displayWidth } from "./text-width.ts";
import { findAll, parseXml } from "./xml-check.ts";

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const row = (rows: ComparisonRow[], name: string) => {
  const r = rows.find((x) => x.name === name);
  if (!r) throw new Error(`no row ${name}`);
  return r;
};
const played = (r: ComparisonRow, i: number) => {
  const cell = r.cells[i]!;
  if (!cell.applicable) throw new Error(`${r.name}: cell ${i} is not applicable`);
  return cell as PlayedCell;
};

describe("latencyStats", () => {
  it("gives the median (mean of the middle two for an even count) and the nearest-rank p99", () => {
    expect(latencyStats([])).toBeUndefined();
    expect(latencyStats([5])).toEqual({ median: 5, samples: 1 });
    expect(latencyStats([4, 1, 3, 2])).toEqual({ median: 2.5, p99: 4, samples: 4 });
    const many = Array.from({ length: 200 }, (_, i) => 200 - i); // 200…1
    expect(latencyStats(many)).toEqual({ median: 100.5, p99: 198, samples: 200 });
    expect(latencyStats([Number.NaN, 7])).toEqual({ median: 7, samples: 1 });
  });
});

describe("comparisonRows", () => {
  const c = comparisonFixture();
  const rows = comparisonRows(c);

  it("has one row per scenario of any run, in run order, a scenario of one run placed after its predecessor", () => {
    const ipwNames = c.runs[0]!.scenarios.map((s) => s.name);
    expect(rows).toHaveLength(ipwNames.length + 1);
    const expected = [...ipwNames];
    expected.splice(ipwNames.indexOf("trusted-image-allowed") + 1, 0, "vap-message-expression");
    expect(rows.map((r) => r.name)).toEqual(expected);
    const named = (...names: string[]) => ({ ...c.runs[0]!, scenarios: names.map((name) => ({ ...c.runs[0]!.scenarios[0]!, name })) });
    expect(scenarioOrder([named("b", "d"), named("a", "b", "c", "d", "e")])).toEqual(["a", "b", "c", "d", "e"]);
    // A name with no predecessor in its run goes first.
    expect(scenarioOrder([named("x", "y"), named("y", "z"), named("w")])).toEqual(["w", "x", "y", "z"]);
  });

  it("marks scenarios a run did not play as not applicable, and shared only when two or more played them", () => {
    const ttl = row(rows, "allow-ttl-expiry");
    expect(ttl.cells.map((x) => [x.mechanism, x.applicable])).toEqual([
      ["imagepolicywebhook", true],
      ["webhook", false],
      ["vap", false],
    ]);
    expect(ttl.shared).toBe(false);
    expect(row(rows, "vap-message-expression").cells.map((x) => x.applicable)).toEqual([false, false, true]);
    expect(row(rows, "fail-closed-hang").shared).toBe(true);
    expect(row(rows, "untrusted-image-denied").shared).toBe(true);
  });

  it("lists the status of every request step in step order, skipping steps that sent nothing, undefined where none was observed", () => {
    const spoof = row(rows, "registry-spoofing");
    expect(played(spoof, 0).codes).toEqual([201, 403, 403, 403, 403]);
    expect(played(spoof, 2).codes).toEqual([201, undefined, 403, 403, 403]);
    // setBackend steps in between do not count.
    expect(played(row(rows, "fail-closed-status-codes"), 0).codes).toEqual([403, 403, 403, 403, 403]);
    expect(played(row(rows, "allow-ttl-expiry"), 0).codes).toEqual([201, 201, 403]);
    expect(played(row(rows, "fail-closed-http-500"), 1)).toMatchObject({ verdict: "fail", codes: [500] });
  });

  it("counts journal entries as backend calls, and leaves them undefined under VAP even though its journal is empty", () => {
    expect(played(row(rows, "fail-closed-status-codes"), 0).backendCalls).toBe(13);
    expect(played(row(rows, "retry-after-stall"), 0).backendCalls).toBe(37);
    expect(played(row(rows, "fail-closed-connection-refused"), 0).backendCalls).toBe(0);
    const vap = played(row(rows, "untrusted-image-denied"), 2);
    expect(vap.backendCalls).toBeUndefined();
    expect("backendCalls" in vap).toBe(false);
  });

  it("keeps the first refusal's message as received", () => {
    expect(played(row(rows, "untrusted-image-denied"), 1).denial).toBe(WEBHOOK_DENIAL);
    expect(played(row(rows, "untrusted-image-denied"), 2).denial).toBe(HOSTILE);
    const ttl = c.runs[0]!.scenarios.find((s) => s.name === "allow-ttl-expiry")!;
    expect(played(row(rows, "allow-ttl-expiry"), 0).denial).toBe(ttl.steps[3]!.response!.message);
    expect(played(row(rows, "trusted-image-allowed"), 0).denial).toBeUndefined();
  });

  it("computes latency over the scenario's request steps from the measured durations", () => {
    expect(played(row(rows, "registry-spoofing"), 0).latencyMs).toEqual({ median: 9, p99: 50, samples: 5 });
    expect(played(row(rows, "untrusted-image-denied"), 2).latencyMs).toEqual({ median: 40, samples: 1 });
    // Older reports have no response times: not observed, not zero.
    const old = comparisonRows({ ...c, runs: [kindCatalogReport()] });
    expect(old.every((r) => r.cells[0]!.applicable && (r.cells[0] as PlayedCell).latencyMs === undefined)).toBe(true);
  });

  it("says a scenario was not run, rather than not applicable, when the mechanism's lab failed", () => {
    const failed = { ...c.runs[2]!, scenarios: [], totals: totals([]), labError: "vap: failed to start the lab" };
    const r = comparisonRows({ ...c, runs: [c.runs[0]!, failed] });
    expect(row(r, "untrusted-image-denied").cells[1]).toEqual({ mechanism: "vap", applicable: false, notRun: true });
  });

  it("keeps an errored step without an answer as a status not observed (fixture report)", () => {
    const r = comparisonRows({ ...c, runs: [fixtureReport({ mechanism: "webhook" })] });
    expect(played(row(r, "backend-hang-fail-closed"), 0)).toMatchObject({ verdict: "error", codes: [undefined], backendCalls: 1 });
    expect(played(row(r, "audit-annotations"), 0)).toMatchObject({ verdict: "skipped", codes: [], reason: "the process provider cannot show auditLog" });
  });
});

describe("mechanismSummaries", () => {
  const c = comparisonFixture();
  const [ipw, webhook, vap] = mechanismSummaries(c);

  it("takes totals from the runs and counts what each did not play", () => {
    expect(ipw).toMatchObject({ mechanism: "imagepolicywebhook", totals: c.runs[0]!.totals, notApplicable: 1 });
    const dropped = c.runs[0]!.scenarios.filter((s) => NOT_FOR_WEBHOOK.test(s.name)).length;
    expect(webhook).toMatchObject({ mechanism: "webhook", notApplicable: dropped + 1, totals: { pass: 47 - dropped - 1, fail: 1, error: 0, skipped: 0 } });
    expect(vap).toMatchObject({ mechanism: "vap", notApplicable: 47 - 4, requests: 9, statusNotObserved: 1 });
  });

  it("sums backend calls except under VAP", () => {
    const journal = c.runs[0]!.scenarios.reduce((a, s) => a + s.steps.reduce((b, st) => b + st.journal.length, 0), 0);
    expect(ipw!.backendCalls).toBe(journal);
    expect(vap!.backendCalls).toBeUndefined();
  });

  it("computes median and p99 over all request steps, and over the allowed and the denied ones", () => {
    // VAP's request steps: untrusted 40 (denied), trusted 8 and its copy 8 (allowed), mixed 20 (denied),
    // registry-spoofing 12 (allowed), 3, 50, 7, 9 (denied; one without a status, still refused).
    expect(vap!.latencyMs).toEqual({
      all: { median: 9, p99: 50, samples: 9 },
      allowed: { median: 8, p99: 12, samples: 3 },
      denied: { median: 14.5, p99: 50, samples: 6 },
    });
    expect(ipw!.latencyMs.all).toMatchObject({ median: 20, p99: 50 });
  });

  it("gives the comparison's exit code: the worst run's, 2 on a lab error", () => {
    expect(comparisonExitCode(c)).toBe(1);
    expect(comparisonExitCode({ ...c, runs: [c.runs[0]!] })).toBe(0);
    expect(comparisonExitCode({ ...c, labError: "vap: failed" })).toBe(2);
    expect(comparisonExitCode({ ...c, runs: [] })).toBe(2);
  });
});

describe("renderComparisonTable", () => {
  const c = comparisonFixture();

  it.each([120, 80, 60, 40])("fits every line in %i columns, colored or not", (width) => {
    for (const color of [false, true]) {
      const text = renderComparisonTable(c, { color, width }).replace(ANSI, "");
      for (const line of text.split("\n")) expect(displayWidth(line), line).toBeLessThanOrEqual(width);
    }
  });

  it("shows a compact cell per mechanism, — where not applicable, and no calls under VAP", () => {
    const lines = renderComparisonTable(c, { color: false, width: 120 }).split("\n");
    const line = (name: string) => lines.find((l) => l.startsWith(`${name} `))!;
    expect(lines.find((l) => l.startsWith("scenario"))).toMatch(/^scenario\s+ImagePolicyWebhook\s+validating webhook\s+ValidatingAdmissionPolicy$/);
    expect(line("untrusted-image-denied")).toMatch(/^untrusted-image-denied\s+✓ 403 ·1 call\s+✓ 403 ·1 call\s+✓ 403$/);
    expect(line("registry-spoofing")).toMatch(/✓ 201 403×4 ·5 calls\s+✓ 201 403×4 ·5 calls\s+✓ 201 not observed 403×3$/);
    expect(line("allow-ttl-expiry")).toMatch(/✓ 201×2 403 ·2 calls\s+—\s+—$/);
    expect(line("fail-closed-http-500")).toMatch(/✓ 403 ·5 calls\s+✗ 500 ·5 calls\s+—$/);
    expect(line("vap-message-expression")).toMatch(/—\s+—\s+✓ 201$/);
  });

  it("ends with each mechanism's totals, backend calls and latency", () => {
    const text = renderComparisonTable(c, { color: false, width: 200 });
    expect(text).toContain("\nValidatingAdmissionPolicy: 5 passed in 2m22s · 43 not applicable · 9 requests (1 status not observed) · backend calls n/a (no backend)\n");
    expect(text).toContain("\n  latency median / p99 (requests): all 9 ms / 50 ms (9) · allowed 8 ms / 12 ms (3) · denied 15 ms / 50 ms (6)\n");
    expect(text).toMatch(/^validating webhook: 39 passed, 1 failed in 2m22s · 8 not applicable · 62 requests · 136 calls to the backend$/m);
    // Narrower, the same facts wrap onto indented lines instead of being cut.
    const narrow = renderComparisonTable(c, { color: false, width: 80 });
    expect(narrow).toContain("\nValidatingAdmissionPolicy: 5 passed in 2m22s · 43 not applicable\n    9 requests (1 status not observed) · backend calls n/a (no backend)\n");
  });

  it("truncates long scenario names instead of overflowing", () => {
    const long = comparisonFixture();
    long.runs[0]!.scenarios[0]!.name = `a-very-long-scenario-name-${"x".repeat(80)}`;
    const text = renderComparisonTable(long, { color: false, width: 120 });
    expect(text).toMatch(/^a-very-long-scenario-name-x+… +✓ 201×2 403 ·2 calls {2,}— {2,}—$/m);
  });
});

describe("renderComparisonJUnit", () => {
  const c = comparisonFixture();
  const root = parseXml(renderComparisonJUnit(c));
  const suites = findAll(root, "testsuite");

  it("has one suite per mechanism with that run's counts, and the totals summed", () => {
    expect(suites.map((s) => s.attrs.name)).toEqual(["imagepolicywebhook", "webhook", "vap"]);
    expect(suites.map((s) => Number(s.attrs.tests))).toEqual(c.runs.map((r) => r.scenarios.length));
    expect(suites.map((s) => Number(s.attrs.failures))).toEqual([0, 1, 0]);
    expect(root.attrs.tests).toBe(String(c.runs.reduce((a, r) => a + r.scenarios.length, 0)));
    expect(root.attrs.failures).toBe("1");
    expect(findAll(suites[2]!, "testcase").map((t) => t.attrs.name)).toEqual(c.runs[2]!.scenarios.map((s) => s.name));
  });

  it("keeps the mechanisms' cases apart by classname", () => {
    const vapCase = findAll(suites[2]!, "testcase")[0]!;
    expect(vapCase.attrs.classname).toMatch(/^kind\.vap\.defaultAllow=/);
    const property = (s: (typeof suites)[number], name: string) => findAll(s, "property").find((p) => p.attrs.name === name)?.attrs.value;
    expect(property(suites[1]!, "mechanism")).toBe("webhook");
  });

  it("renders skipped, failed and errored cases as junit.ts does, and a failed lab as an errored case", () => {
    const withVerdicts: ComparisonReport = {
      ...c,
      runs: [fixtureReport({ mechanism: "imagepolicywebhook" }), fixtureReport({ mechanism: "vap", scenarios: [], totals: totals([]), labError: "vap: <apiserver> did not start" })],
      labError: "vap: <apiserver> did not start",
    };
    const r = parseXml(renderComparisonJUnit(withVerdicts));
    const [ipw, vap, extra] = findAll(r, "testsuite");
    expect(extra).toBeUndefined(); // the comparison's labError is the vap run's: reported once
    expect(ipw!.attrs).toMatchObject({ name: "imagepolicywebhook", tests: "4", failures: "1", errors: "1", skipped: "1" });
    expect(vap!.attrs).toMatchObject({ name: "vap", tests: "1", errors: "1" });
    expect(findAll(vap!, "error")[0]!.attrs.message).toBe("vap: <apiserver> did not start");
    // The cases are junit.ts's own: same failure element as the single-run report.
    const single = findAll(parseXml(renderJUnit(fixtureReport())), "failure")[0]!;
    expect(findAll(ipw!, "failure")[0]).toEqual(single);
    const other = parseXml(renderComparisonJUnit({ ...withVerdicts, labError: "the comparison was interrupted" }));
    expect(findAll(other, "testsuite").map((s) => s.attrs.name)).toEqual(["imagepolicywebhook", "vap", "lab"]);
  });
});

describe("renderComparisonJson", () => {
  const c = comparisonFixture();
  const text = renderComparisonJson(c);
  const doc = JSON.parse(text);

  it("is versioned, schemaVersion first, and loads back into the same ComparisonReport", () => {
    expect(Object.keys(doc)[0]).toBe("schemaVersion");
    expect(doc.schemaVersion).toBe(COMPARISON_SCHEMA_VERSION);
    expect(doc.runSchemaVersion).toBe(2);
    expect(doc.mechanisms).toEqual(["imagepolicywebhook", "webhook", "vap"]);
    const back = parseComparisonJson(text);
    expect(back).toEqual(c);
    expect(comparisonRows(back)).toEqual(comparisonRows(c));
    expect(text.endsWith("}\n")).toBe(true);
  });

  it("writes the rows and summaries, a status not observed as null and no backendCalls under VAP", () => {
    const spoof = doc.rows.find((r: { name: string }) => r.name === "registry-spoofing");
    expect(spoof.cells[2]).toEqual({ mechanism: "vap", applicable: true, verdict: "pass", codes: [201, null, 403, 403, 403], denial: expect.any(String), latencyMs: { median: 9, p99: 50, samples: 5 } });
    expect(doc.rows.find((r: { name: string }) => r.name === "allow-ttl-expiry").cells[1]).toEqual({ mechanism: "webhook", applicable: false });
    expect(doc.summaries[2].backendCalls).toBeUndefined();
    expect(doc.summaries).toEqual(JSON.parse(JSON.stringify(mechanismSummaries(c))));
  });

  it("refuses another layout version, saying what it expected and found", () => {
    expect(() => parseComparisonJson(JSON.stringify({ ...doc, schemaVersion: 2 }))).toThrow(LabError);
    expect(() => parseComparisonJson(JSON.stringify({ ...doc, schemaVersion: 2 }))).toThrow("schemaVersion: expected 1, found 2");
    expect(() => parseComparisonJson("[]")).toThrow("expected an object, found an array");
  });
});

describe("renderComparisonHtml", () => {
  const c = comparisonFixture();
  const html = renderComparisonHtml(c);
  const rows = comparisonRows(c);

  it("has the matrix: a row per scenario, a colored cell per mechanism, — where not applicable", () => {
    expect(html.match(/<tr class="(shared|single)">/g)).toHaveLength(rows.length);
    expect(html).toContain(`<th data-mechanism="vap"><a href="vap/report.html">ValidatingAdmissionPolicy</a></th>`);
    expect(html).toMatch(/<tr class="single"><td class="name">allow-ttl-expiry<\/td><td class="cell pass refused" data-mechanism="imagepolicywebhook" data-codes="201,201,403"[^>]*><a href="imagepolicywebhook\/report.html#s-1">/);
    expect(html).toContain(`<td class="cell na" data-mechanism="webhook" title="does not apply to validating webhook">—</td>`);
    expect(html).toMatch(/<td class="cell fail refused" data-mechanism="webhook" data-codes="500"/);
    expect(html).toContain(`data-codes="201,not observed,403,403,403"`);
  });

  it("escapes refusal messages in the hover text: no <script from data, and a script would be forbidden anyway", () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(`refused: &lt;script&gt;alert(&quot;vap&quot;)&lt;/script&gt; &amp; denied`);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  it("has the header facts, per-mechanism summaries with links, and the latency chart", () => {
    expect(html).toContain("<dt>provider</dt><dd>kind</dd>");
    expect(html).toContain("<dt>Kubernetes</dt><dd>1.36.1</dd>");
    expect(html).toContain("<dt>duration</dt><dd>9m00s");
    for (const m of ["imagepolicywebhook", "webhook", "vap"]) expect(html).toContain(`<a href="${m}/report.html">`);
    expect(html).toMatch(/<tr data-mechanism="vap">.*<td class="num"><span class="muted" title="no backend">n\/a<\/span><\/td><td class="num">9 ms \/ 50 ms \(9\)<\/td><td class="num">8 ms \/ 12 ms \(3\)<\/td><td class="num">15 ms \/ 50 ms \(6\)<\/td>/);
    expect(html).toMatch(/<svg [^>]*class="pic latency-chart"/);
    expect(html).toMatch(/<g class="lat-group" data-mechanism="vap" data-median-ms="9" data-p99-ms="50" data-samples="9">/);
  });

  it("says latency was not observed when the reports carry no response times", () => {
    const old = renderComparisonHtml({ ...c, runs: [kindCatalogReport()] });
    expect(old).not.toContain("latency-chart");
    expect(old).toContain("Request latency not observed");
  });
});

describe("writeComparisonReports", () => {
  let base: string | undefined;
  afterEach(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it("writes the comparison files and each mechanism's reports in its own directory, 0644", async () => {
    base = await mkdtemp(join(tmpdir(), "ipl-comparison-"));
    const dir = join(base, "reports");
    const c = comparisonFixture();
    const { files } = await writeComparisonReports(dir, c);
    const per = (m: string) => ["junit.xml", "report.json", "report.html"].map((f) => join(dir, m, f));
    expect(files).toEqual([join(dir, "comparison.json"), join(dir, "comparison.html"), join(dir, "junit.xml"), ...per("imagepolicywebhook"), ...per("webhook"), ...per("vap")]);
    for (const f of files) expect((await stat(f)).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).sort()).toEqual(["comparison.html", "comparison.json", "imagepolicywebhook", "junit.xml", "vap", "webhook"]);
    expect(await readFile(join(dir, "junit.xml"), "utf8")).toBe(renderComparisonJUnit(c));
    expect(JSON.parse(await readFile(join(dir, "vap", "report.json"), "utf8"))).toMatchObject({ schemaVersion: 2, mechanism: "vap" });
    expect(parseComparisonJson(await readFile(join(dir, "comparison.json"), "utf8"))).toEqual(c);
  });

  it("refuses two runs of one mechanism before writing anything", async () => {
    base = await mkdtemp(join(tmpdir(), "ipl-comparison-"));
    const c = comparisonFixture();
    const dir = join(base, "reports");
    await expect(writeComparisonReports(dir, { ...c, runs: [c.runs[0]!, c.runs[0]!] })).rejects.toThrow(LabError);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });
});
