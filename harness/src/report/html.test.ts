import { describe, expect, it } from "vitest";
import { fixtureReport, NASTY } from "./fixtures.ts";
import { escapeHtml, renderHtml } from "./html.ts";
import { kindCatalogReport } from "./testdata/kind-catalog.ts";

describe("renderHtml", () => {
  const report = fixtureReport();
  const html = renderHtml(report);

  it("contains every scenario name, escaped, in the table and in a <details>", () => {
    for (const [i, s] of report.scenarios.entries()) {
      expect(html).toContain(`<a href="#s-${i + 1}">${escapeHtml(s.name)}</a>`);
      expect(html).toContain(`<details id="s-${i + 1}" class="${s.verdict}"`);
    }
    expect(html).toContain("allow-cache &lt;ttl&gt; &amp; &quot;quotes&quot; 镜像");
  });

  it("never lets data open a tag: no <script anywhere, and scripts are forbidden by CSP", () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  it("shows control characters as pictures and keeps unicode", () => {
    expect(html).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/);
    expect(html).toContain("␀␁␛[31mred␛[0m␡");
    expect(html).toContain("镜像 🚀 e\u0301");
  });

  it("links only http(s) spec references", () => {
    expect(html).toContain(`<a href="https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#imagepolicywebhook" rel="noreferrer">`);
    expect(html).not.toContain(`href="javascript:`);
    expect(html).toContain("<dt>spec</dt><dd>javascript:alert(1)</dd>");
  });

  it("has totals, run facts, steps, checks and the backend journal", () => {
    expect(html).toContain(`<span class="badge pass">1 passed</span> <span class="badge fail">1 failed</span>`);
    expect(html).toContain("<dt>Kubernetes</dt><dd>v1.33.1</dd>");
    expect(html).toContain("run/wait ratio 2.18×");
    expect(html).toContain("step 2: create pod p1 again within allowTTL");
    expect(html).toContain(`<tr class="bad"><td>backend calls</td><td><code>0</code></td><td><code>1</code></td><td>✗</td></tr>`);
    expect(html).toContain("<code>first:1:delay:50</code>");
    expect(html).toContain("<code>imagepolicy.example.com/break-glass=&lt;script&gt;");
    expect(html).toContain("<td>no response</td><td>30000 ms</td>");
    expect(html).toMatch(/<details id="s-2" class="fail" open>/);
    expect(html).toMatch(/<details id="s-1" class="pass">/);
  });

  it("reports a lab error prominently", () => {
    const out = renderHtml(fixtureReport({ labError: `kube-apiserver exited: ${NASTY}` }));
    expect(out).toContain(`<div class="lab-error"><strong>The lab could not run:</strong><pre>kube-apiserver exited: &lt;script&gt;`);
    expect(out).not.toMatch(/<script/i);
  });

  it("balances its own markup", () => {
    const tags = [...html.matchAll(/<(\/?)(html|head|body|table|thead|tbody|tr|td|th|details|summary|section|dl|dt|dd|pre|code|ul|li|header|span|a|p|h[1-4])\b[^>]*>/g)];
    const stack: string[] = [];
    for (const [, close, name] of tags) {
      if (!close) stack.push(name!);
      else expect(stack.pop()).toBe(name);
    }
    expect(stack).toEqual([]);
  });

  it("opens a failed scenario with expected vs observed before anything else", () => {
    const details = html.slice(html.indexOf(`<details id="s-2"`));
    expect(details).toMatch(/^<details id="s-2" class="fail" open>\n<summary>.*<\/summary>\n<div class="evo"><h3>Expected vs observed<\/h3>/);
    expect(details).toContain(`<tr class="bad"><td>2</td><td>backend calls</td><td><code>0</code></td><td><code>1</code></td></tr>`);
    const first = html.indexOf(`<details id="s-1"`);
    expect(html.slice(first, html.indexOf("<details", first + 1))).not.toContain(`<div class="evo">`);
  });

  it("offers a filter that needs no script: one radio per verdict present", () => {
    expect(html).toContain(`<input type="radio" name="show" id="show-all" checked><label for="show-all">all 4</label>`);
    expect(html).toContain(`<label for="show-failed">failed 2</label>`);
    expect(html).toContain("body:has(#show-failed:checked)");
  });
});

describe("renderHtml with the pictures of a real run", () => {
  const report = kindCatalogReport();
  const html = renderHtml(report);

  it("has the overview pictures: matrix, retry and stall timelines, cache timelines", () => {
    expect(html).toContain(`<section id="pictures">`);
    expect(html).toContain(`<figure class="matrix" id="matrix">`);
    const i = report.scenarios.findIndex((s) => s.name === "fail-closed-http-500");
    expect(html).toContain(`<figure class="timeline" id="pic-calls-${i + 1}"><figcaption><a href="#s-${i + 1}">fail-closed-http-500</a>`);
    const c = report.scenarios.findIndex((s) => s.name === "allow-ttl-expiry");
    expect(html).toContain(`id="pic-cache-${c + 1}"`);
    // Each scenario with a request also has its timeline in its details.
    expect([...html.matchAll(/<svg [^>]*class="pic call-timeline"/g)].length).toBeGreaterThanOrEqual(report.scenarios.length);
  });

  it("loads nothing from anywhere: no script, no stylesheet link, no image source, no font", () => {
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|src=/i);
    // URLs appear only as text (apiserver messages) and as the SVG namespace, never as something to fetch.
    const attrUrls = [...html.matchAll(/\s[\w:-]+="(https?:\/\/[^"]*)"/g)].map((m) => m[1]);
    expect(new Set(attrUrls)).toEqual(new Set(["http://www.w3.org/2000/svg"]));
  });

  it("balances its markup, pictures included", () => {
    const tags = [...html.matchAll(/<(\/?)(html|head|body|table|thead|tbody|tr|td|th|details|summary|section|nav|figure|figcaption|div|dl|dt|dd|pre|code|ul|li|header|span|a|p|h[1-4]|svg|g|text|title)\b[^>]*?(\/?)>/g)];
    const stack: string[] = [];
    for (const [, close, name, selfClose] of tags) {
      if (selfClose) continue;
      if (!close) stack.push(name!);
      else expect(stack.pop()).toBe(name);
    }
    expect(stack).toEqual([]);
  });
});
