import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { fixtureReport } from "./fixtures.ts";
import { totals } from "../scenario/result.ts";
import { renderJUnit } from "./junit.ts";
import { findAll, parseXml } from "./xml-check.ts";
import { xmlAttr, xmlText } from "./xml.ts";

const hasXmllint = spawnSync("xmllint", ["--version"]).status === 0;

describe("renderJUnit", () => {
  const report = fixtureReport();
  const xml = renderJUnit(report);
  const root = parseXml(xml);
  const cases = findAll(root, "testcase");

  it("is well-formed XML", () => {
    expect(root.name).toBe("testsuites");
  });

  it.skipIf(!hasXmllint)("passes xmllint", () => {
    const r = spawnSync("xmllint", ["--noout", "-"], { input: xml, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("counts match the report totals, overall and summed over suites", () => {
    const t = report.totals;
    expect(root.attrs).toMatchObject({ tests: "4", failures: String(t.fail), errors: String(t.error), skipped: String(t.skipped) });
    const suites = findAll(root, "testsuite");
    expect(suites).toHaveLength(2); // one per profile
    const sum = (k: string) => suites.reduce((a, s) => a + Number(s.attrs[k]), 0);
    expect([sum("tests"), sum("failures"), sum("errors"), sum("skipped")]).toEqual([4, t.fail, t.error, t.skipped]);
    expect(findAll(root, "failure")).toHaveLength(t.fail);
    expect(findAll(root, "error")).toHaveLength(t.error);
    expect(findAll(root, "skipped")).toHaveLength(t.skipped);
  });

  it("names each case after its scenario, with provider and profile in the classname and time in seconds", () => {
    expect(cases.map((c) => c.attrs.name)).toEqual(expect.arrayContaining(report.scenarios.map((s) => s.name)));
    const pass = cases.find((c) => c.attrs.name === "deny-latest-tag")!;
    expect(pass.attrs.classname).toBe("kind.defaultAllow=false,allowTTL=50,denyTTL=50,retryBackoff=500");
    expect(pass.attrs.time).toBe("1.234");
    expect(pass.attrs.file).toBe("scenarios/deny-latest-tag.yaml");
  });

  it("puts each failing check's expected and observed, and the backend evidence, in <failure>", () => {
    const failure = findAll(root, "failure")[0]!;
    expect(failure.attrs.message).toBe("step 2 backend calls: expected 0, observed 1");
    expect(failure.attrs.type).toBe("backend calls");
    expect(failure.text).toContain("FAIL backend calls: expected 0; observed 1");
    expect(failure.text).toContain("FAIL message: expected contains <cached>; observed <script>");
    expect(failure.text).toContain("review #8 POST /review?timeout=30s images [registry.local/app:1.0]");
    expect(failure.text).toContain("fault first:1:delay:50");
  });

  it("keeps markup and unicode as text but drops characters XML 1.0 cannot hold", () => {
    const failure = findAll(root, "failure")[0]!;
    expect(failure.text).toContain(`<script>alert("x")</script> & ]]> [31mred[0m`);
    expect(failure.text).toContain("tab\there 镜像 🚀 e\u0301  end");
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(xml).not.toContain("]]>");
  });

  it("reports errors, skips and the step log", () => {
    const err = findAll(root, "error")[0]!;
    expect(err.attrs.message).toContain("ECONNREFUSED");
    expect(err.attrs.message).toContain("\n    at TCPConnectWrap"); // newline kept through &#10;
    expect(err.text).toContain("fault hang");
    expect(findAll(root, "skipped")[0]!.attrs.message).toBe("the process provider cannot show auditLog");
    const out = findAll(root, "system-out");
    expect(out).toHaveLength(4);
    expect(out[0]!.text).toContain("step 1: create pod p0 [nginx:latest] (createPod) — pass");
  });

  it("records run facts as suite properties", () => {
    const props = Object.fromEntries(findAll(findAll(root, "testsuite")[0]!, "property").map((p) => [p.attrs.name, p.attrs.value]));
    expect(props).toMatchObject({ provider: "kind", k8sVersion: "v1.33.1", allowTTL: "50", defaultAllow: "false" });
  });

  it("turns a lab error into one errored case so the run cannot look green", () => {
    const r = parseXml(renderJUnit(fixtureReport({ scenarios: [], totals: { pass: 0, fail: 0, error: 0, skipped: 0 }, labError: "failed to start kube-apiserver: exit 1 <stderr>" })));
    expect(r.attrs).toMatchObject({ tests: "1", errors: "1", failures: "0" });
    expect(findAll(r, "error")[0]!.attrs.message).toBe("failed to start kube-apiserver: exit 1 <stderr>");
  });
});

describe("renderJUnit: skipped scenarios", () => {
  // Two passes and two skips: a dashboard computes passes as tests - failures - errors - skipped.
  const base = fixtureReport();
  const [pass, , , skipped] = base.scenarios;
  const scenarios = [pass!, skipped!, { ...pass!, name: "second-pass" }, { ...skipped!, name: "second-skip", reason: "needs the stub backend" }];
  const root = parseXml(renderJUnit(fixtureReport({ scenarios, totals: totals(scenarios) })));

  it("puts <skipped/> with the reason in every skipped case, and nothing that could read as a pass", () => {
    const cases = findAll(root, "testcase");
    const outcome = (c: (typeof cases)[number]) => c.children.filter((k) => k.name !== "system-out").map((k) => k.name);
    expect(Object.fromEntries(cases.map((c) => [c.attrs.name, outcome(c)]))).toEqual({
      [pass!.name]: [],
      "second-pass": [],
      [skipped!.name]: ["skipped"],
      "second-skip": ["skipped"],
    });
    expect(findAll(root, "skipped").map((k) => k.attrs.message)).toEqual(["the process provider cannot show auditLog", "needs the stub backend"]);
  });

  it("counts skipped cases as skipped, so they are not counted as passed", () => {
    const { tests, failures, errors, skipped: skips } = root.attrs;
    expect({ tests, failures, errors, skipped: skips }).toEqual({ tests: "4", failures: "0", errors: "0", skipped: "2" });
    expect(Number(tests) - Number(failures) - Number(errors) - Number(skips)).toBe(2);
  });
});

describe("renderJUnit: a status that was not observed", () => {
  it("says 'not observed' in the evidence instead of a number", () => {
    const report = fixtureReport();
    const step = report.scenarios[1]!.steps[1]!;
    step.response = { code: undefined, allowed: true };
    step.checks.push({ what: "code", expected: "201", observed: "not observed", ok: false });
    const failure = findAll(parseXml(renderJUnit(report)), "failure")[0]!;
    expect(failure.text).toContain("response: allowed (status not observed)");
    expect(failure.text).toContain("FAIL code: expected 201; observed not observed");
    expect(failure.text).not.toMatch(/response: (undefined|20\d)/);
  });
});

describe("xml escaping", () => {
  it.each([
    ["markup", `a<b>&"c"`, "a&lt;b&gt;&amp;\"c\""],
    ["CDATA end", "]]>", "]]&gt;"],
    ["control chars", "a\u0000b\u001bc\u000bd", "abcd"],
    ["lone surrogates", "x\ud800y\udc00z", "xyz"],
    ["noncharacters", "a\ufffeb\uffffc", "abc"],
    ["astral and combining", "🚀e\u0301", "🚀e\u0301"],
    ["carriage return", "a\r\nb", "a&#13;\nb"],
  ])("text: %s", (_, input, want) => expect(xmlText(input)).toBe(want));

  it("attributes keep quotes, tabs and newlines as references", () => {
    expect(xmlAttr(`say "hi"\n\tnow`)).toBe("say &quot;hi&quot;&#10;&#9;now");
  });
});

describe("parseXml (test helper) rejects what it should", () => {
  it.each([
    ["unbalanced", "<a><b></a>"],
    ["raw ampersand", "<a>x & y</a>"],
    ["bad reference", "<a>&nbsp;</a>"],
    ["unquoted attribute", "<a x=1></a>"],
    ["raw < in attribute", '<a x="<"></a>'],
    ["control char", "<a>\u0001</a>"],
    ["CDATA end in text", "<a>]]></a>"],
    ["two roots", "<a/><b/>"],
  ])("%s", (_, xml) => expect(() => parseXml(xml)).toThrow());
});
