// The HTML report in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
// opens a report rendered from a committed report.json of a real kind run, and the test fails on any
// console error, page error, failed or unexpected request, or a picture that does not carry the
// observed numbers. Screenshots go to reports/screenshots/ for CI to archive.
// Without /usr/bin/chromium it skips with a printed reason, except under CI=true, where it fails.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunReport } from "../scenario/result.ts";
import { comparisonRows } from "./comparison-model.ts";
import { comparisonFixture, HOSTILE } from "./comparison-fixtures.ts";
import { fixtureReport } from "./fixtures.ts";
import { renderHtml } from "./html.ts";
import { writeComparisonReports } from "./write-comparison-reports.ts";
import { fmtDuration } from "./svg/svg-kit.ts";
import { kindCatalogReport, kindScenario } from "./testdata/kind-catalog.ts";

const CHROMIUM = "/usr/bin/chromium";
const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(here, "../../../reports/screenshots");
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI === "true";

if (!haveChromium && !inCi) console.warn(`html.browser.test.ts skipped: ${CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium)`);

/** Observed data: report.json of a kind run of the whole catalog on this project's CI machine (see testdata/README.md). */
const kindReport = kindCatalogReport();
const scenario = (name: string) => kindScenario(name, kindReport);

/** What a page did that it must not: console errors, uncaught errors, failed requests, any request but the document. */
interface Trouble {
  problems: string[];
}

async function openReport(context: BrowserContext, dir: string, name: string, report: RunReport): Promise<{ page: Page; trouble: Trouble }> {
  const file = join(dir, `${name}.html`);
  writeFileSync(file, renderHtml(report));
  return openFile(context, file);
}

async function openFile(context: BrowserContext, file: string): Promise<{ page: Page; trouble: Trouble }> {
  const url = pathToFileURL(file).href;
  const page = await context.newPage();
  const trouble: Trouble = { problems: [] };
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") trouble.problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => trouble.problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => trouble.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  page.on("request", (r) => {
    if (r.url() !== url) trouble.problems.push(`unexpected request: ${r.url()} (the report must be self-contained)`);
  });
  await page.goto(url, { waitUntil: "load" });
  return { page, trouble };
}

if (!haveChromium && inCi) {
  describe("HTML report in Chromium", () => {
    it("needs Chromium on CI", () => {
      throw new Error(`${CHROMIUM} not found; CI=true requires it (.ci/run installs Debian's chromium package)`);
    });
  });
}

describe.runIf(haveChromium)("HTML report in Chromium", () => {
  let context: BrowserContext;
  let profileDir: string;
  let pagesDir: string;
  let page: Page;
  let trouble: Trouble;

  beforeAll(async () => {
    profileDir = mkdtempSync(join(tmpdir(), "iplab-chromium-"));
    pagesDir = mkdtempSync(join(tmpdir(), "iplab-report-"));
    mkdirSync(SHOTS, { recursive: true });
    // A fresh profile per run (Playwright passes it as --user-data-dir), so nothing cached from earlier runs.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      colorScheme: "light",
      // The background-networking flags matter: on a closed network Chromium's own connections
      // (component updates, sync) are refused and would show up as noise or failures.
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    ({ page, trouble } = await openReport(context, pagesDir, "kind-catalog", kindReport));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    for (const d of [profileDir, pagesDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("loads with no console error, no failed request and no request but the document", async () => {
    expect(await page.locator("h1").textContent()).toBe("imagepolicy-lab conformance report");
    expect(await page.locator("table.summary tbody tr").count()).toBe(kindReport.scenarios.length);
    expect(trouble.problems).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "report-page.png"), fullPage: true });
  });

  it("draws the 500 scenarios' retry timelines with one mark per journaled call and the observed gaps", async () => {
    for (const name of ["fail-closed-http-500", "fail-open-http-500"]) {
      const { s, i } = scenario(name);
      const journal = s.steps.flatMap((st) => st.journal);
      expect(journal).toHaveLength(5);
      const fig = page.locator(`#pic-calls-${i + 1}`);
      const marks = fig.locator("g.call");
      expect(await marks.count()).toBe(5);
      // Labels are the observed gaps between the journal's receive times, in order.
      const gaps = journal.slice(1).map((e, k) => `+${fmtDuration(e.atMs - journal[k]!.atMs)}`);
      expect(await fig.locator("text.gap-label").allTextContents()).toEqual(gaps);
      // And the drawing is to scale: distances between marks are proportional to those gaps.
      const xs = await Promise.all((await marks.all()).map(async (m) => ((await m.boundingBox())!.x)));
      const ratio = (xs[4]! - xs[0]!) / (journal[4]!.atMs - journal[0]!.atMs);
      journal.slice(1).forEach((e, k) => expect(xs[k + 1]! - xs[k]!).toBeCloseTo((e.atMs - journal[k]!.atMs) * ratio, 0));
      if (name === "fail-closed-http-500") await fig.screenshot({ path: join(SHOTS, "retry-timeline.png") });
    }
  });

  it("draws the hang as a 30 s open call and client-go's Retry-After retries apart from the webhook's", async () => {
    const hang = scenario("fail-closed-hang");
    const entry = hang.s.steps[0]!.journal[0]!;
    const stall = page.locator(`#pic-calls-${hang.i + 1} g.stall`);
    expect(await stall.count()).toBe(1);
    expect(await stall.locator("text").textContent()).toBe(`no answer · ${fmtDuration(entry.latencyMs)}`);
    expect(await stall.getAttribute("data-latency-ms")).toBe(String(Math.round(entry.latencyMs * 10) / 10));
    await page.locator(`#pic-calls-${hang.i + 1}`).screenshot({ path: join(SHOTS, "hang-timeline.png") });

    // retry-after-stall: 37 reviews; the stub answered 503 with Retry-After: 1, and client-go came back
    // ~1 s later 10 times per webhook attempt (gaps 1002–1008 ms), with 120/166/263 ms backoffs between.
    const stall2 = scenario("retry-after-stall");
    const fig = page.locator(`#pic-calls-${stall2.i + 1}`);
    expect(await fig.locator("g.call").count()).toBe(stall2.s.steps[0]!.journal.length);
    expect(await fig.locator("g.call.inner").count()).toBe(33);
    expect(await fig.locator("g.inner-run").evaluateAll((els) => els.map((e) => e.getAttribute("data-retries")))).toEqual(["10", "10", "10", "3"]);
    expect(await fig.locator("text.gap-label").allTextContents()).toEqual(["+120 ms", "+166 ms", "+263 ms"]);
    await fig.screenshot({ path: join(SHOTS, "retry-after-timeline.png") });
  });

  it("draws the TTL cache timeline: stored, hit, expired and asked again after the observed gap", async () => {
    const { s, i } = scenario("allow-ttl-expiry");
    const fig = page.locator(`#pic-cache-${i + 1}`);
    expect(await fig.locator("g.row").evaluateAll((els) => els.map((e) => e.getAttribute("data-kind")))).toEqual(["stored", "hit", "expired"]);
    const stored = s.steps[0]!.journal[0]!;
    const again = s.steps[3]!.journal[0]!;
    const attempts = s.steps[3]!.attempts;
    expect(await fig.locator("g.row.expired text.row-label").textContent()).toMatch(
      new RegExp(`^hit ×${attempts - 1}, then expired: asked again ${fmtDuration(again.atMs - stored.atMs)} after stored → denied`),
    );
    expect(await fig.locator("g.row.stored g.ttl").getAttribute("data-ttl-ms")).toBe(String(s.profile.allowTTL * 1000));
    await fig.screenshot({ path: join(SHOTS, "ttl-timeline.png") });
  });

  it("builds the matrix with a cell per failure kind and defaultAllow seen in the data", async () => {
    const matrix = page.locator("#matrix svg.failure-matrix");
    expect(await matrix.count()).toBe(1);
    // Every fail-open/-closed scenario whose backend answered an HTTP error has its cell, with the observed outcome and calls.
    let checked = 0;
    for (const s of kindReport.scenarios) {
      if (!/^fail-(open|closed)-/.test(s.name) || s.steps.filter((st) => st.request).length !== 1) continue;
      const step = s.steps.find((st) => st.request)!;
      const status = /^status:(\d+)$/.exec(step.journal[0]?.fault ?? "")?.[1];
      if (!status) continue;
      const cell = matrix.locator(`g.cell[data-kind="HTTP ${status}"][data-default-allow="${s.profile.defaultAllow}"]`);
      expect(await cell.count(), `${s.name}: cell HTTP ${status} × ${s.profile.defaultAllow}`).toBe(1);
      expect(await cell.getAttribute("data-calls")).toBe(String(step.journal.length));
      expect(await cell.getAttribute("data-admitted")).toBe(String(step.response!.allowed));
      expect(await cell.locator("text.outcome").textContent()).toBe(`${step.response!.allowed ? "admitted" : "refused"} ${step.response!.code}`);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(6);
    // The connection-level failures, in both columns: refused at once with 0 calls, or admitted.
    for (const kind of ["connection refused", "untrusted certificate", "hang (never answers)"]) {
      for (const da of [false, true]) {
        const cell = matrix.locator(`g.cell[data-kind="${kind}"][data-default-allow="${da}"]`);
        expect(await cell.getAttribute("data-admitted"), `${kind} × ${da}`).toBe(String(da));
      }
    }
    expect(await matrix.locator(`g.cell[data-kind="connection refused"][data-default-allow="false"]`).getAttribute("data-calls")).toBe("0");
    expect(await matrix.locator("g.cell:not(.empty)").count()).toBe(Number(await matrix.getAttribute("data-cells")));
    await page.locator("#matrix").screenshot({ path: join(SHOTS, "failure-matrix.png") });
  });

  it("stays readable in a narrow window: no sideways page scroll, pictures scroll in their own box", async () => {
    const narrow = await context.newPage();
    await narrow.setViewportSize({ width: 390, height: 844 });
    await narrow.goto(page.url());
    // (A string, evaluated in the page: this project's TypeScript has no DOM types.)
    const widths = (await narrow.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")) as [number, number];
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);
    // Text in a picture is drawn at least 9 px high even there (the picture keeps a minimum width and scrolls).
    const box = await narrow.locator("#matrix svg text.kind").first().boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(9);
    await narrow.screenshot({ path: join(SHOTS, "report-narrow.png") });
    await narrow.locator("#retries").scrollIntoViewIfNeeded();
    await narrow.screenshot({ path: join(SHOTS, "report-narrow-pictures.png") });
    await narrow.close();
  });

  it("opens a failed scenario with expected vs observed first, and filters rows without JavaScript", async () => {
    const report = fixtureReport();
    const { page: p, trouble: t } = await openReport(context, pagesDir, "fixture", report);
    const failed = p.locator("details.fail");
    expect(await failed.getAttribute("open")).toBe("");
    expect(await failed.locator(":scope > summary + .evo h3").textContent()).toBe("Expected vs observed");
    expect(await failed.locator(".evo").isVisible()).toBe(true);
    expect(await p.locator("details.pass").getAttribute("open")).toBeNull();
    await p.locator("label[for=show-failed]").click();
    const visible: string[] = [];
    for (const row of await p.locator("table.summary tbody tr").all()) if (await row.isVisible()) visible.push((await row.getAttribute("class"))!);
    expect(visible.sort()).toEqual(["error", "fail"]);
    expect(await p.locator("details.pass").isVisible()).toBe(false);
    expect(t.problems).toEqual([]);
    await p.close();
  });

  it("opens the mechanism comparison: no console error, the matrix, hover texts as received, and links to each mechanism's report", async () => {
    const c = comparisonFixture();
    const dir = join(pagesDir, "comparison");
    await writeComparisonReports(dir, c);
    const { page: p, trouble: t } = await openFile(context, join(dir, "comparison.html"));
    expect(await p.locator("h1").textContent()).toBe("imagepolicy-lab mechanism comparison");
    expect(await p.locator("table.comparison tbody tr").count()).toBe(comparisonRows(c).length);
    expect(await p.locator("table.comparison thead th").allTextContents()).toEqual(["scenario", "ImagePolicyWebhook", "validating webhook", "ValidatingAdmissionPolicy"]);
    // The refusal message reaches the hover text exactly as the apiserver sent it, markup as text.
    const vapCell = p.locator("table.comparison tbody tr", { hasText: "untrusted-image-denied" }).locator('td[data-mechanism="vap"]');
    expect(await vapCell.getAttribute("title")).toContain(`refused: ${HOSTILE}`);
    expect(await p.locator("script").count()).toBe(0);
    expect(await p.locator("svg.latency-chart g.lat-bar").count()).toBe(2 * c.runs.length);
    expect(t.problems).toEqual([]);
    await p.screenshot({ path: join(SHOTS, "comparison-page.png"), fullPage: true });
    // A cell leads to the scenario in that mechanism's own report, written beside comparison.html.
    const i = c.runs[2]!.scenarios.findIndex((s) => s.name === "untrusted-image-denied");
    const target = pathToFileURL(join(dir, "vap", "report.html")).href;
    await vapCell.locator("a").click();
    await p.waitForURL(`${target}#s-${i + 1}`);
    expect(await p.locator("h1").textContent()).toBe("imagepolicy-lab conformance report");
    expect(await p.locator(`#s-${i + 1} summary strong`).textContent()).toBe("untrusted-image-denied");
    expect(t.problems.filter((m) => !m.startsWith(`unexpected request: ${target}`))).toEqual([]);
    await p.close();
  });
});
