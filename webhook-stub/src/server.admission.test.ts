// The validating admission webhook endpoint (/validate): AdmissionReview v1 over the same TLS port,
// policy, faults, scopes and journal as the ImageReview endpoint, through real HTTPS requests.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../harness/src/util/errors.ts";
import { trustPolicy } from "./policy.ts";
import { DEFAULT_ADMISSION_PATH, startStub, type StartedStub } from "./server.ts";
import { createTestPki, send, type TestPki } from "./test-support.ts";
import type { StubPolicy } from "./types.ts";

const TOKEN = "admission-token";
const POLICY: StubPolicy = {
  ...trustPolicy(["trusted.example"]),
  breakGlass: { annotation: "x.image-policy.k8s.io/break-glass", auditAnnotation: "break-glass" },
  auditAnnotations: { "checked-by": "stub" },
};
let pki: TestPki;
let stub: StartedStub;

beforeAll(async () => {
  pki = await createTestPki();
  stub = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, policy: POLICY });
});
afterAll(() => stub?.stop());
afterEach(async () => {
  await stub.control.setFault("healthy");
  await stub.control.setScope("team-a", null);
});

type PodSpec = { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] };
const c = (...images: string[]) => images.map((image, i) => ({ name: `c${i}`, image }));

/** An AdmissionReview as kube-apiserver sends it (mechanisms.md §C1). */
function admissionBody(o: {
  uid?: string;
  group?: string;
  kind?: string;
  resource?: string;
  subResource?: string;
  namespace?: string;
  operation?: string;
  name?: string;
  dryRun?: boolean;
  object?: unknown;
}): string {
  const group = o.group ?? "";
  const kind = o.kind ?? "Pod";
  const resource = o.resource ?? "pods";
  const version = "v1";
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      ...(o.uid !== undefined ? { uid: o.uid } : {}),
      kind: { group, version, kind },
      resource: { group, version, resource },
      ...(o.subResource ? { subResource: o.subResource } : {}),
      requestKind: { group, version, kind },
      requestResource: { group, version, resource },
      ...(o.name ? { name: o.name } : {}),
      namespace: o.namespace ?? "default",
      operation: o.operation ?? "CREATE",
      userInfo: { username: "alice", groups: ["system:authenticated"] },
      object: o.object ?? null,
      oldObject: null,
      dryRun: o.dryRun ?? false,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  });
}

const pod = (spec: PodSpec, annotations?: Record<string, string>) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p", ...(annotations ? { annotations } : {}) },
  spec,
});
const template = (spec: PodSpec, annotations?: Record<string, string>) => ({ metadata: { labels: { app: "a" }, ...(annotations ? { annotations } : {}) }, spec });

const validate = (body: string, query = "?timeout=10s") => send(`${stub.admissionUrl}${query}`, { caPem: pki.caPem, body });
const response = async (body: string) => {
  const r = await validate(body);
  expect(r.status).toBe(200);
  expect(r.headers["content-type"]).toBe("application/json");
  const review = JSON.parse(r.body);
  expect(review).toMatchObject({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" });
  expect(review.response.patch).toBeUndefined();
  return review.response;
};
const lastEntry = async () => (await stub.control.journal()).entries.at(-1)!;

describe("admission endpoint", () => {
  it("is served at /validate on the review port", () => {
    expect(DEFAULT_ADMISSION_PATH).toBe("/validate");
    expect(stub.admissionUrl).toBe(`${new URL(stub.reviewUrl).origin}/validate`);
  });

  it("allows a pod with trusted images, echoing the uid in an exact AdmissionReview", async () => {
    const r = await validate(admissionBody({ uid: "uid-allow-1", object: pod({ containers: c("trusted.example/app:1") }) }));
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "uid-allow-1", allowed: true, auditAnnotations: { "checked-by": "stub" } },
    });
  });

  it("denies an untrusted init container with 403 and the ImageReview endpoint's reason", async () => {
    const res = await response(admissionBody({ uid: "uid-deny-1", object: pod({ containers: c("trusted.example/app:1"), initContainers: c("evil.io/init:1") }) }));
    expect(res).toEqual({
      uid: "uid-deny-1",
      allowed: false,
      status: { code: 403, reason: "Forbidden", message: "evil.io/init:1: registry evil.io not in allow.registries [trusted.example]" },
      auditAnnotations: { "checked-by": "stub" },
    });
    // The same images through /review get the same reason.
    const viaReview = await send(stub.reviewUrl, {
      caPem: pki.caPem,
      body: JSON.stringify({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: [{ image: "trusted.example/app:1" }, { image: "evil.io/init:1" }], namespace: "default" } }),
    });
    expect(JSON.parse(viaReview.body).status.reason).toBe(res.status.message);
  });

  it("reviews containers, then init containers, then ephemeral containers of a pod", async () => {
    await response(
      admissionBody({ uid: "u", object: pod({ ephemeralContainers: c("trusted.example/debug:1"), initContainers: c("trusted.example/init:1"), containers: c("trusted.example/a:1", "trusted.example/b:1") }) }),
    );
    expect((await lastEntry()).images).toEqual(["trusted.example/a:1", "trusted.example/b:1", "trusted.example/init:1", "trusted.example/debug:1"]);
  });

  it("reviews only the ephemeral containers for pods/ephemeralcontainers", async () => {
    const object = pod({ containers: c("evil.io/already-running:1"), ephemeralContainers: c("trusted.example/debug:1") });
    expect((await response(admissionBody({ uid: "u-eph-1", subResource: "ephemeralcontainers", operation: "UPDATE", name: "p", object }))).allowed).toBe(true);
    expect(await lastEntry()).toMatchObject({ images: ["trusted.example/debug:1"], admission: { resource: "pods/ephemeralcontainers", operation: "UPDATE", name: "p" } });
    const bad = pod({ containers: c("trusted.example/app:1"), ephemeralContainers: c("evil.io/debug:1") });
    const res = await response(admissionBody({ uid: "u-eph-2", subResource: "ephemeralcontainers", operation: "UPDATE", name: "p", object: bad }));
    expect(res).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining("evil.io/debug:1") } });
  });

  it("reviews a Deployment's pod template, with the template's forwarded annotations", async () => {
    const deployment = (images: string[], annotations?: Record<string, string>) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", annotations: { "x.image-policy.k8s.io/break-glass": "on the Deployment, not forwarded" } },
      spec: { replicas: 1, template: template({ containers: c(...images) }, annotations) },
    });
    const body = (object: unknown) => admissionBody({ uid: "u-dep", group: "apps", kind: "Deployment", resource: "deployments", name: "d", object });
    const denied = await response(body(deployment(["evil.io/app:1"])));
    expect(denied).toMatchObject({ allowed: false, status: { code: 403, message: "evil.io/app:1: registry evil.io not in allow.registries [trusted.example]" } });
    expect(await lastEntry()).toMatchObject({ images: ["evil.io/app:1"], annotations: {}, admission: { kind: "Deployment", resource: "deployments" } });
    expect((await response(body(deployment(["trusted.example/app:1"])))).allowed).toBe(true);
    // Break-glass on the pod template is forwarded (other keys are not), like the plugin does for the pod.
    const glass = { "x.image-policy.k8s.io/break-glass": "INC-1", "team.example/owner": "a" };
    const allowed = await response(body(deployment(["evil.io/app:1"], glass)));
    expect(allowed).toEqual({ uid: "u-dep", allowed: true, auditAnnotations: { "checked-by": "stub", "break-glass": "INC-1" } });
    expect((await lastEntry()).annotations).toEqual({ "x.image-policy.k8s.io/break-glass": "INC-1" });
  });

  it("reviews a CronJob's job template", async () => {
    const cronJob = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "cj" },
      spec: { schedule: "* * * * *", jobTemplate: { spec: { template: template({ containers: c("trusted.example/job:1"), initContainers: c("evil.io/init:1") }) } } },
    };
    const res = await response(admissionBody({ uid: "u-cj", group: "batch", kind: "CronJob", resource: "cronjobs", name: "cj", object: cronJob }));
    expect(res).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining("evil.io/init:1") } });
    expect((await lastEntry()).images).toEqual(["trusted.example/job:1", "evil.io/init:1"]);
  });

  it("allows objects without images: a delete, another kind, a status update", async () => {
    expect((await response(admissionBody({ uid: "u-del", operation: "DELETE", name: "p", object: null }))).allowed).toBe(true);
    expect((await response(admissionBody({ uid: "u-cm", kind: "ConfigMap", resource: "configmaps", object: { data: { image: "evil.io/x:1" } } }))).allowed).toBe(true);
    const status = await response(admissionBody({ uid: "u-st", subResource: "status", operation: "UPDATE", object: pod({ containers: c("evil.io/x:1") }) }));
    expect(status.allowed).toBe(true);
    expect((await lastEntry()).images).toEqual([]);
  });

  it("honors namespace scopes by request.namespace", async () => {
    await stub.control.setScope("team-a", { policy: trustPolicy(["team-a.example"]), fault: "first:1:status:503" });
    const body = (ns: string, image: string) => admissionBody({ uid: `u-${ns}`, namespace: ns, object: pod({ containers: c(image) }) });
    expect((await validate(body("team-a", "team-a.example/app:1"))).status).toBe(503);
    expect((await response(body("team-a", "team-a.example/app:1"))).allowed).toBe(true);
    expect((await response(body("team-a", "trusted.example/app:1"))).allowed).toBe(false);
    expect((await response(body("team-b", "trusted.example/app:1"))).allowed).toBe(true);
    expect((await response(body("team-b", "team-a.example/app:1"))).allowed).toBe(false);
  });
});

describe("faults on the admission endpoint", () => {
  const body = admissionBody({ uid: "u-fault", object: pod({ containers: c("trusted.example/app:1") }) });

  it("status:500 answers 500 and is journaled as a fault", async () => {
    await stub.control.setFault("status:500");
    const r = await validate(body);
    expect(r.status).toBe(500);
    expect(r.body).toBe("imagepolicy-lab stub: fault status:500\n");
    expect(await lastEntry()).toMatchObject({ review: "AdmissionReview", outcome: "fault", fault: "status:500", status: 500, admission: { uid: "u-fault" } });
  });

  it("malformed answers 200 with a cut-off AdmissionReview", async () => {
    await stub.control.setFault("malformed");
    const r = await validate(body);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.body).toBe('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u-fault","allowed":tr');
    expect(() => JSON.parse(r.body)).toThrow();
  });

  it("content-type answers the real AdmissionReview as text/plain; empty answers {}", async () => {
    await stub.control.setFault("content-type");
    const r = await validate(body);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    expect(JSON.parse(r.body)).toMatchObject({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "u-fault", allowed: true } });
    await stub.control.setFault("empty");
    const e = await validate(body);
    expect([e.status, e.body]).toEqual([200, "{}"]);
  });

  it("reset drops the connection, and first:N counts admission requests too", async () => {
    await stub.control.setFault("first:1:reset");
    await expect(validate(body)).rejects.toMatchObject({ code: "ECONNRESET" });
    expect((await response(body)).allowed).toBe(true);
  });
});

describe("invalid admission requests", () => {
  const j = (v: unknown) => JSON.stringify(v);
  it.each([
    ["no uid", admissionBody({ object: pod({ containers: c("trusted.example/app:1") }) }), 400, /request.uid must be a non-empty string/],
    ["the wrong apiVersion", j({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: { uid: "u" } }), 400, /apiVersion must be "admission.k8s.io\/v1", got "admission.k8s.io\/v1beta1"/],
    ["the wrong kind", j({ apiVersion: "admission.k8s.io/v1", kind: "ImageReview", request: { uid: "u" } }), 400, /kind must be "AdmissionReview"/],
    ["an ImageReview", j({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: {} }), 400, /apiVersion must be "admission.k8s.io\/v1"/],
    ["no request", j({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }), 400, /request is missing/],
    ["containers not a list", admissionBody({ uid: "u", object: { spec: { containers: {} } } }), 400, /request.object.spec.containers must be a list/],
    ["an image not a string", admissionBody({ uid: "u", object: { spec: { initContainers: [{ image: 7 }] } } }), 400, /request.object.spec.initContainers\[0\].image must be a string/],
    ["dryRun not a boolean", j({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", dryRun: "yes" } }), 400, /request.dryRun must be a boolean/],
    ["invalid JSON", "{", 400, /not valid JSON/],
  ] as const)("refuses %s with 4xx and journals it invalid", async (_name, body, status, message) => {
    const mark = (await stub.control.status()).lastSeq;
    const r = await validate(body);
    expect(r.status).toBe(status);
    expect(r.headers["content-type"]).toMatch(/^text\/plain/);
    expect(r.body).toMatch(message);
    const { entries } = await stub.control.journal({ since: mark });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ review: "AdmissionReview", outcome: "invalid", status, reason: expect.stringMatching(message), images: [] });
    expect(entries[0]!.admission).toBeUndefined();
  });

  it("applies the same method, content type and body limits as /review", async () => {
    const small = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, limits: { maxBodyBytes: 4_096 } });
    try {
      const big = admissionBody({ uid: "u", object: pod({ containers: c("x".repeat(5_000)) }) });
      expect((await send(small.admissionUrl, { caPem: pki.caPem, body: big })).status).toBe(413);
      expect((await send(small.admissionUrl, { caPem: pki.caPem, method: "GET" })).status).toBe(405);
      expect((await send(small.admissionUrl, { caPem: pki.caPem, body: "{}", headers: { "content-type": "text/plain" } })).status).toBe(415);
      const { entries } = await small.control.journal();
      expect(entries.map((e) => [e.review, e.outcome, e.status])).toEqual([
        ["AdmissionReview", "invalid", 413],
        ["AdmissionReview", "invalid", 405],
        ["AdmissionReview", "invalid", 415],
      ]);
    } finally {
      await small.stop();
    }
  });

  it("denies a pod over maxImagesPerReview unevaluated", async () => {
    await using small = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, policy: POLICY, limits: { maxImagesPerReview: 2 } });
    const r = await send(small.admissionUrl, { caPem: pki.caPem, body: admissionBody({ uid: "u", object: pod({ containers: c("trusted.example/a:1", "trusted.example/b:1"), initContainers: c("trusted.example/c:1") }) }) });
    expect(JSON.parse(r.body).response).toMatchObject({ allowed: false, status: { code: 403, message: expect.stringContaining("lists 3 images") } });
    expect((await small.control.journal()).entries[0]).toMatchObject({ images: ["trusted.example/a:1", "trusted.example/b:1"], imagesOmitted: 1 });
  });
});

describe("journal of admission requests", () => {
  it("records the review kind, the admission summary and the usual fields", async () => {
    const mark = (await stub.control.status()).lastSeq;
    await validate(
      admissionBody({ uid: "u-j", namespace: "team-b", name: "web", dryRun: true, object: pod({ containers: c("evil.io/a:1") }, { "x.image-policy.k8s.io/ticket": "42", "other/key": "v" }) }),
      "?timeout=10s",
    );
    const { entries } = await stub.control.journal({ since: mark });
    expect(entries).toEqual([
      {
        seq: mark + 1,
        review: "AdmissionReview",
        time: expect.any(String),
        atMs: expect.any(Number),
        method: "POST",
        url: "/validate?timeout=10s",
        images: ["evil.io/a:1"],
        namespace: "team-b",
        annotations: { "x.image-policy.k8s.io/ticket": "42" },
        admission: { uid: "u-j", kind: "Pod", resource: "pods", operation: "CREATE", name: "web", dryRun: true, user: "alice" },
        outcome: "denied",
        reason: "evil.io/a:1: registry evil.io not in allow.registries [trusted.example]",
        auditAnnotations: { "checked-by": "stub" },
        status: 200,
        latencyMs: expect.any(Number),
      },
    ]);
  });

  it("marks /review entries as ImageReview and names both paths in a 404", async () => {
    const mark = (await stub.control.status()).lastSeq;
    const origin = new URL(stub.reviewUrl).origin;
    const r = await send(`${origin}/mutate`, { caPem: pki.caPem, body: "{}" });
    expect(r.status).toBe(404);
    expect(r.body).toMatch(/POST ImageReviews to \/review or AdmissionReviews to \/validate/);
    await send(stub.reviewUrl, { caPem: pki.caPem, body: JSON.stringify({ apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", spec: { containers: [] } }) });
    const { entries } = await stub.control.journal({ since: mark });
    expect(entries.map((e) => [e.review, e.status])).toEqual([
      ["ImageReview", 404],
      ["ImageReview", 200],
    ]);
  });
});

describe("options", () => {
  it("takes another admission path, and refuses one equal to the review path", async () => {
    await using s = await startStub({ tls: { certPem: pki.server.certPem, keyPem: pki.server.keyPem }, controlToken: TOKEN, admissionPath: "/admit" });
    expect(s.admissionUrl).toMatch(/\/admit$/);
    const r = await send(s.admissionUrl, { caPem: pki.caPem, body: admissionBody({ uid: "u", object: null }) });
    expect(JSON.parse(r.body).response).toEqual({ uid: "u", allowed: true });
    const tls = { certPem: pki.server.certPem, keyPem: pki.server.keyPem };
    await expect(startStub({ tls, controlToken: TOKEN, admissionPath: "/review" })).rejects.toBeInstanceOf(ConfigError);
    await expect(startStub({ tls, controlToken: TOKEN, admissionPath: "validate" })).rejects.toBeInstanceOf(ConfigError);
  });
});
