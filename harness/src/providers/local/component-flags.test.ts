import { describe, expect, it } from "vitest";
import { apiserverFlags, AUDIT_POLICY, controllerManagerFlags, etcdFlags } from "./component-flags.ts";
import { FIXTURE_LAYOUT, FIXTURE_PKI, FIXTURE_PORTS } from "./flags-fixture.ts";
import { parse } from "yaml";

const PKI = FIXTURE_PKI;
const LAYOUT = FIXTURE_LAYOUT;
const PORTS = FIXTURE_PORTS;

const COMPONENTS = {
  etcd: etcdFlags(PKI, LAYOUT, PORTS),
  "kube-apiserver": apiserverFlags(PKI, LAYOUT, PORTS),
  "kube-controller-manager": controllerManagerFlags(PKI, LAYOUT, PORTS),
};

/** `--name=value` → [name, value]; every element must have that form. */
function pairs(argv: string[]): [string, string][] {
  return argv.map((a) => {
    const m = /^--([a-z0-9-]+)=(.*)$/s.exec(a);
    if (!m) throw new Error(`not a --name=value flag: ${a}`);
    return [m[1]!, m[2]!];
  });
}
const values = (argv: string[], name: string) => pairs(argv).filter(([k]) => k === name).map(([, v]) => v);
const one = (argv: string[], name: string) => {
  const v = values(argv, name);
  expect(v, `--${name} given once`).toHaveLength(1);
  return v[0]!;
};

describe.each(Object.entries(COMPONENTS))("%s argv", (_name, argv) => {
  it("is --name=value pairs, each name once, sorted by name", () => {
    const names = pairs(argv).map(([k]) => k);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([...names].sort());
  });

  it("has no insecure or plain-HTTP settings", () => {
    for (const [k, v] of pairs(argv)) {
      expect(k).not.toMatch(/insecure|anonymous-auth|skip-verify/);
      expect(v).not.toMatch(/^http:\/\//);
      if (/client-cert-auth$/.test(k)) expect(v).toBe("true");
    }
  });

  it("names only absolute file paths from the pki and the layout", () => {
    const known = new Set([...Object.values(LAYOUT), ...Object.keys({ ...PKI.files }).map((k) => `/pki/${k}`)]);
    for (const [k, v] of pairs(argv)) {
      if (/(file|dir|kubeconfig|path)$/.test(k)) {
        expect(v.startsWith("/"), `--${k}=${v}`).toBe(true);
        if (k !== "admission-control-config-file") expect(v.startsWith("/pki/") || known.has(v), `--${k}=${v}`).toBe(true);
      }
    }
  });
});

describe("etcd flags", () => {
  const argv = COMPONENTS.etcd;
  it.each([
    ["cert-file", "/pki/etcdCert"],
    ["key-file", "/pki/etcdKey"],
    ["trusted-ca-file", "/pki/etcdCa"],
    ["client-cert-auth", "true"],
    ["peer-cert-file", "/pki/etcdCert"],
    ["peer-key-file", "/pki/etcdKey"],
    ["peer-trusted-ca-file", "/pki/etcdCa"],
    ["peer-client-cert-auth", "true"],
    ["listen-client-urls", "https://127.0.0.1:20001"],
    ["advertise-client-urls", "https://127.0.0.1:20001"],
    ["listen-peer-urls", "https://127.0.0.1:20002"],
    ["initial-cluster", "imagepolicy-lab=https://127.0.0.1:20002"],
    ["data-dir", "/state/etcd"],
  ])("--%s=%s", (name, value) => {
    expect(one(argv, name)).toBe(value);
  });
  it("keeps the election timeout above the heartbeat (etcd refuses otherwise)", () => {
    expect(Number(one(argv, "election-timeout"))).toBeGreaterThanOrEqual(5 * Number(one(argv, "heartbeat-interval")));
  });
});

describe("kube-apiserver flags", () => {
  const argv = COMPONENTS["kube-apiserver"];
  it.each([
    ["etcd-servers", "https://127.0.0.1:20001"],
    ["etcd-cafile", "/pki/etcdCa"],
    ["etcd-certfile", "/pki/etcdClientCert"],
    ["etcd-keyfile", "/pki/etcdClientKey"],
    ["secure-port", "20003"],
    ["bind-address", "127.0.0.1"],
    ["tls-cert-file", "/pki/apiserverCert"],
    ["tls-private-key-file", "/pki/apiserverKey"],
    ["client-ca-file", "/pki/ca"],
    ["service-account-key-file", "/pki/serviceAccountPub"],
    ["service-account-signing-key-file", "/pki/serviceAccountKey"],
    ["authorization-mode", "Node,RBAC"],
    ["audit-policy-file", "/state/audit-policy.yaml"],
    ["audit-log-path", "/state/logs/audit.log"],
    ["audit-log-format", "json"],
    ["admission-control-config-file", "/state/admission/admission-config.yaml"],
  ])("--%s=%s", (name, value) => {
    expect(one(argv, name)).toBe(value);
  });

  it("enables NodeRestriction and ImagePolicyWebhook, each exactly once, in one flag", () => {
    const plugins = one(argv, "enable-admission-plugins").split(",");
    expect(plugins.filter((p) => p === "NodeRestriction")).toHaveLength(1);
    expect(plugins.filter((p) => p === "ImagePolicyWebhook")).toHaveLength(1);
    expect(values(argv, "disable-admission-plugins").join(",")).not.toMatch(/ImagePolicyWebhook|NodeRestriction/);
    expect(argv.filter((a) => a.startsWith("--admission-control="))).toEqual([]);
  });
});

describe("kube-controller-manager flags", () => {
  const argv = COMPONENTS["kube-controller-manager"];
  it.each([
    ["kubeconfig", "/state/kcm.kubeconfig"],
    ["authentication-kubeconfig", "/state/kcm.kubeconfig"],
    ["authorization-kubeconfig", "/state/kcm.kubeconfig"],
    ["secure-port", "20004"],
    ["bind-address", "127.0.0.1"],
    ["root-ca-file", "/pki/ca"],
    ["service-account-private-key-file", "/pki/serviceAccountKey"],
    ["use-service-account-credentials", "true"],
    ["leader-elect", "false"],
  ])("--%s=%s", (name, value) => {
    expect(one(argv, name)).toBe(value);
  });
  it("keeps the controllers workloads need (deployment, replicaset, job, serviceaccount)", () => {
    const controllers = one(argv, "controllers").split(",");
    expect(controllers[0]).toBe("*");
    for (const c of ["deployment", "replicaset", "job", "serviceaccount", "serviceaccount-token"]) expect(controllers).not.toContain(`-${c}`);
  });
});

describe("AUDIT_POLICY", () => {
  it("logs pod writes at Metadata and drops everything else", () => {
    const policy = parse(AUDIT_POLICY) as { kind: string; rules: { level: string; resources?: { resources: string[] }[]; verbs?: string[] }[] };
    expect(policy.kind).toBe("Policy");
    expect(policy.rules[0]).toMatchObject({ level: "Metadata", verbs: ["create", "update", "patch"] });
    expect(policy.rules[0]!.resources![0]!.resources).toEqual(["pods", "pods/ephemeralcontainers"]);
    expect(policy.rules.at(-1)).toEqual({ level: "None" });
  });
});
