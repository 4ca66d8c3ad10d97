import { describe, expect, it } from "vitest";

// The names the package promises (package.json "exports": "."), by the kind of value each must be.
const EXPECTED: Record<string, "function" | "class" | "object" | "string"> = {
  startLab: "function",
  downLab: "function",
  LocalProvider: "class",
  KindProvider: "class",
  selectProvider: "function",
  lintProfile: "function",
  lintAdmissionFile: "function",
  resolveProfile: "function",
  DEFAULT_PROFILE: "object",
  loadScenarios: "function",
  loadScenarioFile: "function",
  resolveScenarioArgs: "function",
  runScenarios: "function",
  createPlayer: "function",
  CATALOG_DIR: "string",
  exitCodeFor: "function",
  // report writers
  writeReports: "function",
  renderJUnit: "function",
  renderJson: "function",
  renderHtml: "function",
  liveReporter: "function",
  renderSummaryTable: "function",
  REPORT_FILES: "object",
  // probe
  runProbe: "function",
  loadProbeTarget: "function",
  planProbe: "function",
  classifyAnswer: "function",
  writeProbeReports: "function",
  PROBE_REPORT_FILES: "object",
  // binaries
  resolveBinaries: "function",
  ensureBinaries: "function",
  DEFAULT_K8S_VERSION: "string",
  // errors
  LabError: "class",
  ConfigError: "class",
  WaitTimeoutError: "class",
  ProviderUnavailableError: "class",
  // the stub
  startStub: "function",
  StubClient: "class",
  parseFault: "function",
  parsePolicyYaml: "function",
  trustPolicy: "function",
  Journal: "class",
  DEFAULT_POLICY: "object",
};

const kindOf = (v: unknown) => (typeof v === "function" ? (/^class\b/.test(Function.prototype.toString.call(v)) ? "class" : "function") : typeof v);

describe("package entry (harness/src/index.ts)", () => {
  it("imports without side effects on the process (no signal handlers of its own)", async () => {
    // testcontainers (through proper-lockfile's signal-exit) adds one passive listener per signal on load.
    await import("testcontainers");
    const before = ["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s));
    const api = await import("./index.ts");
    expect(["SIGINT", "SIGTERM", "SIGHUP"].map((s) => process.listenerCount(s))).toEqual(before);
    expect(Object.keys(api).length).toBeGreaterThanOrEqual(Object.keys(EXPECTED).length);
  });

  it.each(Object.entries(EXPECTED))("exports %s (%s)", async (name, kind) => {
    const api = (await import("./index.ts")) as Record<string, unknown>;
    expect(name in api, `${name} exported`).toBe(true);
    expect(kindOf(api[name])).toBe(kind);
  });

  it("is what package.json exports as '.'", async () => {
    const pkg = (await import("../../package.json", { with: { type: "json" } })).default as { exports: Record<string, string> };
    expect(pkg.exports["."]).toBe("./harness/src/index.ts");
  });

  it("the exported errors and profile behave as the library's own", async () => {
    const api = await import("./index.ts");
    const r = api.lintProfile({ allowTTL: 3600 });
    expect(r.errors).toHaveLength(1);
    expect(() => api.resolveProfile({ allowTTL: 3600 })).toThrow(api.ConfigError);
    expect(new api.ConfigError([])).toBeInstanceOf(api.LabError);
  });
});
