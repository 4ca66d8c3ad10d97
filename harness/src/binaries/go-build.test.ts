import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LabError } from "../util/errors.ts";
import { etcdBuildGoMod, etcdLdflags, etcdVersionFromDependencies, formatElapsed, kubernetesBuildGoMod, kubernetesLdflags, parseGoMod, toolsGo } from "./go-build.ts";

// Fixtures are the real go.mod files of the modules (copied from the module cache).
const k8sGoMod = readFileSync(new URL("./testdata/kubernetes-v1.36.1.go.mod", import.meta.url), "utf8");
const etcdGoMod = readFileSync(new URL("./testdata/etcd-server-v3.6.8.go.mod", import.meta.url), "utf8");

describe("kubernetesBuildGoMod", () => {
  const generated = kubernetesBuildGoMod(k8sGoMod, "1.36.1");
  const directives = parseGoMod(generated);

  it("pins every ./staging replace of kubernetes' go.mod to the published v0.<minor>.<patch>", () => {
    const staging = parseGoMod(k8sGoMod).filter((d) => d.verb === "replace" && d.args.includes("./staging/"));
    const replaces = directives.filter((d) => d.verb === "replace").map((d) => d.args);
    expect(staging.length).toBeGreaterThan(30);
    expect(replaces).toHaveLength(staging.length);
    expect(replaces).toContain("k8s.io/api => k8s.io/api v0.36.1");
    expect(replaces).toContain("k8s.io/kube-controller-manager => k8s.io/kube-controller-manager v0.36.1");
    expect(replaces.every((r) => /^(\S+) => \1 v0\.36\.1$/.test(r))).toBe(true);
  });

  it("requires the module and copies its go and godebug directives", () => {
    expect(directives).toContainEqual({ verb: "require", args: "k8s.io/kubernetes v1.36.1" });
    expect(directives).toContainEqual({ verb: "go", args: "1.26.0" });
    expect(directives).toContainEqual({ verb: "godebug", args: "default=go1.26" });
    expect(directives.find((d) => d.verb === "module")?.args).toBe("imagepolicy-lab.local/kubernetes-build");
  });

  it("handles single-line replaces, comments and pre-release versions", () => {
    const text = [
      "module k8s.io/kubernetes",
      "go 1.25.0 // the language version",
      "replace k8s.io/api v0.0.0 => ./staging/src/k8s.io/api",
      "replace github.com/foo/bar => github.com/fork/bar v1.2.3",
    ].join("\n");
    const out = parseGoMod(kubernetesBuildGoMod(text, "1.35.0-rc.1")).filter((d) => d.verb === "replace").map((d) => d.args);
    expect(out).toEqual(["k8s.io/api => k8s.io/api v0.35.0-rc.1", "github.com/foo/bar => github.com/fork/bar v1.2.3"]);
  });

  it("refuses a local replace it cannot reproduce, and a go.mod without staging replaces", () => {
    const local = "module k8s.io/kubernetes\ngo 1.26.0\nreplace k8s.io/api => ./staging/src/k8s.io/api\nreplace example.com/x => ../x\n";
    expect(() => kubernetesBuildGoMod(local, "1.36.1")).toThrow(LabError);
    expect(() => kubernetesBuildGoMod("module example.com/other\ngo 1.26.0\n", "1.36.1")).toThrow(LabError);
    expect(() => kubernetesBuildGoMod("module k8s.io/kubernetes\nreplace k8s.io/api => ./staging/src/k8s.io/api\n", "1.36.1")).toThrow(/no go directive/);
  });
});

describe("etcdBuildGoMod", () => {
  it("requires the server module and the sibling modules etcd replaces with ../ paths, at the same tag", () => {
    const d = parseGoMod(etcdBuildGoMod(etcdGoMod, "3.6.8"));
    expect(d.filter((x) => x.verb === "require").map((x) => x.args)).toEqual([
      "go.etcd.io/etcd/server/v3 v3.6.8",
      "go.etcd.io/etcd/api/v3 v3.6.8",
      "go.etcd.io/etcd/client/pkg/v3 v3.6.8",
      "go.etcd.io/etcd/client/v3 v3.6.8",
      "go.etcd.io/etcd/pkg/v3 v3.6.8",
    ]);
    // The FORBIDDEN_DEPENDENCY guards are not carried over; no replace at all is needed.
    expect(d.filter((x) => x.verb === "replace")).toEqual([]);
    expect(d).toContainEqual({ verb: "go", args: "1.24.0" });
  });
});

describe("ldflags", () => {
  it("sets the version variables hack/lib/version.sh sets, in both version packages", () => {
    const flags = kubernetesLdflags("1.36.1", { gitCommit: "abc", buildDate: "2026-05-12T09:51:33Z" }).split(" ");
    for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
      expect(flags).toContain(`${pkg}.gitVersion=v1.36.1`);
      expect(flags).toContain(`${pkg}.gitMajor=1`);
      expect(flags).toContain(`${pkg}.gitMinor=36`);
      expect(flags).toContain(`${pkg}.gitCommit=abc`);
      expect(flags).toContain(`${pkg}.buildDate=2026-05-12T09:51:33Z`);
    }
    expect(flags.slice(-2)).toEqual(["-s", "-w"]);
    expect(etcdLdflags("v3.6.8")).toBe("-X go.etcd.io/etcd/api/v3/version.GitSHA=v3.6.8 -s -w");
  });
});

describe("helpers", () => {
  it("reads the etcd pin from build/dependencies.yaml", () => {
    const yaml = 'dependencies:\n  - name: "protoc"\n    version: 23.4\n  - name: "etcd"\n    version: 3.6.8\n    refPaths: []\n';
    expect(etcdVersionFromDependencies(yaml)).toBe("3.6.8");
    expect(etcdVersionFromDependencies("dependencies: []\n")).toBeUndefined();
  });

  it("renders tools.go and elapsed times", () => {
    expect(toolsGo(["a/b"])).toBe('//go:build tools\n\npackage tools\n\nimport (\n\t_ "a/b"\n)\n');
    expect([formatElapsed(9_900), formatElapsed(61_000), formatElapsed(600_000)]).toEqual(["9s", "1m01s", "10m00s"]);
  });
});
