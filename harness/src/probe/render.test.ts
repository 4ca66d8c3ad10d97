import { describe, expect, it } from "vitest";
import { displayWidth } from "../report/text-width.ts";
import { parseXml } from "../report/xml-check.ts";
import { renderProbeHtml } from "./html.ts";
import { renderProbeJson } from "./json.ts";
import { renderProbeJUnit } from "./junit.ts";
import { renderProbeTerminal } from "./terminal.ts";
import { answered, enforcingIpw, report } from "./test-fixtures.ts";

const prefixHole = report(answered((id, image) => (id === "spoof-hyphen" ? { admitted: 201 } : enforcingIpw(id, image)), { pod: true }));

describe("probe reports", () => {
  it("terminal: the table fits the width, findings are whole, the last line says the exit code", () => {
    const out = renderProbeTerminal(prefixHole, { color: false, width: 100 });
    const lines = out.trimEnd().split("\n");
    const table = lines.filter((l) => /^[✓✗!] /.test(l));
    expect(table).toHaveLength(14);
    for (const l of table) expect(displayWidth(l)).toBeLessThanOrEqual(100);
    expect(table.find((l) => l.includes("spoof-hyphen"))).toMatch(/^✗ spoof-hyphen/);
    expect(out).toContain("  HOLE  spoofed image trusted.example-evil/imagepolicy-lab-probe:1 admitted (201): the check matches the trusted name as a string prefix, without a component boundary (prefix matching)");
    expect(out).toContain("refusals came from: ImagePolicyWebhook (9)");
    expect(lines.at(-1)).toBe("probe: 14 cases: 13 as expected, 1 hole in 1.0s → exit 1 (a hole or a refused trusted image)");
    expect(out).not.toContain("\x1b[");
  });

  it("JUnit: well-formed, a failure per hole with the finding as its message, counts that add up", () => {
    const root = parseXml(renderProbeJUnit(prefixHole));
    expect(root.attrs).toMatchObject({ tests: "14", failures: "1", errors: "0" });
    const suite = root.children[0]!;
    expect(suite.attrs).toMatchObject({ name: "probe apps", tests: "14", failures: "1" });
    const hole = suite.children.find((c) => c.attrs.name?.startsWith("spoof-hyphen"))!;
    expect(hole.attrs.classname).toBe("probe.apps.spoofing");
    expect(hole.children[0]).toMatchObject({ name: "failure", attrs: { type: "hole", message: expect.stringContaining("spoofed image trusted.example-evil/imagepolicy-lab-probe:1 admitted (201)") } });
    expect(hole.children[0]!.text).toContain("expected: refused: another host that starts with");
  });

  it("JUnit: a probe that could not run is one errored setup case, never an empty green suite", () => {
    const r = { ...report([]), cannotRun: "cannot reach the cluster at https://10.0.0.1:6443 (context \"ci\"): fetch failed: connect ECONNREFUSED 10.0.0.1:6443", exitCode: 2 as const };
    const suite = parseXml(renderProbeJUnit(r)).children[0]!;
    expect(suite.attrs).toMatchObject({ tests: "1", errors: "1" });
    expect(suite.children.find((c) => c.name === "testcase")!.children[0]!.attrs.message).toContain("ECONNREFUSED");
  });

  it("HTML: messages are escaped, the page loads nothing", () => {
    const evil = report(answered((id, image) => (id === "untrusted" ? { refused: 403, message: 'admission webhook "w" denied the request: <script>alert(1)</script>' } : enforcingIpw(id, image))));
    const html = renderProbeHtml(evil);
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain(`content="default-src 'none'`);
    expect(html).toContain('<details id="case-untrusted"');
  });

  it("JSON: the report as produced, schema version first", () => {
    const doc = JSON.parse(renderProbeJson(prefixHole)) as Record<string, unknown>;
    expect(Object.keys(doc)[0]).toBe("schemaVersion");
    expect(doc).toMatchObject({ schemaVersion: 1, exitCode: 1, totals: { holes: 1 } });
  });
});
