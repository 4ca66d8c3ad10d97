// Writes the file reports of a run into one directory, for CI to archive and people to open.
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RunReport } from "../scenario/result.ts";
import { renderHtml } from "./html.ts";
import { renderJson } from "./json.ts";
import { renderJUnit } from "./junit.ts";

/** File names inside the report directory; CI configs refer to them, so they are part of the API. */
export const REPORT_FILES = { junit: "junit.xml", json: "report.json", html: "report.html" } as const;

/**
 * Writes junit.xml, report.json and report.html into `dir` (created if missing), each 0644.
 * Each file is written to a temporary name first and renamed, so a CI step that picks up the
 * directory never sees a half-written report. Returns the paths written, in that order.
 */
export async function writeReports(dir: string, report: RunReport): Promise<{ files: string[] }> {
  return writeReportFiles(dir, [
    [REPORT_FILES.junit, renderJUnit(report)],
    [REPORT_FILES.json, renderJson(report)],
    [REPORT_FILES.html, renderHtml(report)],
  ]);
}

/**
 * Writes rendered reports (file name, text) into `dir` (created if missing), each 0644 and whole:
 * written under a temporary name, then renamed. Returns the paths written, in that order.
 */
export async function writeReportFiles(dir: string, outputs: [name: string, text: string][]): Promise<{ files: string[] }> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [name, text] of outputs) {
    const path = join(dir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, text, { encoding: "utf8", mode: 0o644 });
    // writeFile's mode is filtered by the umask; reports are meant to be world-readable.
    await chmod(tmp, 0o644);
    await rename(tmp, path);
    files.push(path);
  }
  return { files };
}
