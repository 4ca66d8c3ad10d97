// A run with OPA as ImagePolicyWebhook's backend says so in every report (terminal, HTML, JUnit,
// JSON); a run without says nothing about it.
import { describe, expect, it } from "vitest";
import { fixtureReport } from "./fixtures.ts";
import { renderHtml } from "./html.ts";
import { renderJson } from "./json.ts";
import { renderJUnit } from "./junit.ts";
import { renderSummaryTable } from "./terminal.ts";

const URL_ = "https://127.0.0.1:40123/v0/data/lab/imagereview/review";

describe("reports of a run with --backend opa", () => {
  const withOpa = fixtureReport({ opaBackend: { url: URL_ } });
  const without = fixtureReport();

  it("terminal: a backend line", () => {
    expect(renderSummaryTable(withOpa, { color: false, width: 200 })).toContain(`backend: OPA (ImagePolicyWebhook → ${URL_}, the shipped Rego)`);
    expect(renderSummaryTable(without, { color: false, width: 200 })).not.toContain("backend:");
  });

  it("HTML: the backend fact", () => {
    expect(renderHtml(withOpa)).toContain(`OPA with the shipped Rego (policies/opa) as ImagePolicyWebhook&#39;s backend, ${URL_}`);
    expect(renderHtml(without)).not.toContain("OPA");
  });

  it("JUnit: suite names and properties", () => {
    const xml = renderJUnit(withOpa);
    expect(xml).toContain(`<testsuite name="${withOpa.provider} backend:opa `);
    expect(xml).toContain('<property name="backend" value="opa"/>');
    expect(xml).toContain(`<property name="backendUrl" value="${URL_}"/>`);
    expect(renderJUnit(without)).not.toMatch(/backend:opa|property name="backend/);
  });

  it("JSON: the field", () => {
    expect(JSON.parse(renderJson(withOpa)).opaBackend).toEqual({ url: URL_ });
    expect(JSON.parse(renderJson(without))).not.toHaveProperty("opaBackend");
  });
});
