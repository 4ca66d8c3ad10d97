// Property tests: whatever arrives, the stub answers with a status, quickly, and keeps serving.
import { Agent } from "node:https";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "./reference.ts";
import { trustPolicy } from "./policy.ts";
import { startStub, type StartedStub } from "./server.ts";
import { createTestPki, reviewBody, send, type TestPki } from "./test-support.ts";

const MAX_BODY = 16 * 1024;
const ANSWER_BUDGET_MS = 2_000;
let pki: TestPki;
let stub: StartedStub;
let agent: Agent;

beforeAll(async () => {
  pki = await createTestPki();
  stub = await startStub({
    tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem },
    controlToken: "fuzz",
    policy: {
      ...trustPolicy(["trusted.example"]),
      denyPatterns: ["**:debug"],
      denyLatest: true,
      breakGlass: { annotation: "x.image-policy.k8s.io/break-glass", auditAnnotation: "break-glass" },
    },
    limits: { maxBodyBytes: MAX_BODY },
  });
  agent = new Agent({ keepAlive: true, maxSockets: 4 });
});
afterAll(async () => {
  agent?.destroy();
  await stub?.stop();
});

const imageLike = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9.:/@_+-]{0,60}$/),
  fc.constantFrom("nginx", "trusted.example/a:1", "trusted.example/a:debug", `x@sha256:${"a".repeat(64)}`, "", "trusted.example.evil/x"),
  fc.string(),
);

const reviewish = fc
  .record(
    {
      apiVersion: fc.oneof(fc.constant("imagepolicy.k8s.io/v1alpha1"), fc.string(), fc.anything()),
      kind: fc.oneof(fc.constant("ImageReview"), fc.string()),
      spec: fc.oneof(
        fc.record(
          {
            containers: fc.oneof(fc.array(fc.record({ image: fc.oneof(imageLike, fc.anything()) }, { requiredKeys: [] }), { maxLength: 8 }), fc.anything()),
            annotations: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.anything())), fc.anything()),
            namespace: fc.oneof(fc.string(), fc.anything()),
          },
          { requiredKeys: [] },
        ),
        fc.anything(),
      ),
      status: fc.anything(),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o) ?? "null");

const body = fc.oneof(
  { weight: 3, arbitrary: reviewish },
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_BODY - 64, max: MAX_BODY * 4 }).map((n) => Buffer.alloc(n, 0x20)) },
  { weight: 1, arbitrary: fc.array(imageLike, { maxLength: 20 }).map((images) => reviewBody(images)) },
);

const request = fc.record({
  body,
  method: fc.constantFrom("POST", "POST", "POST", "POST", "PUT", "GET", "DELETE"),
  contentType: fc.constantFrom<string | undefined>(undefined, "application/json", "application/json; charset=utf-8", "text/plain", "", "application/JSON"),
  path: fc.constantFrom("/review", "/review", "/review?timeout=30s", "/reviews", "/", "/review/x"),
});

describe("review endpoint under fuzzing", () => {
  it("always answers a status within budget and keeps serving", async () => {
    let sent = 0;
    const before = (await stub.control.journal()).counters.requests;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const hasBody = r.method !== "GET";
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers["content-type"] = r.contentType;
        const t0 = performance.now();
        sent++;
        const res = await send(`${new URL(stub.reviewUrl).origin}${r.path}`, {
          caPem: pki.caPem,
          method: r.method,
          agent,
          ...(hasBody ? { body: r.body } : {}),
          headers,
          timeoutMs: ANSWER_BUDGET_MS,
        });
        expect(performance.now() - t0).toBeLessThan(ANSWER_BUDGET_MS);
        expect([200, 400, 404, 405, 413, 415]).toContain(res.status);
        if (res.status === 200) {
          const review = JSON.parse(res.body);
          expect(review).toMatchObject({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview" });
          expect(typeof review.status.allowed).toBe("boolean");
        }
      }),
      { numRuns: 250 },
    );
    // Every request was journaled, and a normal review still works.
    expect((await stub.control.journal()).counters.requests - before).toBe(sent);
    const ok = await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/app:1.0"]), agent });
    expect(JSON.parse(ok.body).status).toEqual({ allowed: true });
  });

  it("answers 413 for a body far over the limit without reading it all", async () => {
    const huge = Buffer.alloc(3 * 1_048_576, 0x20);
    const res = await send(stub.reviewUrl, { caPem: pki.caPem, body: huge });
    expect(res.status).toBe(413);
    const ok = await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/app:1.0"]) });
    expect(ok.status).toBe(200);
  });
});

describe("parseReference under fuzzing", () => {
  it("never throws, and normalization is idempotent", () => {
    fc.assert(
      fc.property(fc.oneof(imageLike, fc.string({ maxLength: 300 })), (s) => {
        const r = parseReference(s);
        if (r.ok) {
          const again = parseReference(r.ref.normalized);
          expect(again.ok && again.ref.normalized).toBe(r.ref.normalized);
        } else {
          expect(r.reason).not.toBe("");
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
