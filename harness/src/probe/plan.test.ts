import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evaluate, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { parseReference } from "../../../webhook-stub/src/reference.ts";
import { checkProbeInput, planProbe, UNTRUSTED_IMAGE } from "./plan.ts";

const plan = (trust: string[], trustedImages = ["trusted.example/app:1.0"], pod?: string) => planProbe({ trust, trustedImages, pod, nonce: "abc123" });

describe("planProbe", () => {
  it("one registry: the issue's checklist, in order, with what the trust list expects", () => {
    const cases = plan(["trusted.example"]);
    expect(cases.map((c) => [c.id, c.kind, c.images.join(","), c.initImages?.join(",") ?? "", c.expect])).toEqual([
      ["trusted", "Pod", "trusted.example/app:1.0", "", "admitted"],
      ["untrusted", "Pod", UNTRUSTED_IMAGE, "", "refused"],
      ["spoof-suffix-domain", "Pod", "trusted.example.evil.example/imagepolicy-lab-probe:1", "", "refused"],
      ["spoof-hyphen", "Pod", "trusted.example-evil/imagepolicy-lab-probe:1", "", "refused"],
      ["spoof-port", "Pod", "trusted.example:5000/imagepolicy-lab-probe:1", "", "refused"],
      ["spoof-path", "Pod", "evil.example/trusted.example/imagepolicy-lab-probe:1", "", "refused"],
      ["docker-hub-short", "Pod", "nginx:1.27", "", "refused"],
      ["docker-hub-library", "Pod", "library/nginx:1.27", "", "refused"],
      ["docker-hub-org", "Pod", "bitnami/redis:7", "", "refused"],
      ["init-container", "Pod", "trusted.example/app:1.0", UNTRUSTED_IMAGE, "refused"],
      ["deployment", "Deployment", UNTRUSTED_IMAGE, "", "refused-or-pods-refused"],
      ["job", "Job", UNTRUSTED_IMAGE, "", "refused-or-pods-refused"],
    ]);
    expect(cases.find((c) => c.id === "docker-hub-short")!.why).toBe('"nginx:1.27" means docker.io/library/nginx:1.27, and docker.io is not on the trust list [trusted.example]');
  });

  it("a repository prefix is spoofed on its path boundary too; a port gets another port", () => {
    const spoofs = (trust: string[]) => plan(trust, [`${trust[0]}/app:1`]).filter((c) => c.group === "spoofing").map((c) => c.images[0]);
    expect(spoofs(["registry.example.com/team"])).toEqual([
      "registry.example.com.evil.example/team/imagepolicy-lab-probe:1",
      "registry.example.com/team-evil/imagepolicy-lab-probe:1",
      "registry.example.com:5000/team/imagepolicy-lab-probe:1",
      "evil.example/registry.example.com/team/imagepolicy-lab-probe:1",
    ]);
    expect(spoofs(["reg.example:5000"])).toContain("reg.example:5001/imagepolicy-lab-probe:1");
    expect(spoofs(["reg.example:5000"])).toContain("reg.example.evil.example:5000/imagepolicy-lab-probe:1");
  });

  it("two entries get numbered spoofs; what the list really trusts is never expected refused", () => {
    const cases = plan(["trusted.example", "trusted.example.evil.example"]);
    expect(cases.some((c) => c.images.includes("trusted.example.evil.example/imagepolicy-lab-probe:1"))).toBe(false);
    expect(cases.filter((c) => c.group === "spoofing").map((c) => c.id)).toContain("spoof-hyphen-2");
  });

  it("Docker Hub names the list trusts are left out", () => {
    const ids = plan(["docker.io/library/nginx", "trusted.example"]).map((c) => c.id);
    expect(ids).not.toContain("docker-hub-short");
    expect(ids).not.toContain("docker-hub-library");
    expect(ids).toContain("docker-hub-org");
  });

  it("--pod adds the ephemeral-container cases; the untrusted one carries the nonce in its tag", () => {
    const eph = plan(["trusted.example"], undefined, "web-0").filter((c) => c.group === "ephemeral");
    expect(eph.map((c) => [c.id, c.images[0], c.expect])).toEqual([
      ["ephemeral-untrusted", "evil.example/imagepolicy-lab-probe:debug-abc123", "refused"],
      ["ephemeral-trusted", "trusted.example/app:1.0", "admitted"],
    ]);
  });

  it("every spoof of any registry parses and is refused by the stub's own matcher", () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
    fc.assert(
      fc.property(fc.array(label, { minLength: 1, maxLength: 3 }), fc.option(fc.integer({ min: 1, max: 65_535 })), (labels, port) => {
        const registry = `${[...labels, "example"].join(".")}${port ? `:${port}` : ""}`;
        const policy = trustPolicy([registry]);
        for (const c of plan([registry], [`${registry}/app:1`]).filter((x) => x.group === "spoofing")) {
          expect(parseReference(c.images[0]!).ok, c.images[0]).toBe(true);
          expect(evaluate(policy, { containers: [{ image: c.images[0]! }] }).allowed, c.images[0]).toBe(false);
        }
      }),
    );
  });
});

describe("checkProbeInput", () => {
  const messages = (o: Parameters<typeof checkProbeInput>[0]) => checkProbeInput(o).map((i) => `${i.file}: ${i.message}`);

  it("names the flag of every problem", () => {
    expect(messages({ trust: [], trustedImages: [] })).toEqual([
      "--trust: at least one registry or repository is needed: the probe checks the cluster against it",
      "--image-trusted: name at least one image the cluster should admit; only you know one it really does",
    ]);
    expect(messages({ trust: ["*"], trustedImages: ["x.example/a"] })).toEqual(['--trust: "*" trusts every registry: nothing would be left to refuse']);
    expect(messages({ trust: ["evil.example"], trustedImages: ["evil.example/a"] })).toEqual([`--trust: the list trusts ${UNTRUSTED_IMAGE}, the image the probe expects to be refused`]);
    expect(messages({ trust: ["trusted.example"], trustedImages: ["nginx"] })).toEqual(['--image-trusted: "nginx" (docker.io/library/nginx:latest) is not on the --trust list [trusted.example]']);
    expect(messages({ trust: ["trusted.example"], trustedImages: ["trusted.example/a"], namespace: "Apps", pod: "no/pe" })).toEqual([
      '--namespace: "Apps" is not a namespace name (lower-case letters, digits and "-", at most 63)',
      '--pod: "no/pe" is not a pod name',
    ]);
  });

  it("a trust entry the stub refuses is reported with the stub's words", () => {
    const [issue] = checkProbeInput({ trust: ["Bad/Repo:tag"], trustedImages: ["trusted.example/a"] });
    expect(issue).toMatchObject({ file: "--trust" });
  });
});
