// Hostile input against the stub (issue 10): it must stay alive, keep answering a normal review
// promptly, and keep its memory and open sockets bounded, whatever one client sends. The first block
// runs the stub as its own process with the default limits, so RSS and sockets are its own; the
// second checks single limits in process, made small so each takes a moment. Everything targets
// 127.0.0.1 and is bounded in count and time (about 15 s in all). The full-size soak (2,000 reviews
// of ~1 MB, 1,000 silent connections held until the stub drops them) is bench/stub-soak.ts.
import { Agent } from "node:https";
import { connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bigUniqueReview,
  HAVE_PROC,
  manyImageReview,
  msUntilClosedByServer,
  normalReview,
  openSilent,
  pool,
  postReview,
  rawTls,
  startStubProcess,
  type StubProcess,
} from "./hostile-support.ts";
import { trustPolicy } from "./policy.ts";
import { DEFAULT_STUB_LIMITS, startStub, type StartedStub } from "./server.ts";
import { createTestPki, reviewBody, send, type TestPki } from "./test-support.ts";

/** The RSS bound README.md documents for the default limits. */
const RSS_BOUND_BYTES = 300 * 1_048_576;
/** Reviews of ~1 MB in this test; enough to overflow the journal's 16 MiB (the soak sends 2,000). */
const BIG_REVIEWS = 60;

async function eventually(what: string, check: () => Promise<boolean>, budgetMs: number): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > budgetMs) throw new Error(`${what}: not within ${budgetMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - t0;
}

describe.skipIf(!HAVE_PROC)("the stub process with default limits, under attack", () => {
  let stub: StubProcess;
  let baselineSockets: number;

  beforeAll(async () => {
    stub = await startStubProcess();
    baselineSockets = await stub.openSockets();
  }, 60_000);
  afterAll(async () => {
    await stub?.stop();
  });

  const expectServing = async (budgetMs = 1_000) => {
    const a = await postReview(stub.reviewUrl, normalReview(), stub.caPem);
    expect(a.review, `normal review (${a.status})`).toEqual({ allowed: true });
    expect(a.elapsedMs).toBeLessThan(budgetMs);
  };

  it("refuses framing tricks with a 4xx and closes the connection at once", async () => {
    const head = "POST /review HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
    const cases: [string, string, RegExp][] = [
      ["Content-Length beside Transfer-Encoding", `${head}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, /^HTTP\/1\.1 400/],
      ["two different Content-Lengths", `${head}Content-Length: 1\r\nContent-Length: 2\r\n\r\n{}`, /^HTTP\/1\.1 400/],
      ["a broken chunk", `${head}Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`, /^HTTP\/1\.1 400/],
      ["not HTTP", "HELLO THERE\r\n\r\n", /^HTTP\/1\.1 400/],
      ["a NUL in a header", `${head}X-A: a\0b\r\nContent-Length: 2\r\n\r\n{}`, /^HTTP\/1\.1 400/],
      ["20 KB of headers", `${head}X-Pad: ${"a".repeat(20_000)}\r\nContent-Length: 2\r\n\r\n{}`, /^HTTP\/1\.1 431/],
    ];
    const results = await Promise.all(cases.map(([, bytes]) => rawTls(stub.reviewPort, stub.caPem, [bytes], { budgetMs: 3_000 })));
    results.forEach((r, i) => {
      expect(r.reply, cases[i]![0]).toMatch(cases[i]![2]);
      expect(r.closedAfterMs, cases[i]![0]).toBeLessThan(2_000);
    });
    // Plain HTTP on the TLS port: no TLS, so no answer, but closed at once.
    const plain = await new Promise<number>((resolve) => {
      const t0 = performance.now();
      const s = tcpConnect({ host: "127.0.0.1", port: stub.reviewPort }, () => s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
      s.on("error", () => {});
      s.on("close", () => resolve(performance.now() - t0));
    });
    expect(plain).toBeLessThan(2_000);
    await expectServing();
  });

  it("answers a 64k-image review (1 MiB) and a normal review sent beside it, each within 1 s", async () => {
    const body = manyImageReview(65_536);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1_048_576);
    const [big, normal] = await Promise.all([
      postReview(stub.reviewUrl, body, stub.caPem),
      new Promise((r) => setTimeout(r, 5)).then(() => postReview(stub.reviewUrl, normalReview(), stub.caPem)),
    ]);
    expect(big.review).toMatchObject({ allowed: false, reason: expect.stringContaining("lists 65536 images; this backend evaluates at most 1000") });
    expect(big.elapsedMs).toBeLessThan(1_000);
    expect(normal.review).toEqual({ allowed: true });
    expect(normal.elapsedMs).toBeLessThan(1_000);
  });

  it(`keeps RSS under 300 MB through ${BIG_REVIEWS} reviews of ~1 MB of unique images, dropping the oldest journal entries`, async () => {
    // Meanwhile, the Must-show for connections that never start TLS: the stub closes them in < 10 s.
    const noTls = msUntilClosedByServer(stub.reviewPort, 10_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let maxRss = 0;
    try {
      await pool(BIG_REVIEWS, 4, async (i) => {
        const a = await postReview(stub.reviewUrl, bigUniqueReview(i, i % 2 ? "many-short" : "long-names"), stub.caPem, agent);
        expect(a.review?.allowed, `review ${i}: HTTP ${a.status}`).toBe(false);
        if (i % 10 === 0) maxRss = Math.max(maxRss, await stub.rssBytes());
      });
    } finally {
      agent.destroy();
    }
    maxRss = Math.max(maxRss, await stub.rssBytes());
    expect(maxRss).toBeLessThan(RSS_BOUND_BYTES);
    const { counters, retained } = await stub.client.journal({ since: Number.MAX_SAFE_INTEGER });
    expect(counters.dropped).toBeGreaterThan(0);
    expect(retained.bytes).toBeLessThanOrEqual(DEFAULT_STUB_LIMITS.journalMaxBytes);
    await expectServing();
    expect(await noTls).toBeLessThan(10_000);
    console.info(`stub RSS peak ${(maxRss / 1_048_576).toFixed(0)} MB over ${BIG_REVIEWS} reviews; journal dropped ${counters.dropped}, keeps ${retained.entries} (${(retained.bytes / 1_048_576).toFixed(1)} MiB est.)`);
  });

  it("serves while 1,000 connections send nothing; once the client closes them, its sockets are back to baseline within seconds", async () => {
    const silent = await openSilent(stub.reviewPort, 1_000);
    try {
      // Connected on the client's side means in the stub's listen backlog; wait until it has accepted them.
      await eventually("the stub to accept the silent connections", async () => (await stub.openSockets()) >= baselineSockets + 900, 5_000);
      await expectServing();
    } finally {
      for (const s of silent) s.destroy();
    }
    const ms = await eventually("stub sockets back to baseline", async () => (await stub.openSockets()) <= baselineSockets, 5_000);
    console.info(`1,000 silent connections closed by the client: stub sockets back to ${baselineSockets} in ${Math.round(ms)} ms`);
  });

  it("is still alive, with no socket left behind", async () => {
    expect(stub.alive(), stub.stderr()).toBe(true);
    await eventually("stub sockets back to baseline", async () => (await stub.openSockets()) <= baselineSockets, 5_000);
    await expectServing();
  });
});

describe("single limits, made small", () => {
  let pki: TestPki;
  let stub: StartedStub;

  beforeAll(async () => {
    pki = await createTestPki();
    stub = await startStub({
      tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem },
      controlToken: "t",
      policy: trustPolicy(["trusted.example"]),
      limits: { handshakeTimeoutMs: 500, headersTimeoutMs: 500, requestTimeoutMs: 1_000, maxConnections: 20, maxImagesPerReview: 3, maxBodyBytes: 65_536, maxPendingBodyBytes: 65_536 },
    });
  });
  afterAll(() => stub?.stop());

  const port = () => Number(new URL(stub.reviewUrl).port);

  it("drops a connection that never finishes the TLS handshake", async () => {
    const ms = await msUntilClosedByServer(port(), 3_000);
    expect(ms).toBeGreaterThan(400);
    expect(ms).toBeLessThan(1_500);
  });

  it("answers 408 and closes a client that drips its headers or its body", async () => {
    const head = "POST /review HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    const [headers, body] = await Promise.all([
      rawTls(port(), pki.caPem, [head, "X-A: 1\r\n", "X-B: 2\r\n", "X-C: 3\r\n", "X-D: 4\r\n"], { gapMs: 200, budgetMs: 3_000 }),
      rawTls(port(), pki.caPem, [`${head}Content-Length: 10\r\n\r\n`, "{", " ", " ", " ", " ", " ", " "], { gapMs: 300, budgetMs: 4_000 }),
    ]);
    expect(headers.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(headers.closedAfterMs).toBeLessThan(2_000);
    expect(body.reply).toMatch(/^HTTP\/1\.1 408/);
    expect(body.closedAfterMs).toBeLessThan(3_000);
  });

  it("never cuts an answer it delays on purpose (a completed request is not timed out)", async () => {
    await stub.control.setFault("first:1:delay:1500");
    const r = await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/a:1"]) });
    expect(JSON.parse(r.body).status.allowed).toBe(true);
  });

  it("closes connections over maxConnections at once, and serves again when they are gone", async () => {
    const held = await openSilent(port(), 20);
    try {
      const ms = await msUntilClosedByServer(port(), 1_000);
      expect(ms).toBeLessThan(500);
    } finally {
      for (const s of held) s.destroy();
    }
    await eventually("a review answered", async () => (await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/a:1"]) }).catch(() => undefined))?.status === 200, 2_000);
  });

  it("denies a review listing more images than maxImagesPerReview, and journals only that many", async () => {
    const mark = (await stub.control.status()).lastSeq;
    const r = await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/a:1", "trusted.example/b:1", "trusted.example/c:1", "trusted.example/d:1"]) });
    expect(JSON.parse(r.body).status).toEqual({ allowed: false, reason: "the review lists 4 images; this backend evaluates at most 3 per review (maxImagesPerReview)" });
    const { entries } = await stub.control.journal({ since: mark });
    expect(entries[0]).toMatchObject({ outcome: "denied", images: ["trusted.example/a:1", "trusted.example/b:1", "trusted.example/c:1"], imagesOmitted: 1 });
  });

  it("answers 429 with Retry-After when request bodies in flight exceed maxPendingBodyBytes", async () => {
    // Two uploads of 40 KB each, both held open before their last byte: the second does not fit 64 KiB.
    const head = (n: number) => `POST /review HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${n}\r\n\r\n`;
    const part = "x".repeat(40_000);
    const first = rawTls(port(), pki.caPem, [head(40_001), part], { gapMs: 50, budgetMs: 3_000 });
    await new Promise((r) => setTimeout(r, 150));
    const second = await rawTls(port(), pki.caPem, [head(40_001), part], { gapMs: 50, budgetMs: 3_000 });
    expect(second.reply).toMatch(/^HTTP\/1\.1 429[\s\S]*retry-after: 1/i);
    expect((await first).reply).toMatch(/^HTTP\/1\.1 408/); // it never sent its last byte
    const ok = await send(stub.reviewUrl, { caPem: pki.caPem, body: reviewBody(["trusted.example/a:1"]) });
    expect(ok.status).toBe(200);
  });
});
