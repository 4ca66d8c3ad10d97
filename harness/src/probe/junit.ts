// JUnit XML of a probe: one <testsuite> for the namespace probed, one <testcase> per request. A hole
// or a refused trusted image is a <failure> whose message is the finding; what the probe could not
// ask (RBAC, PodSecurity, no dry-run support) is an <error>. A probe that could not run at all is one
// errored "probe setup" case, because a suite of zero tests would look green.
import { junitDocument, type JUnitSuite } from "../report/junit.ts";
import { xmlAttr, xmlText } from "../report/xml.ts";
import { caseEvidenceText } from "./evidence.ts";
import type { CaseResult, ProbeReport } from "./model.ts";

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);
const attrs = (a: Record<string, string | number | undefined>) =>
  Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join("");

function testcase(r: ProbeReport, c: CaseResult): string {
  const finding = r.findings.find((f) => f.cases.includes(c.id) && f.severity !== "note");
  const message = finding?.text ?? c.observed;
  const body = caseEvidenceText(c);
  const inner =
    c.verdict === "hole" || c.verdict === "trusted-refused"
      ? `<failure${attrs({ message, type: c.verdict })}>${xmlText(body)}</failure>`
      : c.verdict === "inconclusive"
        ? `<error${attrs({ message, type: "inconclusive" })}>${xmlText(body)}</error>`
        : `<system-out>${xmlText(body)}</system-out>`;
  const open = `<testcase${attrs({ name: `${c.id}: ${c.title}`, classname: `probe.${r.target.namespace}.${c.group}`, time: seconds(c.response?.durationMs ?? 0) })}>`;
  return `    ${open}\n      ${inner}\n    </testcase>`;
}

export function renderProbeJUnit(r: ProbeReport): string {
  const counts = {
    tests: r.cases.length + (r.cannotRun ? 1 : 0),
    failures: r.totals.holes + r.totals.trustedRefused,
    errors: r.totals.inconclusive + (r.cannotRun ? 1 : 0),
    skipped: 0,
  };
  const props = { server: r.target.server, context: r.target.context, namespace: r.target.namespace, k8sVersion: r.target.k8sVersion ?? "", trust: r.trust.join(","), trustedImages: r.trustedImages.join(","), toolVersion: r.tool.version, exitCode: r.exitCode };
  const setup = r.cannotRun
    ? [`    <testcase${attrs({ name: "probe setup", classname: `probe.${r.target.namespace}.setup`, time: seconds(r.durationMs) })}>`, `      <error${attrs({ message: r.cannotRun, type: "cannot-run" })}>${xmlText(r.cannotRun)}</error>`, "    </testcase>"]
    : [];
  const xml = [
    `  <testsuite${attrs({ name: `probe ${r.target.namespace}`, ...counts, time: seconds(r.durationMs), timestamp: r.startedAt })}>`,
    `    <properties>\n${Object.entries(props)
      .map(([name, value]) => `      <property${attrs({ name, value: String(value) })}/>`)
      .join("\n")}\n    </properties>`,
    ...r.cases.map((c) => testcase(r, c)),
    ...setup,
    `    <system-out>${xmlText(r.findings.map((f) => `${f.severity}: ${f.text}`).join("\n"))}</system-out>`,
    "  </testsuite>",
  ].join("\n");
  const suite: JUnitSuite = { xml, counts };
  return junitDocument({ name: "imagepolicy-lab probe", durationMs: r.durationMs, timestamp: r.startedAt }, [suite]);
}
