// Fault specs: the ways a backend can misbehave that the ImagePolicyWebhook plugin treats
// differently (behavior spec §7, §9: refused connections fail fast and are not retried, 5xx and 429
// are retried five times, hangs cost the 30 s client timeout, undecodable 2xx replies are failures,
// `{}` is a cached denial). Faults switch at runtime without restarting the stub.
//
// Grammar (FaultSpec):
//   healthy                          answer by policy
//   refuse                           close the review listener and every open connection; re-listen on the same port when healed
//   status:CODE                      reply CODE (400-599) with a short text/plain body
//   status:CODE:retry-after:SECONDS  the same plus a Retry-After header (e.g. status:429:retry-after:1)
//   delay:MS                         wait MS (0-600000) milliseconds, then answer by policy
//   hang                             never answer; keep the connection open until the client gives up
//   reset                            destroy the connection (TCP RST) after reading the request
//   malformed                        200 with a body that is not valid JSON (Content-Type application/json)
//   content-type                     200 with the policy's ImageReview (or AdmissionReview) but Content-Type text/plain
//   empty                            200 with `{}` (the ImagePolicyWebhook plugin reads a missing status as a
//                                    denial; for an AdmissionReview it is an invalid response, a call failure)
//   bad-cert                         serve a certificate from a different, untrusted CA
//   first:N:SPEC                     the next N review requests get SPEC, later ones are healthy
import { ConfigError } from "../../harness/src/util/errors.ts";
import type { FaultSpec } from "./types.ts";

export type Fault =
  | { kind: "healthy" }
  | { kind: "refuse" }
  | { kind: "status"; code: number; retryAfterSeconds?: number }
  | { kind: "delay"; ms: number }
  | { kind: "hang" }
  | { kind: "reset" }
  | { kind: "malformed" }
  | { kind: "content-type" }
  | { kind: "empty" }
  | { kind: "bad-cert" }
  | { kind: "first"; count: number; then: Fault };

/** Every fault form, as shown in parse errors and help text. */
export const FAULT_FORMS = [
  "healthy",
  "refuse",
  "status:CODE",
  "status:CODE:retry-after:SECONDS",
  "delay:MS",
  "hang",
  "reset",
  "malformed",
  "content-type",
  "empty",
  "bad-cert",
  "first:N:SPEC",
] as const;

export const MAX_DELAY_MS = 600_000;
const MAX_RETRY_AFTER_SECONDS = 86_400;

const SIMPLE = new Set(["healthy", "refuse", "hang", "reset", "malformed", "content-type", "empty", "bad-cert"]);

/** Parses a fault spec; throws ConfigError (labelled `label`, default `fault`) saying what was expected. */
export function parseFault(spec: FaultSpec, label = "fault"): Fault {
  const fail = (message: string): never => {
    throw new ConfigError([{ file: label, path: "", message }], `invalid fault "${spec}"`);
  };
  if (typeof spec !== "string") return fail(`expected a string, got ${spec === null ? "null" : typeof spec}`);
  const s = spec.trim();
  if (SIMPLE.has(s)) return { kind: s } as Fault;
  const [head, ...rest] = s.split(":");
  const int = (text: string | undefined, what: string, min: number, max: number): number => {
    const n = text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) fail(`${what} must be an integer from ${min} to ${max}, got "${text ?? ""}"`);
    return n;
  };
  switch (head) {
    case "status": {
      if (rest.length !== 1 && !(rest.length === 3 && rest[1] === "retry-after")) {
        return fail('expected "status:CODE" or "status:CODE:retry-after:SECONDS"');
      }
      const code = int(rest[0], "status CODE", 400, 599);
      return rest.length === 3 ? { kind: "status", code, retryAfterSeconds: int(rest[2], "retry-after SECONDS", 0, MAX_RETRY_AFTER_SECONDS) } : { kind: "status", code };
    }
    case "delay":
      if (rest.length !== 1) return fail('expected "delay:MS"');
      return { kind: "delay", ms: int(rest[0], "delay MS", 0, MAX_DELAY_MS) };
    case "first": {
      if (rest.length < 2) return fail('expected "first:N:SPEC", e.g. first:2:status:500');
      const count = int(rest[0], "first N", 1, 1_000_000);
      const then = parseFault(rest.slice(1).join(":"), label);
      if (then.kind === "first" || then.kind === "refuse" || then.kind === "bad-cert") {
        return fail(`first:N cannot wrap "${formatFault(then)}": it counts requests, and ${then.kind} acts on connections before any request arrives`);
      }
      return { kind: "first", count, then };
    }
    default:
      return fail(`unknown fault "${s}"; expected one of ${FAULT_FORMS.join(", ")}`);
  }
}

/** The canonical spec string of a fault (parseFault(formatFault(f)) deep-equals f). */
export function formatFault(f: Fault): FaultSpec {
  switch (f.kind) {
    case "status":
      return f.retryAfterSeconds === undefined ? `status:${f.code}` : `status:${f.code}:retry-after:${f.retryAfterSeconds}`;
    case "delay":
      return `delay:${f.ms}`;
    case "first":
      return `first:${f.count}:${formatFault(f.then)}`;
    default:
      return f.kind;
  }
}

/**
 * The active fault and the `first:N` countdown. The server asks `take()` once per review request;
 * connection-level faults (refuse, bad-cert) are applied by the server when set.
 */
export class FaultState {
  #fault: Fault = { kind: "healthy" };
  #remaining = 0;

  set(fault: Fault): void {
    this.#fault = fault;
    this.#remaining = fault.kind === "first" ? fault.count : 0;
  }

  /** The configured fault; a `first:N` whose N requests are used up reads as healthy. */
  get current(): Fault {
    if (this.#fault.kind === "first") {
      return this.#remaining > 0 ? { ...this.#fault, count: this.#remaining } : { kind: "healthy" };
    }
    return this.#fault;
  }

  /** The fault for the next review request (consumes one `first:N` request). */
  take(): Fault {
    const f = this.#fault;
    if (f.kind !== "first") return f;
    if (this.#remaining <= 0) return { kind: "healthy" };
    this.#remaining--;
    return f.then;
  }
}

/** What a per-request fault does to one response. */
export type FaultAction =
  | { action: "answer" } // answer by policy (healthy, or a connection fault on a connection that slipped through)
  | { action: "delay"; ms: number } // then answer by policy
  | { action: "reply"; status: number; contentType: string; body: string; headers?: Record<string, string>; usesVerdict?: boolean }
  | { action: "reset" }
  | { action: "hang" };

/** A syntactically broken ImageReview: the start of a valid one, cut off. */
export const MALFORMED_BODY = '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","status":{"allowed":tr';

/**
 * Maps a per-request fault to its effect. `verdictJson` is the reply (ImageReview or AdmissionReview)
 * the policy would send; it is only called for faults that send it (content-type). `malformedBody`
 * is the cut-off reply `malformed` sends (default: an ImageReview's).
 */
export function faultAction(fault: Fault, verdictJson: () => string, malformedBody: string = MALFORMED_BODY): FaultAction {
  switch (fault.kind) {
    case "healthy":
    case "refuse":
    case "bad-cert":
    case "first":
      return { action: "answer" };
    case "delay":
      return { action: "delay", ms: fault.ms };
    case "status":
      return {
        action: "reply",
        status: fault.code,
        contentType: "text/plain; charset=utf-8",
        // text/plain so client-go quotes it in the apiserver's error (spec §7).
        body: `imagepolicy-lab stub: fault ${formatFault(fault)}\n`,
        ...(fault.retryAfterSeconds !== undefined ? { headers: { "retry-after": String(fault.retryAfterSeconds) } } : {}),
      };
    case "malformed":
      return { action: "reply", status: 200, contentType: "application/json", body: malformedBody };
    case "content-type":
      return { action: "reply", status: 200, contentType: "text/plain; charset=utf-8", body: verdictJson(), usesVerdict: true };
    case "empty":
      return { action: "reply", status: 200, contentType: "application/json", body: "{}" };
    case "reset":
      return { action: "reset" };
    case "hang":
      return { action: "hang" };
  }
}
