// From classified answers to verdicts, findings in plain words, and the exit code. A finding states
// what was sent, what came back (the received code and message) and, where the evidence allows, why:
// "untrusted image … admitted: the ImagePolicyWebhook backend fails open (…)". Where it does not
// allow it, the finding says what cannot be told apart instead of guessing.
import { NOT_OBSERVED } from "../scenario/result.ts";
import { mechanismText, rbacFacts } from "./classify.ts";
import type { Answer, CaseResult, CaseVerdict, Finding, MetricsEvidence, ProbeCase, ProbeTotals } from "./model.ts";

/** A case with its request sent and its answer classified, before the verdict. */
export type AnsweredCase = Omit<CaseResult, "verdict" | "observed">;

const codeText = (c: AnsweredCase) => (c.response ? String(c.response.code ?? NOT_OBSERVED) : "no answer");
const img = (c: ProbeCase) => (c.group === "init-container" ? c.initImages![0]! : c.images[0]!);

/** One line of what came back, in words, with the received code and text. */
export function observedText(c: AnsweredCase): string {
  const a = c.answer;
  const code = codeText(c);
  switch (a.outcome) {
    case "admitted":
      return `admitted (${code})${a.warnings.length ? ` with warning: ${a.warnings.join("; ")}` : ""}`;
    case "refused":
      return `refused (${code}) by ${mechanismText(a.by)}: ${a.reason}`;
    case "no-response":
      return `no answer: ${a.detail}`;
    case "not-a-denial":
      switch (a.cause) {
        case "rbac":
          return `forbidden by RBAC (${code}): ${a.detail}`;
        case "namespace-missing":
          return `${code}: ${a.detail}`;
        case "pod-unreadable":
          return a.detail;
        case "dry-run-unsupported":
          return `refused (${code}): ${a.detail}`;
        case "backend-error":
          return `refused (${code}), not by a verdict: ${a.by ? mechanismText(a.by) : "the backend"} could not be asked: ${a.detail}`;
        case "policy-error":
          return `refused (${code}), not by a verdict: ${a.by ? mechanismText(a.by) : "a policy"} could not evaluate: ${a.detail}`;
        case "unrelated":
          return `not admitted (${code})${a.by ? ` by ${mechanismText(a.by)}` : ""}, for a reason other than images: ${a.detail}`;
      }
  }
}

/** A refusal that keeps the image out: a verdict, or a failure under a fail-closed mechanism. */
function keptOut(a: Answer): boolean {
  return a.outcome === "refused" || (a.outcome === "not-a-denial" && (a.cause === "backend-error" || a.cause === "policy-error"));
}

function verdictOf(c: AnsweredCase, untrustedPod: CaseVerdict | undefined): CaseVerdict {
  const a = c.answer;
  if (c.expect === "admitted") {
    if (a.outcome === "admitted") return "as-expected";
    return keptOut(a) ? "trusted-refused" : "inconclusive";
  }
  if (keptOut(a)) return "as-expected";
  if (a.outcome !== "admitted") return "inconclusive";
  if (c.expect === "refused") return "hole";
  // A workload accepted at create: its pods meet the same admission as the untrusted Pod did.
  if (untrustedPod === "as-expected") return "as-expected";
  return untrustedPod === "hole" ? "hole" : "inconclusive";
}

/** Verdicts and observed lines for every case (workloads are judged with the untrusted Pod's verdict). */
export function judgeCases(answered: AnsweredCase[]): CaseResult[] {
  const untrusted = answered.find((c) => c.id === "untrusted");
  const untrustedVerdict = untrusted ? verdictOf(untrusted, undefined) : undefined;
  return answered.map((c) => {
    const verdict = verdictOf(c, untrustedVerdict);
    let observed = observedText(c);
    if (c.group === "workload" && c.answer.outcome === "admitted") {
      observed += untrustedVerdict === "as-expected" ? "; its pods will be refused when the controller creates them, as the untrusted Pod was" : untrustedVerdict === "hole" ? "; its pods would be admitted, as the untrusted Pod was" : "";
    }
    return { ...c, verdict, observed };
  });
}

export function probeTotals(cases: CaseResult[]): ProbeTotals {
  const n = (v: CaseVerdict) => cases.filter((c) => c.verdict === v).length;
  return { cases: cases.length, asExpected: n("as-expected"), holes: n("hole"), trustedRefused: n("trusted-refused"), inconclusive: n("inconclusive") };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Why everything was admitted, as far as the apiserver's counters tell. */
function admittedBecause(metrics: MetricsEvidence): { failsOpen: boolean; text: string } {
  if (!metrics.readable) {
    return {
      failsOpen: false,
      text:
        "from the answers alone this looks exactly like a mechanism that fails open with its backend down (ImagePolicyWebhook with defaultAllow: true, a webhook with failurePolicy: Ignore); " +
        `the apiserver's /metrics would tell them apart but could not be read (${metrics.reason})`,
    };
  }
  const failOpen = Object.entries(metrics.webhookFailOpen);
  if (failOpen.length) {
    const list = failOpen.map(([name, n]) => `admission webhook "${name}" failed ${plural(n, "time")}`).join(", ");
    return { failsOpen: true, text: `the backend fails open: during the probe ${list} and the apiserver admitted anyway (failurePolicy: Ignore; apiserver_admission_webhook_fail_open_count)` };
  }
  const failed = metrics.outgoingPosts.filter((p) => p.code === "<error>" || /^[45]\d\d$/.test(p.code));
  const answered = metrics.outgoingPosts.filter((p) => /^2\d\d$/.test(p.code));
  const calls = (ps: typeof failed) => ps.map((p) => `${plural(p.count, "call")} to ${p.host} ${p.code === "<error>" ? "got no answer (code <error>)" : `answered ${p.code}`}`).join(", ");
  if (metrics.imagePolicyWebhookEnabled && failed.length) {
    return { failsOpen: true, text: `the ImagePolicyWebhook backend fails open: during the probe ${calls(failed)} (rest_client_requests_total), and the pods were admitted anyway (defaultAllow: true)` };
  }
  if (metrics.imagePolicyWebhookEnabled) {
    const backend = answered.length ? `its backend answered (${calls(answered)})` : "its backend answered without a failure";
    return { failsOpen: false, text: `ImagePolicyWebhook is enabled and ${backend}: the backend's policy admits every image` };
  }
  return { failsOpen: false, text: "the apiserver's metrics show no ImagePolicyWebhook and no webhook failing open: nothing restricts images here" };
}

const SPOOF_EXPLANATION: Record<NonNullable<ProbeCase["spoof"]>, string> = {
  "suffix-domain": "the check matches the trusted name as a string prefix, without the \"/\" that ends a registry (prefix matching)",
  hyphen: "the check matches the trusted name as a string prefix, without a component boundary (prefix matching)",
  port: "the same host on another port is another registry; the check ignores the port or matches by prefix",
  path: "the trusted name appears only in the path; the check finds it anywhere in the string (substring matching)",
};

/** The findings, most serious first: holes, refused trusted images, what kept the probe from asking, notes. */
export function findingsFor(cases: CaseResult[], metrics: MetricsEvidence, namespace: string): Finding[] {
  const holes: Finding[] = [];
  const problems: Finding[] = [];
  const cannot: Finding[] = [];
  const notes: Finding[] = [];
  const byId = new Map(cases.map((c) => [c.id, c]));
  const untrusted = byId.get("untrusted");
  const definite = cases.filter((c) => c.answer.outcome === "admitted" || keptOut(c.answer));
  const nothingRefused = definite.length > 0 && definite.every((c) => c.answer.outcome === "admitted");

  if (untrusted?.verdict === "hole") {
    const because = admittedBecause(metrics);
    const admittedIds = cases.filter((c) => c.verdict === "hole").map((c) => c.id);
    if (nothingRefused && !because.failsOpen) {
      const trusted = cases.find((c) => c.group === "trusted" && c.answer.outcome === "admitted");
      holes.push({
        severity: "hole",
        text:
          `no enforcement: every image was admitted in namespace "${namespace}"${trusted ? `, trusted (${img(trusted)}) and untrusted (${img(untrusted)}) alike,` : ""} and nothing refused a single request (${plural(admittedIds.length, "untrusted case")}); ` +
          because.text,
        cases: admittedIds,
      });
    } else {
      holes.push({ severity: "hole", text: `untrusted image ${img(untrusted)} admitted (${codeText(untrusted)}): ${because.failsOpen ? because.text : "it is not on the trust list, and nothing refused it"}`, cases: admittedIds });
    }
  } else {
    // The plain untrusted image is kept out: every other admitted image is a hole of its own kind.
    for (const c of cases.filter((x) => x.verdict === "hole")) {
      const image = img(c);
      if (c.group === "spoofing") holes.push({ severity: "hole", text: `spoofed image ${image} admitted (${codeText(c)}): ${SPOOF_EXPLANATION[c.spoof!]}`, cases: [c.id] });
      else if (c.group === "docker-hub") holes.push({ severity: "hole", text: `Docker Hub name ${image} admitted (${codeText(c)}), though ${c.why.replace(/^"[^"]*" means /, "it means ")}: the check does not read short names the way the container runtime does`, cases: [c.id] });
      else if (c.group === "init-container") holes.push({ severity: "hole", text: `untrusted init container ${image} beside a trusted container admitted (${codeText(c)}): init containers are not checked`, cases: [c.id] });
      else if (c.group === "ephemeral") holes.push({ severity: "hole", text: `untrusted ephemeral container ${image} admitted (${codeText(c)}) on pod ${c.request.pod}: pods/ephemeralcontainers is not checked, so \`kubectl debug\` runs any image`, cases: [c.id] });
      else holes.push({ severity: "hole", text: `${c.title}: ${c.observed}`, cases: [c.id] });
    }
  }

  for (const c of cases.filter((x) => x.verdict === "trusted-refused")) {
    const a = c.answer;
    const what = c.group === "ephemeral" ? `ephemeral container with your trusted image ${img(c)}` : `trusted image ${img(c)}`;
    if (a.outcome === "not-a-denial" && a.cause === "backend-error") {
      problems.push({ severity: "problem", text: `${what} refused (${codeText(c)}): ${a.by ? mechanismText(a.by) : "the backend"} cannot be asked and fails closed, so every pod is refused: ${a.detail}`, cases: [c.id] });
    } else problems.push({ severity: "problem", text: `${what} refused: ${c.observed}`, cases: [c.id] });
  }

  // What kept the probe from asking, grouped so one missing permission is one line.
  const inconclusive = cases.filter((c) => c.verdict === "inconclusive" && !(c.group === "workload" && c.answer.outcome === "admitted"));
  const groups = new Map<string, CaseResult[]>();
  for (const c of inconclusive) {
    const a = c.answer;
    const k = a.outcome === "not-a-denial" && a.cause === "rbac" ? `rbac ${JSON.stringify(rbacFacts(a.detail))}` : a.outcome === "not-a-denial" ? `${a.cause} ${a.by ? mechanismText(a.by) : ""}` : a.outcome;
    groups.set(k, [...(groups.get(k) ?? []), c]);
  }
  for (const [, cs] of groups) {
    const c = cs[0]!;
    const a = c.answer;
    const ids = cs.map((x) => x.id);
    const n = cs.length > 1 ? ` (${cs.length} cases)` : "";
    if (a.outcome === "not-a-denial" && a.cause === "rbac") {
      cannot.push({ severity: "cannot-run", text: `RBAC forbids the probe${n}: ${codeText(c)} ${a.detail}; grant the Role in README "Check a cluster in CI"`, cases: ids });
    } else if (a.outcome === "not-a-denial" && a.cause === "namespace-missing") {
      cannot.push({ severity: "cannot-run", text: `namespace "${namespace}" does not exist (${codeText(c)} ${a.detail}); choose one with --namespace`, cases: ids });
    } else if (a.outcome === "not-a-denial" && a.cause === "pod-unreadable") {
      cannot.push({ severity: "cannot-run", text: `--pod ${c.request.pod}: ${a.detail}; the ephemeral-container cases need an existing pod in namespace "${namespace}"`, cases: ids });
    } else if (a.outcome === "not-a-denial" && a.cause === "dry-run-unsupported") {
      cannot.push({ severity: "cannot-run", text: `${a.by ? mechanismText(a.by) : "a webhook"} does not support dry run (${codeText(c)}): it refuses every server-side dry run, whatever the image, so the probe cannot see its verdicts; set its sideEffects to None or NoneOnDryRun${n}`, cases: ids });
    } else if (a.outcome === "no-response") {
      cannot.push({ severity: "cannot-run", text: `no answer to the probe's ${c.kind}${n}: ${a.detail}`, cases: ids });
    } else {
      cannot.push({ severity: "cannot-run", text: `${c.title}: ${c.observed}${n}: this says nothing about the image policy`, cases: ids });
    }
  }

  for (const c of cases.filter((x) => x.group === "workload")) {
    if (c.answer.outcome === "admitted" && c.verdict === "as-expected") {
      const where = c.kind === "Deployment" ? "FailedCreate events on its ReplicaSet" : "FailedCreate events on the Job";
      notes.push({ severity: "note", text: `${c.kind} with an untrusted image accepted (${codeText(c)}): its pods will be refused later (${where}), not at apply`, cases: [c.id] });
    } else if (c.answer.outcome === "refused") {
      notes.push({ severity: "note", text: `${c.kind} with an untrusted image refused at create (${codeText(c)}) by ${mechanismText(c.answer.by)}`, cases: [c.id] });
    }
  }
  // One note per distinct warning: a policy in Warn mode says the same thing for every image.
  const warned = new Map<string, CaseResult[]>();
  for (const c of cases) {
    if (c.answer.outcome === "admitted" && c.answer.warnings.length && c.expect !== "admitted") {
      const k = c.answer.warnings.join("; ");
      warned.set(k, [...(warned.get(k) ?? []), c]);
    }
  }
  for (const [warning, cs] of warned) {
    const more = cs.length > 1 ? ` and ${plural(cs.length - 1, "more untrusted case")}` : "";
    notes.push({ severity: "note", text: `${img(cs[0]!)}${more} admitted with a warning only (${warning}): a policy in Warn or Audit mode does not enforce`, cases: cs.map((c) => c.id) });
  }
  return [...holes, ...problems, ...cannot, ...notes];
}

/** 1 when a hole or a refused trusted image was found, else 2 when something could not be asked, else 0. */
export function exitCodeFor(findings: Finding[], cannotRun: string | undefined): 0 | 1 | 2 {
  if (findings.some((f) => f.severity === "hole" || f.severity === "problem")) return 1;
  if (cannotRun !== undefined || findings.some((f) => f.severity === "cannot-run")) return 2;
  return 0;
}
