import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { RunEvent } from "../scenario/runner.ts";
import { fixtureReport, SHORT_TTL } from "./fixtures.ts";
import { totals } from "../scenario/result.ts";
import { liveReporter, renderSummaryTable } from "./terminal.ts";
import { displayWidth, truncate } from "./text-width.ts";

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

function sink(columns?: number): Writable & { text: () => string; columns?: number } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  }) as Writable & { text: () => string; columns?: number };
  w.text = () => chunks.join("");
  w.columns = columns;
  return w;
}

function events(): RunEvent[] {
  const r = fixtureReport();
  const [pass, fail, error, skipped] = r.scenarios as [typeof r.scenarios[0], typeof r.scenarios[0], typeof r.scenarios[0], typeof r.scenarios[0]];
  const total = 4;
  return [
    { type: "scenario-start", name: pass.name, index: 0, total },
    { type: "step", scenario: pass.name, step: pass.steps[0]! },
    { type: "scenario-end", result: pass, index: 0, total },
    { type: "profile", profile: SHORT_TTL, elapsedMs: 2100 },
    { type: "scenario-start", name: fail.name, index: 1, total },
    { type: "scenario-end", result: fail, index: 1, total },
    { type: "scenario-start", name: error.name, index: 2, total },
    { type: "scenario-end", result: error, index: 2, total },
    { type: "scenario-start", name: skipped.name, index: 3, total },
    { type: "scenario-end", result: skipped, index: 3, total },
  ];
}

describe("renderSummaryTable", () => {
  const report = fixtureReport();

  it("lists every scenario with its verdict, then totals, wall time, switches and the wait ratio", () => {
    const out = renderSummaryTable(report, { color: false, width: 140 });
    for (const s of report.scenarios) expect(out).toContain(s.name);
    expect(out).toContain("✓ deny-latest-tag");
    expect(out).toMatch(/denied 403, 1 call\s+denied 403, 1 call\s+pass\s+1\.2s/);
    expect(out).toMatch(/step 2 backend calls: 0\s+backend calls: 1\s+fail/);
    expect(out).toMatch(/skipped: the process provider cannot show auditLog\s+skipped\s+—/);
    expect(out).toContain("1 passed, 1 failed, 1 errored, 1 skipped in 74.2s\n");
    expect(out).toContain("wall time 86.2s (lab start 12.0s + scenarios 74.2s)");
    expect(out).toContain("profile switches 1 (2.1s restarting the apiserver)");
    expect(out).toContain("↻ defaultAllow=false allowTTL=2 denyTTL=2 retryBackoff=500 (2.1s)");
    expect(out).toContain("run/wait ratio 2.18×");
    expect(out).not.toMatch(ANSI);
  });

  it.each([40, 60, 80, 100, 200])("fits in %i columns, wide characters included", (width) => {
    const out = renderSummaryTable(report, { color: true, width });
    for (const line of out.replace(ANSI, "").split("\n")) expect(displayWidth(line)).toBeLessThanOrEqual(width);
  });

  it("colors only when asked", () => {
    expect(renderSummaryTable(report, { color: true, width: 100 })).toMatch(ANSI);
  });

  it("never lets control characters from the data reach the terminal", () => {
    const r = fixtureReport();
    r.scenarios[0]!.name = "evil\u001b[2Jname";
    const out = renderSummaryTable(r, { color: false, width: 120 });
    expect(out).not.toContain("\u001b");
    expect(out).toContain("evil␛[2Jname");
  });

  it("says when the lab itself failed", () => {
    const out = renderSummaryTable(fixtureReport({ labError: "failed to start etcd\nmore" }), { color: false, width: 100 });
    expect(out).toContain("lab error: failed to start etcd\n");
  });
});

describe("renderSummaryTable: skipped and unobserved", () => {
  it("shows skipped scenarios as skipped, never passed, and counts them apart", () => {
    const base = fixtureReport();
    const [pass, , , skipped] = base.scenarios;
    const scenarios = [pass!, skipped!];
    const out = renderSummaryTable(fixtureReport({ scenarios, totals: totals(scenarios) }), { color: false, width: 140 });
    expect(out).toMatch(/○ audit-annotations\s+—\s+skipped: the process provider cannot show auditLog\s+skipped\s+—\n/);
    expect(out).not.toContain("✓ audit-annotations");
    expect(out).toContain("1 passed, 1 skipped in ");
  });

  it("says 'not observed' where no status code was received", () => {
    const report = fixtureReport();
    const step = report.scenarios[0]!.steps[0]!;
    step.response = { code: undefined, allowed: false, message: "forbidden" };
    step.checks = [
      { what: "allowed", expected: "denied", observed: "denied (status not observed)", ok: true },
      { what: "code", expected: "403", observed: "not observed", ok: false },
    ];
    report.scenarios[0]!.verdict = "fail";
    step.verdict = "fail";
    const out = renderSummaryTable(report, { color: false, width: 160 });
    expect(out).toMatch(/✗ deny-latest-tag\s+step 1 code: 403\s+code: not observed\s+fail/);
  });
});

describe("liveReporter", () => {
  it("prints plain lines when not interactive", () => {
    const out = sink();
    const on = liveReporter(out, { color: false, interactive: false });
    for (const e of events()) on(e);
    expect(out.text()).toBe(
      [
        "[1/4] deny-latest-tag…",
        "✓ deny-latest-tag  1.2s",
        "↻ profile defaultAllow=false allowTTL=2 denyTTL=2 retryBackoff=500 (2.1s)",
        `[2/4] allow-cache <ttl> & "quotes" 镜像…`,
        `✗ allow-cache <ttl> & "quotes" 镜像  3.5s`,
        "    step 2 create pod p1 again within allowTTL",
        "      backend calls",
        "        expected  0",
        "        observed  1",
        "      message",
        "        expected  contains <cached>",
        `        observed  <script>alert("x")</script> & ]]> ␀␁␛[31mred␛[0m␡ tab␉here 镜像 🚀 e\u0301 \ufffd end`, // the stream encodes UTF-8: a lone surrogate becomes U+FFFD
        "[3/4] backend-hang-fail-closed…",
        "! backend-hang-fail-closed  30.1s  error (failed to create pod p0: connect ECONNREFUSED 127.0.0.1:6443)",
        "    in step 1 create pod p0 [nginx:1.25]: connect ECONNREFUSED 127.0.0.1:6443",
        "[4/4] audit-annotations…",
        "○ audit-annotations  skipped (the process provider cannot show auditLog)",
        "",
      ].join("\n"),
    );
  });

  it("names the other failing steps after the first one's checks", () => {
    const r = fixtureReport();
    const fail = r.scenarios[1]!;
    const first = fail.steps.find((st) => st.verdict === "fail")!;
    const again = (index: number) => ({ ...first, index, name: `step ${index + 1}` });
    const result = { ...fail, steps: [...fail.steps, again(fail.steps.length), again(fail.steps.length + 1)] };
    const out = sink();
    liveReporter(out, { color: false, interactive: false })({ type: "scenario-end", result, index: 0, total: 1 });
    expect(out.text()).toContain(`    step ${first.index + 1} ${first.name}\n`);
    expect(out.text()).toContain(`    … 2 more failing steps: ${fail.steps.length + 1}, ${fail.steps.length + 2} (details in the report files)\n`);
    // One failing step: nothing more to name.
    const single = sink();
    liveReporter(single, { color: false, interactive: false })({ type: "scenario-end", result: fail, index: 0, total: 1 });
    expect(single.text()).not.toContain("more failing step");
  });

  it("redraws one status line in place when interactive, and never wider than the terminal", () => {
    const out = sink(30);
    const on = liveReporter(out, { color: false, interactive: true });
    const evs = events();
    on(evs[0]!);
    on(evs[1]!);
    expect(out.text()).toBe("\r\x1b[2K[1/4] deny-latest-tag…\r\x1b[2K[1/4] deny-latest-tag… step …");
    on(evs[2]!);
    expect(out.text().endsWith("\r\x1b[2K✓ deny-latest-tag  1.2s\n")).toBe(true);
    for (const segment of out.text().split(/\r\x1b\[2K|\n/)) expect(displayWidth(segment)).toBeLessThan(30);
  });
});

describe("text width", () => {
  it("counts wide characters as two cells and combining marks as none", () => {
    expect(displayWidth("镜像")).toBe(4);
    expect(displayWidth("e\u0301")).toBe(1);
    expect(displayWidth("🚀")).toBe(2);
  });

  it("truncates on grapheme boundaries", () => {
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("镜像镜像", 5)).toBe("镜像…");
    expect(truncate("e\u0301e\u0301e\u0301", 3)).toBe("e\u0301e\u0301e\u0301");
    expect(truncate("e\u0301e\u0301e\u0301", 2)).toBe("e\u0301…");
  });
});
