import { mkdtemp, readFile, rm, stat, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { fixtureReport } from "./fixtures.ts";
import { renderJUnit } from "./junit.ts";
import { writeReports } from "./write-reports.ts";

describe("writeReports", () => {
  let base: string | undefined;
  afterEach(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it("creates the directory and writes junit.xml, report.json and report.html, 0644, no temp files left", async () => {
    base = await mkdtemp(join(tmpdir(), "ipl-report-"));
    const dir = join(base, "nested", "reports");
    const report = fixtureReport();
    const { files } = await writeReports(dir, report);
    expect(files).toEqual([join(dir, "junit.xml"), join(dir, "report.json"), join(dir, "report.html")]);
    for (const f of files) expect((await stat(f)).mode & 0o777).toBe(0o644);
    expect(await readdir(dir)).toEqual(["junit.xml", "report.html", "report.json"]);
    expect(await readFile(files[0]!, "utf8")).toBe(renderJUnit(report));
    expect(JSON.parse(await readFile(files[1]!, "utf8")).schemaVersion).toBe(2);
    expect(await readFile(files[2]!, "utf8")).toMatch(/^<!doctype html>/);
  });

  it("overwrites an earlier run's reports", async () => {
    base = await mkdtemp(join(tmpdir(), "ipl-report-"));
    await writeReports(base, fixtureReport({ provider: "first" }));
    const { files } = await writeReports(base, fixtureReport({ provider: "second" }));
    expect(JSON.parse(await readFile(files[1]!, "utf8")).provider).toBe("second");
  });
});
