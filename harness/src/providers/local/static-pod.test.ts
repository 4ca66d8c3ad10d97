import { describe, expect, it } from "vitest";
import { ConfigError } from "../../util/errors.ts";
import { parseApiserverManifest, renderApiserverManifest, unmountedPaths } from "./static-pod.ts";

const args = ["--admission-control-config-file=/lab/admission/admission-config.yaml", "--client-ca-file=/lab/pki/ca.crt", "--secure-port=6443"];
const mounts = [
  { name: "admission", path: "/lab/admission" },
  { name: "k8s-certs", path: "/lab/pki" },
];

describe("static pod manifest", () => {
  it("round-trips the command line and the mounts", () => {
    const parsed = parseApiserverManifest("m.yaml", renderApiserverManifest(args, mounts));
    expect(parsed).toEqual({ args, mounted: ["/lab/admission", "/lab/pki"] });
    expect(unmountedPaths(parsed, "/lab")).toEqual([]);
  });

  it("finds flag values under the state dir that no volume mounts", () => {
    const parsed = parseApiserverManifest("m.yaml", renderApiserverManifest(args, mounts.slice(1)));
    expect(unmountedPaths(parsed, "/lab")).toEqual(["/lab/admission/admission-config.yaml"]);
  });

  it("names the line of a YAML error and of a wrong command", () => {
    const text = renderApiserverManifest(args, mounts);
    const problem = (t: string) => {
      try {
        parseApiserverManifest("m.yaml", t);
      } catch (err) {
        return (err as ConfigError).issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
      }
      return [];
    };
    expect(problem(text.replace("kind: Pod", "kind: Pod\n  bad: [x"))[0]).toMatch(/^\d+: : YAML syntax/);
    const wrong = text.replace("- kube-apiserver\n", "- kube-apiserverr\n");
    const line = wrong.split("\n").findIndex((l) => l.includes("kube-apiserverr")) + 1;
    expect(problem(wrong)).toEqual([`${line}: spec.containers.0.command.0: expected kube-apiserver, got "kube-apiserverr"`]);
  });
});
