import { describe, expect, it } from "vitest";
import { evaluate } from "../../../webhook-stub/src/policy.ts";
import { labTrustPolicy } from "./lab-trust.ts";

const review = (image: string, namespace: string) => ({ containers: [{ image }], namespace });

describe("labTrustPolicy", () => {
  it("on kind keeps the cluster's own namespaces admitted", () => {
    const p = labTrustPolicy("kind", ["trusted.example"]);
    expect(evaluate(p, review("registry.k8s.io/coredns/coredns:v1.12.0", "kube-system")).allowed).toBe(true);
    expect(evaluate(p, review("docker.io/kindest/local-path-provisioner:v1", "local-path-storage")).allowed).toBe(true);
    expect(evaluate(p, review("nginx:1.25", "default")).allowed).toBe(false);
    expect(evaluate(p, review("trusted.example/app:1", "default")).allowed).toBe(true);
  });

  it("on the local provider allows exactly the entries, everywhere", () => {
    const p = labTrustPolicy("local", ["trusted.example"]);
    expect(evaluate(p, review("registry.k8s.io/pause:3.10", "kube-system")).allowed).toBe(false);
    expect(evaluate(p, review("trusted.example/app:1", "kube-system")).allowed).toBe(true);
  });
});
