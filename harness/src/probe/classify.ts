// Reads an apiserver answer the way a person debugging admission would: which mechanism spoke, and
// whether its "no" was a verdict about the image or something that only looks like one. Every
// pattern is the text kube-apiserver writes (measured on 1.36.1 and listed in mechanisms.md §C5,
// imagepolicy-behavior.md §7); nothing here depends on how our own lab words its reasons.
import type { Answer, MechanismId, NotADenialCause } from "./model.ts";

/** An answer as received: the status (undefined when none was observed), the Status message, Warning headers. */
export interface ReceivedAnswer {
  code: number | undefined;
  allowed: boolean;
  message?: string;
  warnings?: string[];
}

// ImagePolicyWebhook: `pods "x" is forbidden: image policy webhook backend denied one or more images: <reason>`,
// or with an empty reason `... is forbidden: one or more images rejected by webhook backend`.
const IPW_DENIED = /image policy webhook backend denied one or more images(?:: ([\s\S]*))?$/;
const IPW_EMPTY_REASON = /one or more images rejected by webhook backend/;
// Validating (or mutating) webhooks, in the dispatcher's words.
const WEBHOOK_DENIED = /admission webhook "([^"]+)" denied the request(?::\s?([\s\S]*)| without explanation)?/;
const WEBHOOK_NO_DRY_RUN = /admission webhook "([^"]+)" does not support dry run/;
const WEBHOOK_FAILED = /failed calling webhook "([^"]+)": ([\s\S]*)/;
const WEBHOOK_INVALID = /admission webhook "([^"]+)"[^:]*: received invalid webhook response: ([\s\S]*)/;
// ValidatingAdmissionPolicy: `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <message>`.
const VAP_DENIED = /ValidatingAdmissionPolicy '([^']+)' with binding '([^']+)' denied request: ([\s\S]*)/;
// A VAP that could not evaluate refuses under failurePolicy Fail with its error in place of a message.
const VAP_ERROR = /^(?:failed to configure binding|failed to configure policy|expression '[\s\S]*' resulted in error|policy '[^']*' with binding '[^']*' denied request: compilation error|compilation error)/;
// RBAC: `pods is forbidden: User "u" cannot create resource "pods" in API group "" in the namespace "ns"`.
const RBAC = /is forbidden: User "([^"]*)" cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)")?/;
const NAMESPACE_MISSING = /^namespaces "([^"]+)" not found$/;
// The client errors an ImageReview call ends in (client-go's generic texts and net/http's), which a
// fail-closed ImagePolicyWebhook puts after `is forbidden: `.
const BACKEND_ERROR = [
  /^Post "https?:\/\/[^"]*": /,
  /\bdial tcp\b/,
  /context deadline exceeded/,
  /\bx509: /,
  /\btls: /,
  /^an error on the server \(".*"\) has prevented the request from succeeding/,
  /^the server could not find the requested resource/,
  /^the server has received too many requests/,
  /^the server is currently unable to handle the request/,
  /^the server was unable to return a response in the time allotted/,
  /^the server has asked for the client to provide credentials/,
  /^the server rejected our request for an unknown reason/,
  /^the server does not allow this method on the requested resource/,
  /^Internal error occurred: /,
  /serializer for [^ ]+ doesn't exist/,
  /\bjson: cannot unmarshal\b|\bunexpected end of JSON input\b|\binvalid character\b/,
  /^couldn't get version\/kind/,
];

/** The part after `<resource> "<name>" is forbidden: ` (or the whole message when there is no such prefix). */
function afterForbidden(message: string): string {
  const m = /^[^ ]+(?: "[^"]*")? is forbidden: ([\s\S]*)$/.exec(message);
  return m ? m[1]! : message;
}

function notADenial(cause: NotADenialCause, detail: string, by?: MechanismId): Answer {
  return by ? { outcome: "not-a-denial", cause, detail, by } : { outcome: "not-a-denial", cause, detail };
}

/** Classifies one answer. A 2xx is admitted (Warning headers kept: a policy in Warn mode speaks only there). */
export function classifyAnswer(a: ReceivedAnswer): Answer {
  if (a.allowed) return { outcome: "admitted", warnings: a.warnings ?? [] };
  const message = a.message ?? "";
  const tail = afterForbidden(message);
  let m: RegExpExecArray | null;

  // Order matters: a webhook's or a policy's text can quote anything, so their own prefixes come
  // first, then RBAC (which refuses before admission runs), then the plugin's.
  if ((m = WEBHOOK_NO_DRY_RUN.exec(message))) {
    return notADenial("dry-run-unsupported", message, { kind: "webhook", name: m[1]! });
  }
  if ((m = WEBHOOK_INVALID.exec(message))) return notADenial("backend-error", m[2]!, { kind: "webhook", name: m[1]! });
  if ((m = WEBHOOK_FAILED.exec(message))) return notADenial("backend-error", m[2]!, { kind: "webhook", name: m[1]! });
  if ((m = WEBHOOK_DENIED.exec(message))) return { outcome: "refused", by: { kind: "webhook", name: m[1]! }, reason: m[2]?.trim() || "(no explanation)" };
  if ((m = VAP_DENIED.exec(message))) {
    const by: MechanismId = { kind: "vap", policy: m[1]!, binding: m[2]! };
    return VAP_ERROR.test(m[3]!) ? notADenial("policy-error", m[3]!, by) : { outcome: "refused", by, reason: m[3]! };
  }
  if (a.code === 403 && (m = RBAC.exec(message))) return notADenial("rbac", message);
  if (a.code === 404 && NAMESPACE_MISSING.test(message)) return notADenial("namespace-missing", message);
  if ((m = IPW_DENIED.exec(tail))) {
    const reason = (m[1] ?? "").trim();
    // Some builds put a backend failure after the denial prefix; it is still a failure, not a verdict.
    if (BACKEND_ERROR.some((re) => re.test(reason))) return notADenial("backend-error", reason, { kind: "imagepolicywebhook" });
    return { outcome: "refused", by: { kind: "imagepolicywebhook" }, reason: reason || "(no reason)" };
  }
  if (IPW_EMPTY_REASON.test(tail)) return { outcome: "refused", by: { kind: "imagepolicywebhook" }, reason: "(no reason)" };
  if (/violates PodSecurity/.test(message)) return notADenial("unrelated", message, { kind: "other", what: "PodSecurity" });
  if (/exceeded quota|must specify limits|must specify requests/.test(message)) return notADenial("unrelated", message, { kind: "other", what: "ResourceQuota" });
  if (/maximum (cpu|memory)|minimum (cpu|memory)|per Container|per Pod/.test(message) && a.code === 403) {
    return notADenial("unrelated", message, { kind: "other", what: "LimitRanger" });
  }
  // A fail-closed ImagePolicyWebhook answers 403 `pods "x" is forbidden: <client error>`: no plugin
  // name at all. Only pods are reviewed by it, so the resource in the prefix is checked too.
  if (a.code === 403 && /^pods(?: "[^"]*")? is forbidden: /.test(message) && BACKEND_ERROR.some((re) => re.test(tail))) {
    return notADenial("backend-error", tail, { kind: "imagepolicywebhook" });
  }
  return notADenial("unrelated", message || `HTTP ${a.code ?? "status not observed"} without a message`);
}

/** How a mechanism is named in findings: `ImagePolicyWebhook`, `validating webhook "x"`, `ValidatingAdmissionPolicy 'p' (binding 'b')`. */
export function mechanismText(m: MechanismId): string {
  switch (m.kind) {
    case "imagepolicywebhook":
      return "ImagePolicyWebhook";
    case "webhook":
      return `admission webhook "${m.name}"`;
    case "vap":
      return `ValidatingAdmissionPolicy '${m.policy}' (binding '${m.binding}')`;
    case "other":
      return m.what;
  }
}

/** The RBAC facts of a refusal message, for a finding that says what to grant. */
export function rbacFacts(message: string): { user: string; verb: string; resource: string; namespace?: string } | undefined {
  const m = RBAC.exec(message);
  return m ? { user: m[1]!, verb: m[2]!, resource: m[3]!, namespace: m[5] } : undefined;
}
