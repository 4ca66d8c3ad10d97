// `imagepolicy-lab run --backend-url URL --backend-ca FILE --trust REGISTRY` end to end, in-process,
// on the local provider's real apiserver: a backend of ours with a known hole (a string-prefix trust
// check) is reported with exactly that hole, exit 1; the stub run as a standalone `stub serve`
// process with a correct policy passes, exit 0; both under ImagePolicyWebhook and as the validating
// webhook mechanism's AdmissionReview server. Scenarios that need the stub are listed as not
// applicable, with the reason, in every report.
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureIO } from "../../test/cli-in-process.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVE_CONFIG_API_VERSION, SERVE_CONFIG_KIND, type StubReadyFile, type StubServeConfig } from "../../../webhook-stub/src/main.ts";
import { createCA } from "../pki/pki.ts";
import { pollFor, spawnCli, type CliChild } from "../providers/local/test-support.ts";
import type { RunReport } from "../scenario/result.ts";
import { run } from "./main.ts";

/** What the user declares their backend trusts; the catalog's trusted.example stands for it. */
const TRUSTED = "registry.corp.example";


type PodSpecish = { containers?: { image?: string }[]; initContainers?: { image?: string }[]; ephemeralContainers?: { image?: string }[] };

/** Every image an admitted object would run: a pod's containers of all kinds, or a workload's pod template. */
function objectImages(obj: { spec?: PodSpecish & { template?: { spec?: PodSpecish }; jobTemplate?: { spec?: { template?: { spec?: PodSpecish } } } } }): string[] {
  const spec = obj.spec?.template?.spec ?? obj.spec?.jobTemplate?.spec?.template?.spec ?? obj.spec ?? {};
  return [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])].map((c) => c.image ?? "");
}

/**
 * A backend with the classic hole: "trusted" means the image string starts with the trusted
 * registry's name, so registry.corp.example.evil.com, registry.corp.example-evil and another port all
 * pass. Answers ImageReview and AdmissionReview alike, at any path.
 */
async function startPrefixBackend(tls: { certPem: string; keyPem: string }): Promise<{ url: string; server: Server }> {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, async (req, res) => {
    let body = "";
    for await (const chunk of req) body += String(chunk);
    const review = JSON.parse(body) as { kind: string; spec?: { containers?: { image: string }[] }; request?: { uid: string; object: Parameters<typeof objectImages>[0] } };
    const images = review.kind === "ImageReview" ? (review.spec?.containers ?? []).map((c) => c.image) : objectImages(review.request!.object);
    const bad = images.filter((i) => !i.startsWith(TRUSTED));
    const reason = bad.length ? `not from ${TRUSTED}: ${bad.join(", ")}` : "";
    const answer =
      review.kind === "ImageReview"
        ? { apiVersion: "imagepolicy.k8s.io/v1alpha1", kind: "ImageReview", status: { allowed: !bad.length, reason } }
        : { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: review.request!.uid, allowed: !bad.length, ...(bad.length ? { status: { code: 403, message: reason } } : {}) } };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/review`, server };
}

describe("run --backend-url: the catalog against your own backend", () => {
  let dir: string;
  let caFile: string;
  let prefix: { url: string; server: Server };
  let stub: CliChild;
  let ready: StubReadyFile;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ipl-run-backend-url-"));
    const ca = await createCA("run --backend-url e2e CA");
    const serving = await ca.issue({ commonName: "backend", hosts: ["127.0.0.1", "localhost"], usage: "server" });
    caFile = join(dir, "ca.crt");
    await writeFile(caFile, ca.certPem);
    prefix = await startPrefixBackend(serving);

    // The stub as a user would run it: its own process, a correct policy, certificates of their own.
    await writeFile(join(dir, "stub.crt"), serving.certPem);
    await writeFile(join(dir, "stub.key"), serving.keyPem, { mode: 0o600 });
    await writeFile(join(dir, "token"), "e2e-token\n", { mode: 0o600 });
    await writeFile(join(dir, "policy.yaml"), `apiVersion: imagepolicy-lab.dev/v1alpha1\nkind: StubPolicy\nallow:\n  registries: [${TRUSTED}]\n`);
    const config: StubServeConfig = {
      apiVersion: SERVE_CONFIG_API_VERSION,
      kind: SERVE_CONFIG_KIND,
      listen: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      tls: { certFile: "stub.crt", keyFile: "stub.key" },
      tokenFile: "token",
      policyFile: "policy.yaml",
    };
    await writeFile(join(dir, "stub.json"), JSON.stringify(config));
    stub = spawnCli(["stub", "serve", "--config", join(dir, "stub.json"), "--ready-file", join(dir, "stub-ready.json")]);
    ready = await pollFor("the stub's ready file", async () => JSON.parse(await readFile(join(dir, "stub-ready.json"), "utf8")) as StubReadyFile, 30_000, 100);
  });

  afterAll(async () => {
    prefix?.server.close();
    if (stub && stub.child.exitCode === null) {
      stub.child.kill("SIGTERM");
      await stub.exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  const runAgainst = async (url: string, reportDir: string, more: string[] = []) => {
    const io = captureIO(dir, { ...process.env, CI: "true" });
    const code = await run(["run", "--provider", "local", "--backend-url", url, "--backend-ca", caFile, "--trust", TRUSTED, "--report-dir", reportDir, ...more], io);
    const report = JSON.parse(await readFile(join(dir, reportDir, "report.json"), "utf8")) as RunReport;
    return { code, io, report, junit: await readFile(join(dir, reportDir, "junit.xml"), "utf8"), html: await readFile(join(dir, reportDir, "report.html"), "utf8") };
  };
  const byName = (r: RunReport) => Object.fromEntries(r.scenarios.map((s) => [s.name, s]));

  it("a prefix-matching backend: exactly registry spoofing fails, naming each spoofed image it admitted; exit 1", async () => {
    const { code, io, report, junit, html } = await runAgainst(prefix.url, "reports-prefix");
    expect(code, io.err()).toBe(1);
    const s = byName(report);
    const failed = report.scenarios.filter((x) => x.verdict === "fail" || x.verdict === "error").map((x) => x.name);
    expect(failed).toEqual(["registry-spoofing"]);
    const admitted = s["registry-spoofing"]!.steps.filter((st) => st.verdict === "fail").map((st) => st.request?.images);
    expect(admitted).toEqual([[`${TRUSTED}.evil.com/app:1.0`], [`${TRUSTED}-evil/app:1.0`], [`${TRUSTED}:5000/app:1.0`]]);
    for (const st of s["registry-spoofing"]!.steps.filter((x) => x.verdict === "fail")) {
      expect(st.checks.find((c) => c.what === "allowed")).toMatchObject({ expected: "denied", observed: "allowed", ok: false });
    }
    // The path that merely contains the name is refused by this backend too, by the backend itself.
    const pathVariant = s["registry-spoofing"]!.steps[3]!;
    expect(pathVariant).toMatchObject({ verdict: "pass", request: { images: [`evil.com/${TRUSTED}/app:1.0`] } });
    expect(pathVariant.response?.message).toContain("image policy webhook backend denied one or more images: not from");
    // The terminal says which image got through.
    expect(io.out()).toContain(`registry-spoofing`);
    expect(io.out()).toContain(`${TRUSTED}.evil.com/app:1.0`);
    // Everything else that can be played passed: the hole is the only finding.
    expect(report.scenarios.filter((x) => x.verdict === "pass").map((x) => x.name)).toEqual(
      expect.arrayContaining(["trusted-image-allowed", "untrusted-image-denied", "mixed-containers-denied", "init-container-untrusted-denied", "ephemeral-container-reviewed", "pod-update-reviewed", "deployment-pods-refused", "job-pods-refused", "fail-open-explicit-deny"]),
    );
    // Not applicable, with the reason, in every report; never dropped.
    expect(s["fail-closed-hang"]).toMatchObject({ verdict: "skipped", reason: 'not applicable with your backend: needs the stub\'s fault "hang"' });
    expect(s["cache-key"]!.reason).toBe("not applicable with your backend: its subject (tag caching) is the plugin's calls to the backend, seen only in the stub's journal");
    expect(s["implicit-docker-hub"]!.reason).toMatch(/^not applicable with your backend: "nginx:1\.25" is trusted in the scenario/);
    expect(report.totals.skipped).toBeGreaterThan(25);
    expect(report.scenarios).toHaveLength(47);
    expect(io.out()).toMatch(/cache-key\s+skipped \(not applicable with your backend: its subject \(tag caching\)/);
    expect(junit).toContain(`<skipped message="not applicable with your backend: needs the stub's fault &quot;hang&quot;"/>`);
    expect(html).toContain("not applicable with your backend: its subject (tag caching)");
    // What was not checked is said: the journal, and the stub's wording.
    const ephemeral = s["ephemeral-container-reviewed"]!.steps[1]!;
    expect(ephemeral.notes?.[0]).toMatch(/the backend's reviews are not observed/);
    expect(ephemeral.notes?.join("\n")).toContain("received");
    expect(ephemeral.checks.find((c) => c.what === "message")).toMatchObject({ expected: "contains image policy webhook backend denied one or more images", ok: true });
    expect(junit).not.toContain("backend: no reviews");
    expect(report.externalBackend).toEqual({ url: prefix.url, trust: [TRUSTED] });
    expect(io.out()).toMatch(/backend: yours \(https:\/\/127\.0\.0\.1:\d+\/review\), judged against --trust registry\.corp\.example: 10 scenarios played, 37 not applicable/);
  });

  it("the stub as a standalone `stub serve` with a correct policy: every playable scenario passes; exit 0", async () => {
    const { code, io, report } = await runAgainst(ready.reviewUrl, "reports-stub");
    expect(code, `${io.out()}\n${io.err()}`).toBe(0);
    expect(report.totals).toMatchObject({ pass: 10, fail: 0, error: 0 });
    expect(byName(report)["registry-spoofing"]!.verdict).toBe("pass");
  });

  it("--mechanism webhook: your AdmissionReview server behind a ValidatingWebhookConfiguration; the prefix hole is found, the stub passes", async () => {
    const scenarios = ["registry-spoofing", "trusted-image-allowed", "untrusted-image-denied", "pod-update-reviewed", "deployment-pods-refused", "image-order"];
    const holey = await runAgainst(prefix.url.replace("/review", "/admit"), "reports-prefix-webhook", ["--mechanism", "webhook", ...scenarios]);
    expect(holey.code, holey.io.err()).toBe(1);
    const s = byName(holey.report);
    expect(holey.report.scenarios.filter((x) => x.verdict === "fail").map((x) => x.name)).toEqual(["registry-spoofing"]);
    expect(s["registry-spoofing"]!.steps.filter((st) => st.verdict === "fail").map((st) => st.request?.images?.[0])).toEqual([`${TRUSTED}.evil.com/app:1.0`, `${TRUSTED}-evil/app:1.0`, `${TRUSTED}:5000/app:1.0`]);
    // Under a webhook a Deployment is refused at create, by the named webhook.
    expect(s["deployment-pods-refused"]!.steps[0]!.response?.message).toMatch(/^admission webhook "images\.imagepolicy-lab\.dev" denied the request: not from/);
    expect(s["image-order"]).toMatchObject({ verdict: "skipped", reason: expect.stringContaining("tag request-format") });

    const correct = await runAgainst(ready.admissionUrl, "reports-stub-webhook", ["--mechanism", "webhook", ...scenarios]);
    expect(correct.code, `${correct.io.out()}\n${correct.io.err()}`).toBe(0);
    expect(correct.report.totals).toMatchObject({ pass: 5, fail: 0, error: 0, skipped: 1 });
  });

  it("--mechanism webhook, fail open then fail closed: the lab waits for each failurePolicy through its canary webhook, and your backend still refuses", async () => {
    const scenario = (name: string, defaultAllow: boolean) =>
      [
        "apiVersion: imagepolicy-lab.dev/v1alpha1",
        "kind: Scenario",
        `name: ${name}`,
        "description: A healthy backend refuses an untrusted image whatever the failurePolicy.",
        "mechanisms: [webhook]",
        `profile: { defaultAllow: ${defaultAllow}, allowTTL: -1, denyTTL: -1, retryBackoff: 100 }`,
        "backend: { trust: [trusted.example] }",
        "steps:",
        "  - { createPod: { images: [evil.example/app:1] }, expect: { allowed: false, code: 403 } }",
        "  - { createPod: { images: [trusted.example/app:1] }, expect: { allowed: true } }",
        "",
      ].join("\n");
    await writeFile(join(dir, "open.yaml"), scenario("webhook-open", true));
    await writeFile(join(dir, "closed.yaml"), scenario("webhook-closed", false));
    const r = await runAgainst(ready.admissionUrl, "reports-stub-webhook-policies", ["--mechanism", "webhook", "open.yaml", "closed.yaml"]);
    expect(r.code, `${r.io.out()}\n${r.io.err()}`).toBe(0);
    expect(r.report.totals).toMatchObject({ pass: 2 });
    // Started with Ignore (the lab's first profile), switched once to Fail.
    expect(r.report.profileSwitches.map((p) => p.profile.defaultAllow)).toEqual([false]);
    expect(byName(r.report)["webhook-open"]!.steps[1]!.request?.images).toEqual([`${TRUSTED}/app:1`]);
  });
});
