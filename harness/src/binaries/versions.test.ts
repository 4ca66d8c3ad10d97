import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../util/errors.ts";
import { etcdVersionFromDependencies } from "./go-build.ts";
import { DEFAULT_K8S_VERSION, supportedVersions, versionInfo } from "./versions.ts";

describe("versions", () => {
  it("knows the default release and what it pins", () => {
    expect(supportedVersions()).toContain(DEFAULT_K8S_VERSION);
    expect(versionInfo("v1.36.1")).toEqual({
      version: "1.36.1",
      etcdVersion: "3.6.8",
      kind: { release: "v0.32.0", nodeImage: "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5" },
    });
  });

  it("rejects an unknown release with the list of supported ones", () => {
    let err: unknown;
    try {
      versionInfo("1.20.0");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]?.message).toContain(supportedVersions().join(", "));
  });

  // Cross-check against the real module when the Go module cache has it (it does after a build).
  const modCache = process.env.GOMODCACHE ?? join(process.env.GOPATH ?? join(homedir(), "go"), "pkg", "mod");
  for (const v of supportedVersions()) {
    const deps = join(modCache, "k8s.io", `kubernetes@v${v}`, "build", "dependencies.yaml");
    it.runIf(existsSync(deps))(`lists the etcd that Kubernetes ${v} pins in build/dependencies.yaml`, () => {
      expect(versionInfo(v).etcdVersion).toBe(etcdVersionFromDependencies(readFileSync(deps, "utf8")));
    });
  }
});
