import { Agent } from "node:https";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { FaultState, formatFault, MALFORMED_BODY, parseFault, type Fault } from "./faults.ts";
import { trustPolicy } from "./policy.ts";
import { startStub, type StartedStub } from "./server.ts";
import { createTestPki, reviewBody, send, sendError, type TestPki } from "./test-support.ts";

describe("parseFault", () => {
  it.each([
    ["healthy", { kind: "healthy" }],
    ["refuse", { kind: "refuse" }],
    ["status:500", { kind: "status", code: 500 }],
    ["status:404", { kind: "status", code: 404 }],
    ["status:429:retry-after:2", { kind: "status", code: 429, retryAfterSeconds: 2 }],
    ["status:503:retry-after:0", { kind: "status", code: 503, retryAfterSeconds: 0 }],
    ["delay:1500", { kind: "delay", ms: 1500 }],
    ["hang", { kind: "hang" }],
    ["reset", { kind: "reset" }],
    ["malformed", { kind: "malformed" }],
    ["content-type", { kind: "content-type" }],
    ["empty", { kind: "empty" }],
    ["bad-cert", { kind: "bad-cert" }],
    [" hang ", { kind: "hang" }],
    ["first:2:status:500", { kind: "first", count: 2, then: { kind: "status", code: 500 } }],
    ["first:1:status:429:retry-after:1", { kind: "first", count: 1, then: { kind: "status", code: 429, retryAfterSeconds: 1 } }],
    ["first:3:hang", { kind: "first", count: 3, then: { kind: "hang" } }],
  ] as [string, Fault][])("%s", (spec, fault) => {
    expect(parseFault(spec)).toEqual(fault);
    expect(parseFault(formatFault(fault))).toEqual(fault);
  });

  it.each([
    ["x", /unknown fault "x"; expected one of healthy, refuse, status:CODE, status:CODE:retry-after:SECONDS, delay:MS, hang, reset, malformed, content-type, empty, bad-cert, first:N:SPEC/],
    ["", /unknown fault ""/],
    ["HANG", /unknown fault "HANG"/],
    ["status", /expected "status:CODE"/],
    ["status:200", /status CODE must be an integer from 400 to 599, got "200"/],
    ["status:600", /from 400 to 599/],
    ["status:5xx", /got "5xx"/],
    ["status:429:retry:1", /status:CODE:retry-after:SECONDS/],
    ["status:429:retry-after:-1", /retry-after SECONDS must be an integer/],
    ["delay", /expected "delay:MS"/],
    ["delay:1.5", /delay MS must be an integer from 0 to 600000/],
    ["delay:600001", /from 0 to 600000/],
    ["first:0:hang", /first N must be an integer from 1/],
    ["first:2", /expected "first:N:SPEC"/],
    ["first:2:refuse", /cannot wrap "refuse"/],
    ["first:2:bad-cert", /cannot wrap "bad-cert"/],
    ["first:2:first:1:hang", /cannot wrap "first:1:hang"/],
    ["first:2:nope", /unknown fault "nope"/],
  ])("refuses %j", (spec, message) => {
    let err: unknown;
    try {
      parseFault(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
  });

  it("FaultState counts down first:N and then reads healthy", () => {
    const s = new FaultState();
    s.set(parseFault("first:2:status:500"));
    expect(formatFault(s.current)).toBe("first:2:status:500");
    expect(formatFault(s.take())).toBe("status:500");
    expect(formatFault(s.current)).toBe("first:1:status:500");
    expect(formatFault(s.take())).toBe("status:500");
    expect(formatFault(s.take())).toBe("healthy");
    expect(formatFault(s.current)).toBe("healthy");
  });
});

describe("faults against the real server", () => {
  const TOKEN = "fault-token";
  let pki: TestPki;
  let stub: StartedStub;
  const body = reviewBody(["trusted.example/app:1"]);
  const post = (extra: Partial<Parameters<typeof send>[1]> = {}) => send(stub.reviewUrl, { caPem: pki.caPem, body, ...extra });
  const postError = (extra: Partial<Parameters<typeof send>[1]> = {}) => sendError(stub.reviewUrl, { caPem: pki.caPem, body, ...extra });

  beforeAll(async () => {
    pki = await createTestPki();
    stub = await startStub({
      tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem },
      controlToken: TOKEN,
      policy: trustPolicy(["trusted.example"]),
    });
  });
  afterAll(() => stub?.stop());
  afterEach(() => stub.control.setFault("healthy"));

  const lastEntry = async () => (await stub.control.journal()).entries.at(-1)!;

  it("status:CODE answers that code with a short text body", async () => {
    for (const code of [400, 403, 404, 429, 500, 502, 503, 504]) {
      await stub.control.setFault(`status:${code}`);
      const r = await post();
      expect(r.status).toBe(code);
      expect(r.headers["content-type"]).toMatch(/^text\/plain/);
      expect(r.body).toBe(`imagepolicy-lab stub: fault status:${code}\n`);
      expect(r.headers["retry-after"]).toBeUndefined();
    }
    expect(await lastEntry()).toMatchObject({ outcome: "fault", fault: "status:504", status: 504, images: ["trusted.example/app:1"] });
  });

  it("status:429:retry-after:SECONDS adds Retry-After", async () => {
    await stub.control.setFault("status:429:retry-after:3");
    const r = await post();
    expect(r.status).toBe(429);
    expect(r.headers["retry-after"]).toBe("3");
  });

  it("delay:MS answers normally after the delay", async () => {
    await stub.control.setFault("delay:150");
    const t0 = performance.now();
    const r = await post();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(145);
    expect(JSON.parse(r.body).status).toEqual({ allowed: true });
    expect(await lastEntry()).toMatchObject({ outcome: "allowed", fault: "delay:150", status: 200 });
    expect((await lastEntry()).latencyMs).toBeGreaterThanOrEqual(145);
  });

  it("hang never answers and keeps the connection open until the client gives up", async () => {
    await stub.control.setFault("hang");
    const t0 = performance.now();
    const err = await postError({ timeoutMs: 300 });
    expect(err.code).toBe("CLIENT_TIMEOUT");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(295);
    // The server notices the client leaving and completes the journal entry.
    await vi.waitFor(async () => expect((await lastEntry()).latencyMs).toBeGreaterThanOrEqual(295), { timeout: 2_000, interval: 10 });
    expect(await lastEntry()).toMatchObject({ outcome: "fault", fault: "hang", status: 0 });
  });

  it("stop() closes hanging connections", async () => {
    await using s = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, fault: "hang" });
    const pending = sendError(s.reviewUrl, { caPem: pki.caPem, body, timeoutMs: 10_000 });
    await vi.waitFor(async () => expect((await s.control.status()).lastSeq).toBe(1), { timeout: 2_000, interval: 5 });
    const t0 = performance.now();
    await s.stop();
    const err = await pending;
    expect(err.code).toMatch(/ECONNRESET/);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it("reset destroys the connection without an answer", async () => {
    await stub.control.setFault("reset");
    const err = await postError();
    // "read ECONNRESET" is an RST; a FIN would read "socket hang up".
    expect(err.message).toMatch(/^(read|write) ECONNRESET$/);
    expect(await lastEntry()).toMatchObject({ outcome: "fault", fault: "reset", status: 0 });
  });

  it("malformed answers 200 with invalid JSON labelled application/json", async () => {
    await stub.control.setFault("malformed");
    const r = await post();
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.body).toBe(MALFORMED_BODY);
    expect(() => JSON.parse(r.body)).toThrow();
  });

  it("content-type answers the real verdict as text/plain", async () => {
    await stub.control.setFault("content-type");
    const r = await post({ body: reviewBody(["evil.io/x:1"]) });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    expect(JSON.parse(r.body)).toMatchObject({ kind: "ImageReview", status: { allowed: false, reason: expect.stringContaining("evil.io/x:1") } });
    expect(await lastEntry()).toMatchObject({ outcome: "fault", fault: "content-type", status: 200, reason: expect.stringContaining("evil.io") });
  });

  it("empty answers 200 {}", async () => {
    await stub.control.setFault("empty");
    const r = await post();
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.body).toBe("{}");
  });

  it("first:N:SPEC applies to the next N requests only", async () => {
    await stub.control.setFault("first:2:status:503");
    expect((await post()).status).toBe(503);
    expect((await stub.control.status()).fault).toBe("first:1:status:503");
    expect((await post()).status).toBe(503);
    expect((await post()).status).toBe(200);
    expect((await stub.control.status()).fault).toBe("healthy");
    const { entries } = await stub.control.journal();
    expect(entries.slice(-3).map((e) => e.fault)).toEqual(["status:503", "status:503", undefined]);
  });

  it("refuse closes the listener and open keep-alive connections, and heal re-listens on the same port", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await post({ agent });
      expect(first.status).toBe(200);
      const closed = new Promise((resolve) => first.socket.once("close", resolve));
      await stub.control.setFault("refuse");
      await closed;
      expect((await stub.control.status()).reviewListening).toBe(false);
      expect((await postError()).code).toBe("ECONNREFUSED");
      expect((await postError({ agent })).code).toBe("ECONNREFUSED");
      // Refusing twice is fine.
      await stub.control.setFault("refuse");
      await stub.control.setFault("healthy");
      expect((await stub.control.status()).reviewListening).toBe(true);
      expect((await post({ agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it("bad-cert serves an untrusted certificate until healed", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await post({ agent });
      const closed = new Promise((resolve) => before.socket.once("close", resolve));
      await stub.control.setFault("bad-cert");
      await closed; // existing connections were made with the good certificate; they are dropped
      const err = await postError({ agent });
      expect(err.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/);
      await stub.control.setFault("healthy");
      expect((await post({ agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  it("bad-cert keeps the good certificate's names, so only the CA differs", async () => {
    await stub.control.setFault("bad-cert");
    const err = await postError({ caPem: pki.caPem });
    expect(err.message).not.toMatch(/altnames|hostname/i);
  });

  it("stop() racing a heal leaves nothing listening", async () => {
    const s = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, fault: "refuse" });
    await Promise.all([s.control.setFault("healthy"), s.stop()]);
    expect((await sendError(s.reviewUrl, { caPem: pki.caPem, body })).code).toBe("ECONNREFUSED");
  });

  it("an initial refuse fault starts with the review port closed", async () => {
    await using s = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, fault: "refuse" });
    expect((await sendError(s.reviewUrl, { caPem: pki.caPem, body })).code).toBe("ECONNREFUSED");
    await s.control.setFault("healthy");
    expect((await send(s.reviewUrl, { caPem: pki.caPem, body })).status).toBe(200);
  });
});
