// The generated VAP objects, checked without an apiserver: names, what they match, how they deny,
// where the trust list comes from, the YAML a user would apply, and the reference grammar the CEL
// uses (against the stub's parseReference). What the apiserver makes of them: vap-objects.e2e.test.ts.
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, trustPolicy } from "../../../webhook-stub/src/policy.ts";
import { ANY_REGISTRY, canonicalForms, parseReference } from "../../../webhook-stub/src/reference.ts";
import { ConfigError } from "../util/errors.ts";
import { REFERENCE_PATTERNS, renderVapYaml, TRUST_PARAM_NAME, trustConfigMap, trustFromEntries, VAP_EXEMPT_NAMESPACES, VAP_POLICY_NAMES, vapObjects } from "./vap-objects.ts";

const { policies, bindings } = vapObjects();
const byName = (name: string) => policies.find((p) => p.metadata?.name === name)!;

describe("vapObjects", () => {
  it("makes one policy and one binding of the same name per VAP_POLICY_NAMES entry", () => {
    expect(policies.map((p) => p.metadata?.name)).toEqual([...VAP_POLICY_NAMES]);
    expect(bindings.map((b) => b.metadata?.name)).toEqual([...VAP_POLICY_NAMES]);
    expect(bindings.map((b) => b.spec?.policyName)).toEqual([...VAP_POLICY_NAMES]);
    for (const o of [...policies, ...bindings]) expect(o.apiVersion).toBe("admissionregistration.k8s.io/v1");
  });

  it("covers pods with the ephemeralcontainers subresource, the workload kinds and cronjobs, on CREATE and UPDATE", () => {
    const rules = (name: string) =>
      byName(name).spec!.matchConstraints!.resourceRules!.flatMap((r) => r.resources!.map((res) => `${r.apiGroups!.join()}/${res} ${r.apiVersions!.join()} ${r.operations!.join()}`));
    expect(rules("imagepolicy-lab-images-pods")).toEqual(["/pods v1 CREATE,UPDATE", "/pods/ephemeralcontainers v1 CREATE,UPDATE"]);
    expect(rules("imagepolicy-lab-images-workloads")).toEqual([
      "apps/deployments v1 CREATE,UPDATE",
      "apps/replicasets v1 CREATE,UPDATE",
      "apps/statefulsets v1 CREATE,UPDATE",
      "apps/daemonsets v1 CREATE,UPDATE",
      "batch/jobs v1 CREATE,UPDATE",
      "/replicationcontrollers v1 CREATE,UPDATE",
    ]);
    expect(rules("imagepolicy-lab-images-cronjobs")).toEqual(["batch/cronjobs v1 CREATE,UPDATE"]);
  });

  it("reads images from containers, init and ephemeral containers at each kind's pod spec", () => {
    const images = (name: string) => byName(name).spec!.variables!.find((v) => v.name === "images")!.expression;
    for (const field of ["containers", "initContainers", "ephemeralContainers"]) {
      expect(images("imagepolicy-lab-images-pods")).toContain(`object.spec.?${field}.orValue([])`);
      expect(images("imagepolicy-lab-images-workloads")).toContain(`object.spec.?template.?spec.?${field}.orValue([])`);
      expect(images("imagepolicy-lab-images-cronjobs")).toContain(`object.spec.?jobTemplate.?spec.?template.?spec.?${field}.orValue([])`);
    }
  });

  it("denies with reason Forbidden (403) and names the images, fails closed, takes a ConfigMap as params", () => {
    for (const p of policies) {
      expect(p.spec?.failurePolicy).toBe("Fail");
      expect(p.spec?.paramKind).toEqual({ apiVersion: "v1", kind: "ConfigMap" });
      expect(p.spec?.validations?.map((v) => v.reason)).toEqual(["Forbidden", "Forbidden"]);
      expect(p.spec?.validations?.map((v) => v.messageExpression)).toEqual([
        expect.stringMatching(/^'invalid image reference\(s\): ' \+ /),
        expect.stringMatching(/^'untrusted registry for image\(s\): ' \+ /),
      ]);
      // Every variable a validation reads is defined before use.
      const names = p.spec!.variables!.map((v) => v.name);
      p.spec!.variables!.forEach((v, i) => {
        for (const [, used] of v.expression.matchAll(/variables\.(\w+)/g)) expect(names.slice(0, i), `${v.name} uses ${used}`).toContain(used);
      });
    }
  });

  it("binds with Deny, the namespace's own trust ConfigMap (missing = deny), and not in kube-system", () => {
    for (const b of bindings) {
      expect(b.spec?.validationActions).toEqual(["Deny"]);
      expect(b.spec?.paramRef).toEqual({ name: TRUST_PARAM_NAME, parameterNotFoundAction: "Deny" });
      expect(b.spec?.matchResources?.namespaceSelector).toEqual({
        matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: [...VAP_EXEMPT_NAMESPACES] }],
      });
    }
    expect(VAP_EXEMPT_NAMESPACES).toContain("kube-system");
  });

  it("exempts exactly the namespaces where the stub's DEFAULT_POLICY allows everything", () => {
    const allowAll = Object.entries(DEFAULT_POLICY.namespaces)
      .filter(([, r]) => r.allowRegistries.includes(ANY_REGISTRY))
      .map(([ns]) => ns);
    expect([...VAP_EXEMPT_NAMESPACES].sort()).toEqual(allowAll.sort());
  });

  it("returns fresh objects each time", () => {
    const a = vapObjects();
    a.policies[0]!.spec!.validations!.pop();
    expect(vapObjects().policies[0]!.spec!.validations).toHaveLength(2);
  });
});

describe("trustConfigMap and trustFromEntries", () => {
  it("splits a scenario's trust list like the stub's trustPolicy", () => {
    // "/" decides: `nginx` is a registry named nginx (as for the stub), not Docker Hub's image.
    const entries = ["Trusted.Example", "index.docker.io", "nginx", "docker.io/library/nginx", "quay.io/team", "localhost:5000"];
    const p = trustPolicy(entries);
    expect(trustFromEntries(entries)).toEqual({ registries: p.allowRegistries, repositories: p.allowRepositories });
    expect(trustFromEntries(entries)).toEqual({ registries: ["trusted.example", "docker.io", "nginx", "localhost:5000"], repositories: ["docker.io/library/nginx", "quay.io/team"] });
    expect(() => trustFromEntries(["trusted.example:notaport"])).toThrow(ConfigError);
  });

  it("writes normalized, comma-separated entries into the namespace's ConfigMap", () => {
    expect(trustConfigMap("team-a", { registries: ["Trusted.Example", "trusted.example", "*"], repositories: ["nginx", "Quay.IO/team/app"] })).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: TRUST_PARAM_NAME, namespace: "team-a", labels: { "app.kubernetes.io/managed-by": "imagepolicy-lab" } },
      data: { registries: "trusted.example,*", repositories: "docker.io/library/nginx,quay.io/team/app" },
    });
    expect(trustConfigMap("team-b", { registries: [], repositories: [] }).data).toEqual({ registries: "", repositories: "" });
  });

  it("refuses entries the stub would refuse, naming each", () => {
    let err: unknown;
    try {
      trustConfigMap("team-a", { registries: ["quay.io/team", "ok.example"], repositories: ["trusted.io", "quay.io/Team"] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path)).toEqual(["registries.0", "repositories.0", "repositories.1"]);
  });
});

describe("renderVapYaml", () => {
  it("is a commented multi-document YAML of the objects, plus one ConfigMap per namespace given", () => {
    const trust = { registries: ["trusted.example"], repositories: [] };
    const text = renderVapYaml({ namespaces: { "team-a": trust } });
    expect(text.startsWith("# imagepolicy-lab: ValidatingAdmissionPolicies")).toBe(true);
    const docs = parseAllDocuments(text);
    for (const d of docs) expect(d.errors).toEqual([]);
    expect(docs.map((d) => d.toJS())).toEqual([...policies, ...bindings, trustConfigMap("team-a", trust)]);
    expect(parseAllDocuments(renderVapYaml()).map((d) => d.toJS())).toEqual([...policies, ...bindings]);
  });
});

// ---- the grammar ----

/**
 * What the CEL computes for one image (variables heads → domains → refs → names), written again in
 * JavaScript so that the design can be checked against parseReference here; the e2e test checks the
 * CEL itself. Returns the lower-cased registry and registry/path, or undefined for an invalid reference.
 */
function celMirror(i: string): { registry: string; name: string } | undefined {
  const head = i.indexOf("/") < 0 ? "" : i.slice(0, i.indexOf("/"));
  const host = head !== "" && (head.includes(".") || head.includes(":") || head === "localhost" || head.toLowerCase() !== head);
  const domain = host ? (head === "index.docker.io" ? "docker.io" : head) : "docker.io";
  const rest0 = host ? i.slice(head.length + 1) : i;
  const rest = domain === "docker.io" && !rest0.includes("/") ? `library/${rest0}` : rest0;
  const path = rest.split("@")[0]!.split(":")[0]!;
  const re = (p: string) => new RegExp(p);
  const valid =
    i.length <= 1024 &&
    !(i.length === 64 && /^[a-f0-9]{64}$/.test(i)) &&
    (re(REFERENCE_PATTERNS.domain).test(domain) || re(REFERENCE_PATTERNS.pathComponent).test(domain)) &&
    re(REFERENCE_PATTERNS.remainder).test(rest) &&
    domain.length + path.length < 255;
  return valid ? { registry: domain.toLowerCase(), name: `${domain.toLowerCase()}/${path}` } : undefined;
}

function stubView(i: string): { registry: string; name: string } | undefined {
  const r = parseReference(i);
  return r.ok ? { registry: r.ref.registry.toLowerCase(), name: canonicalForms(r.ref).name } : undefined;
}

const HEX64 = "0123456789abcdef".repeat(4);
const CORNER_CASES = [
  "trusted.example/app:1",
  "TRUSTED.EXAMPLE/app",
  "Trusted.Example/App",
  "trusted.example.evil.com/app",
  "trusted.example:5000/app",
  "localhost:5000/x",
  "localhost/x",
  "nginx",
  "library/nginx",
  "bitnami/redis",
  "index.docker.io/nginx",
  "INDEX.DOCKER.IO/nginx",
  "docker.io/nginx:1.27@sha256:" + HEX64,
  "a_b.c/app",
  "a__b/c",
  "a___b/c",
  "[::1]:5000/x",
  "[::1/x",
  "x@sha256:" + HEX64.toUpperCase(),
  "x@sha384:" + HEX64,
  "x@md5:" + HEX64,
  HEX64,
  "nginx:" + "t".repeat(128),
  "nginx:" + "t".repeat(129),
  "nginx:-bad",
  "ex.com/" + "a".repeat(250),
  "ex.com/" + "a".repeat(246),
  "",
  "/x",
  "x/",
  "x//y",
  ":tag",
  "UPPER/lower",
  "a-/b",
  "-a.com/b",
  "a.com:/b",
  "a.com:port/b",
];

describe("REFERENCE_PATTERNS and the CEL's steps", () => {
  it.each(CORNER_CASES)("agree with the stub's parseReference on %j", (image) => {
    expect(celMirror(image)).toEqual(stubView(image));
  });

  it("agree with the stub's parseReference on generated references", () => {
    const piece = fc.constantFrom("a", "b", "Z", "0", ".", "_", "__", "-", ":", "/", "@", "sha256:", HEX64, "localhost", "docker.io", "index.docker.io", "[::1]", "5000", "library");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const image = parts.join("");
        expect(celMirror(image)).toEqual(stubView(image));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9.:/@_[\]-]{0,40}$/), (image) => {
        expect(celMirror(image)).toEqual(stubView(image));
      }),
      { numRuns: 3000 },
    );
  });
});
