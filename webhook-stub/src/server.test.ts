import { Agent } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { DEFAULT_POLICY, trustPolicy } from "./policy.ts";
import { startStub, type StartedStub } from "./server.ts";
import { StubClient, StubControlError } from "./stub-client.ts";
import { createTestPki, reviewBody, send, sendError, type TestPki } from "./test-support.ts";

const TOKEN = "test-token-0123456789";
let pki: TestPki;
let stub: StartedStub;
let client: StubClient;

beforeAll(async () => {
  pki = await createTestPki();
  stub = await startStub({
    tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem },
    controlToken: TOKEN,
    policy: trustPolicy(["trusted.example"]),
    limits: { maxBodyBytes: 64 * 1024 },
  });
  client = new StubClient({ controlUrl: stub.controlUrl, token: TOKEN, caPem: pki.caPem });
});
afterAll(() => stub?.stop());

const post = (body: string | Buffer, extra: Partial<Parameters<typeof send>[1]> = {}) =>
  send(`${stub.reviewUrl}?timeout=30s`, { caPem: pki.caPem, body, ...extra });

describe("review endpoint", () => {
  it("answers an allowed review with a bare ImageReview", async () => {
    const r = await post(reviewBody(["trusted.example/app:1"]));
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", status: { allowed: true } });
  });

  it("answers a denial with the reason naming the image and rule", async () => {
    const r = await post(reviewBody(["nginx:1.25"]));
    expect(JSON.parse(r.body).status).toEqual({
      allowed: false,
      reason: 'docker.io/library/nginx:1.25 (from "nginx:1.25"): registry docker.io not in allow.registries [trusted.example]',
    });
  });

  it("keeps connections alive", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await post(reviewBody(["trusted.example/a:1"]), { agent });
      const b = await post(reviewBody(["trusted.example/b:1"]), { agent });
      expect(b.socket).toBe(a.socket);
    } finally {
      agent.destroy();
    }
  });

  it("answers /healthz on both ports without journaling it", async () => {
    const before = (await client.status()).lastSeq;
    const reviewOrigin = new URL(stub.reviewUrl).origin;
    expect((await send(`${reviewOrigin}/healthz`, { method: "GET", caPem: pki.caPem })).status).toBe(200);
    expect((await send(`${stub.controlUrl}/healthz`, { method: "GET", caPem: pki.caPem })).status).toBe(200);
    expect((await client.status()).lastSeq).toBe(before);
  });

  const j = (v: unknown) => JSON.stringify(v);
  it.each([
    ["malformed JSON", "{not json", {}, 400, /not valid JSON/],
    ["a JSON array", "[]", {}, 400, /JSON object/],
    ["wrong apiVersion", j({ apiVersion: "imagepolicy.k8s.io/v1", kind: "ImageReview", spec: {} }), {}, 400, /apiVersion must be "imagepolicy.k8s.io\/v1alpha1", got "imagepolicy.k8s.io\/v1"/],
    ["missing apiVersion", j({ kind: "ImageReview", spec: {} }), {}, 400, /apiVersion must be .* got nothing/],
    ["wrong kind", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "Pod", spec: {} }), {}, 400, /kind must be "ImageReview"/],
    ["missing spec", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview" }), {}, 400, /spec is missing/],
    ["containers not a list", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: {} } }), {}, 400, /spec.containers must be a list/],
    ["image not a string", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: [{ image: 1 }] } }), {}, 400, /containers\[0\].image must be a string/],
    ["annotation value not a string", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { annotations: { a: 1 } } }), {}, 400, /annotations must map strings/],
    ["wrong content type", reviewBody([]), { headers: { "content-type": "text/plain" } }, 415, /content type "text\/plain" not supported/],
    ["wrong method", undefined, { method: "GET" }, 405, /method GET not allowed/],
    ["wrong path", reviewBody([]), { path: "/imagepolicy" }, 404, /no review endpoint at \/imagepolicy; POST ImageReviews to \/review or AdmissionReviews to \/validate/],
    ["a body over the limit", Buffer.alloc(100 * 1024, 0x20), {}, 413, /larger than 65536 bytes/],
  ] as const)("refuses %s", async (_name, body, extra, status, message) => {
    const { path, ...rest } = extra as { path?: string };
    const url = path ? `${new URL(stub.reviewUrl).origin}${path}` : stub.reviewUrl;
    const mark = (await client.status()).lastSeq;
    const r = await send(url, { caPem: pki.caPem, ...(body !== undefined ? { body } : {}), ...rest });
    expect(r.status).toBe(status);
    expect(r.body).toMatch(message);
    const { entries, counters } = await client.journal({ since: mark });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: "invalid", status });
    expect(counters.invalid).toBeGreaterThan(0);
  });

  it("accepts a content type with parameters", async () => {
    const r = await post(reviewBody(["trusted.example/a:1"]), { headers: { "content-type": "application/json; charset=utf-8" } });
    expect(r.status).toBe(200);
  });

  it("still serves a valid review after bad input on the same connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await post("{", { agent })).status).toBe(400);
      const ok = await post(reviewBody(["trusted.example/a:1"]), { agent });
      expect(JSON.parse(ok.body).status.allowed).toBe(true);
    } finally {
      agent.destroy();
    }
  });
});

describe("journal", () => {
  it("records what the apiserver sent and what the stub answered", async () => {
    const mark = (await client.status()).lastSeq;
    await post(reviewBody(["trusted.example/a:1", "evil.io/b:2"], "team-a", { "x.image-policy.k8s.io/ticket": "42" }));
    const { entries, lastSeq } = await client.journal({ since: mark });
    expect(lastSeq).toBe(mark + 1);
    expect(entries).toEqual([
      {
        seq: mark + 1,
        review: "ImageReview",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        atMs: expect.any(Number),
        method: "POST",
        url: "/review?timeout=30s",
        images: ["trusted.example/a:1", "evil.io/b:2"],
        namespace: "team-a",
        annotations: { "x.image-policy.k8s.io/ticket": "42" },
        outcome: "denied",
        reason: "evil.io/b:2: registry evil.io not in allow.registries [trusted.example]",
        status: 200,
        latencyMs: expect.any(Number),
      },
    ]);
  });

  it("reset empties entries and counters; seq continues", async () => {
    await post(reviewBody(["trusted.example/a:1"]));
    const before = (await client.status()).lastSeq;
    await client.resetJournal();
    const empty = await client.journal();
    expect(empty).toEqual({ entries: [], counters: { requests: 0, allowed: 0, denied: 0, faults: 0, invalid: 0, dropped: 0 }, lastSeq: before, retained: { entries: 0, bytes: 0 } });
    await post(reviewBody(["trusted.example/a:1"]));
    const after = await client.journal();
    expect(after.entries.map((e) => e.seq)).toEqual([before + 1]);
    expect(after.counters).toEqual({ requests: 1, allowed: 1, denied: 0, faults: 0, invalid: 0, dropped: 0 });
  });
});

describe("control API", () => {
  it("requires the bearer token", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }] as Record<string, string>[]) {
      const r = await send(`${stub.controlUrl}/status`, { method: "GET", caPem: pki.caPem, headers });
      expect(r.status).toBe(401);
      expect(r.headers["www-authenticate"]).toMatch(/^Bearer/);
    }
    const wrong = new StubClient({ controlUrl: stub.controlUrl, token: "nope", caPem: pki.caPem });
    const err = await wrong.status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StubControlError);
    expect(err).toMatchObject({ status: 401, detail: "missing or wrong bearer token" });
  });

  it("refuses a client that does not trust the stub's CA", async () => {
    const other = await createTestPki();
    const c = new StubClient({ controlUrl: stub.controlUrl, token: TOKEN, caPem: other.caPem });
    const err = await c.status().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0 });
    expect((err as Error).message).toMatch(/certificate/i);
  });

  it("reports status, switches policy and validates it", async () => {
    const s = await client.status();
    expect(s).toMatchObject({ fault: "healthy", reviewListening: true, policy: trustPolicy(["trusted.example"]) });
    await client.setPolicy(DEFAULT_POLICY);
    expect(JSON.parse((await post(reviewBody(["registry.k8s.io/pause:3.9"]))).body).status.allowed).toBe(true);
    const bad = await client.setPolicy({ ...DEFAULT_POLICY, allowRegistries: ["a.io/b"] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).issues[0]).toMatchObject({ file: "PUT /policy", path: "allowRegistries.0" });
    expect((await client.status()).policy).toEqual(DEFAULT_POLICY);
    await client.setPolicy(trustPolicy(["trusted.example"]));
  });

  it("surfaces fault parse errors with their message", async () => {
    const err = await client.setFault("explode").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/unknown fault "explode"; expected one of healthy, refuse/);
  });

  it("answers 404, 405 and 400 for unknown routes, methods and bad JSON", async () => {
    const h = { authorization: `Bearer ${TOKEN}` };
    expect((await send(`${stub.controlUrl}/nope`, { method: "GET", caPem: pki.caPem, headers: h })).status).toBe(404);
    expect((await send(`${stub.controlUrl}/policy`, { method: "POST", caPem: pki.caPem, headers: h, body: "{}" })).status).toBe(405);
    const r = await send(`${stub.controlUrl}/fault`, { method: "PUT", caPem: pki.caPem, headers: h, body: "{" });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error).toMatch(/not valid JSON/);
    const q = await send(`${stub.controlUrl}/journal?since=-1`, { method: "GET", caPem: pki.caPem, headers: h });
    expect(q.status).toBe(400);
  });
});

describe("mTLS", () => {
  it("requires a client certificate from the configured CA", async () => {
    await using m = await startStub({
      tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem, clientCaPem: pki.caPem },
      controlToken: TOKEN,
    });
    const body = reviewBody(["registry.k8s.io/pause:3.9"]);
    expect((await send(m.reviewUrl, { caPem: pki.caPem, body, cert: pki.client })).status).toBe(200);
    const noCert = await sendError(m.reviewUrl, { caPem: pki.caPem, body });
    expect(noCert.code ?? noCert.message).toMatch(/ECONNRESET|certificate|alert/i);
    const stranger = await sendError(m.reviewUrl, { caPem: pki.caPem, body, cert: pki.strangerClient });
    expect(stranger.code ?? stranger.message).toMatch(/ECONNRESET|certificate|alert|unknown ca/i);
    // The control port authenticates by token, not by certificate.
    expect((await new StubClient({ controlUrl: m.controlUrl, token: TOKEN, caPem: pki.caPem }).status()).fault).toBe("healthy");
  });
});

describe("lifecycle", () => {
  it("stop is idempotent and closes both ports", async () => {
    const s = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN });
    await Promise.all([s.stop(), s.stop()]);
    await s.stop();
    expect((await sendError(s.reviewUrl, { caPem: pki.caPem, body: reviewBody([]) })).code).toBe("ECONNREFUSED");
    expect((await sendError(`${s.controlUrl}/healthz`, { method: "GET", caPem: pki.caPem })).code).toBe("ECONNREFUSED");
  });

  it("in-process control rejects a bad fault spec instead of throwing synchronously", async () => {
    let promise: Promise<void> | undefined;
    expect(() => {
      promise = stub.control.setFault("explode");
    }).not.toThrow();
    await expect(promise).rejects.toBeInstanceOf(ConfigError);
    expect((await stub.control.status()).fault).toBe("healthy");
  });

  it("refuses options without a token or with a bad policy or fault", async () => {
    const tls = { certPem: pki.server.certPem, keyPem: pki.server.keyPem };
    await expect(startStub({ tls, controlToken: "" })).rejects.toBeInstanceOf(ConfigError);
    await expect(startStub({ tls, controlToken: TOKEN, fault: "boom" })).rejects.toBeInstanceOf(ConfigError);
    await expect(startStub({ tls, controlToken: TOKEN, path: "review" })).rejects.toBeInstanceOf(ConfigError);
  });

  it("reports a port that is taken", async () => {
    const port = Number(new URL(stub.reviewUrl).port);
    await expect(startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, port })).rejects.toThrow(
      /failed to listen on 127.0.0.1:\d+: .*EADDRINUSE/,
    );
  });
});

describe("namespace scopes", () => {
  it("applies a namespace's own policy and fault ahead of the global ones, over the control API", async () => {
    await client.setScope("team-a", { policy: trustPolicy(["team-a.example"]), fault: "first:1:status:500" });
    const status = await client.status();
    expect(status.scopes).toEqual({ "team-a": { fault: "first:1:status:500", policy: true } });
    // The scoped fault hits only team-a, once; its policy replaces the global one there.
    expect((await post(reviewBody(["team-a.example/app:1"], "team-a"))).status).toBe(500);
    expect(JSON.parse((await post(reviewBody(["team-a.example/app:1"], "team-a"))).body).status.allowed).toBe(true);
    expect(JSON.parse((await post(reviewBody(["trusted.example/app:1"], "team-a"))).body).status.allowed).toBe(false);
    // Other namespaces keep the global policy and fault.
    expect(JSON.parse((await post(reviewBody(["trusted.example/app:1"], "team-b"))).body).status.allowed).toBe(true);
    await client.setScope("team-a", null);
    expect((await client.status()).scopes).toEqual({});
    expect(JSON.parse((await post(reviewBody(["trusted.example/app:1"], "team-a"))).body).status.allowed).toBe(true);
  });

  it("refuses connection-level faults and bad namespace names", async () => {
    await expect(client.setScope("team-a", { fault: "refuse" })).rejects.toBeInstanceOf(ConfigError);
    await expect(client.setScope("team-a", { fault: "bad-cert" })).rejects.toBeInstanceOf(ConfigError);
    await expect(client.setScope("Not_A_Namespace", { fault: "hang" })).rejects.toBeInstanceOf(ConfigError);
    expect((await client.status()).scopes).toEqual({});
  });
});
