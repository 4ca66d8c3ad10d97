import { describe, expect, it } from "vitest";
import { metricsEvidence, parseSamples } from "./apiserver-metrics.ts";

// Lines as kube-apiserver 1.36.1 printed them in the fail-open measurement (ImagePolicyWebhook, backend refusing connections).
const BEFORE = `# HELP rest_client_requests_total [ALPHA] Number of HTTP requests, partitioned by status code, method, and host.
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",host="127.0.0.1:41249",method="GET"} 60
apiserver_admission_controller_admission_duration_seconds_count{name="ImagePolicyWebhook",operation="CREATE",rejected="false",type="validate"} 196
apiserver_admission_webhook_fail_open_count{name="images.imagepolicy-lab.dev",type="validating"} 1
apiserver_admission_controller_admission_duration_seconds_bucket{name="ImagePolicyWebhook",operation="CREATE",rejected="false",type="validate",le="0.005"} 196
`;
const AFTER = `rest_client_requests_total{code="200",host="127.0.0.1:41249",method="GET"} 61
rest_client_requests_total{code="<error>",host="127.0.0.1:46805",method="POST"} 3
rest_client_requests_total{code="201",host="127.0.0.1:41249",method="POST"} 2
rest_client_requests_total{code="200",host="[::1]:6443",method="GET"} 9
rest_client_requests_total{code="201",host="[::1]:6443",method="POST"} 4
apiserver_admission_controller_admission_duration_seconds_count{name="ImagePolicyWebhook",operation="CREATE",rejected="false",type="validate"} 204
apiserver_admission_webhook_fail_open_count{name="images.imagepolicy-lab.dev",type="validating"} 4
`;

describe("apiserver metrics", () => {
  it("parses only the counters the probe reads, labels unescaped", () => {
    expect(parseSamples(`${BEFORE}rest_client_requests_total{code="x\\"y",host="h",method="POST"} 1e1\n`)).toEqual([
      { name: "rest_client_requests_total", labels: { code: "200", host: "127.0.0.1:41249", method: "GET" }, value: 60 },
      { name: "apiserver_admission_controller_admission_duration_seconds_count", labels: { name: "ImagePolicyWebhook", operation: "CREATE", rejected: "false", type: "validate" }, value: 196 },
      { name: "apiserver_admission_webhook_fail_open_count", labels: { name: "images.imagepolicy-lab.dev", type: "validating" }, value: 1 },
      { name: "rest_client_requests_total", labels: { code: 'x"y', host: "h", method: "POST" }, value: 10 },
    ]);
  });

  it("reports what changed during the probe, leaving out the apiserver talking to itself (its server address, and hosts it also GETs from)", () => {
    const e = metricsEvidence({ ok: true, samples: parseSamples(BEFORE) }, { ok: true, samples: parseSamples(AFTER) }, "127.0.0.1:41249");
    expect(e).toEqual({ readable: true, imagePolicyWebhookEnabled: true, webhookFailOpen: { "images.imagepolicy-lab.dev": 3 }, outgoingPosts: [{ host: "127.0.0.1:46805", code: "<error>", count: 3 }] });
  });

  it("an unreadable read makes the evidence unreadable, with the reason", () => {
    expect(metricsEvidence({ ok: false, reason: "GET /metrics answered 403" }, { ok: false, reason: "x" }, "h")).toEqual({ readable: false, reason: "GET /metrics answered 403" });
  });
});
