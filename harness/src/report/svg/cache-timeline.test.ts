import { describe, expect, it } from "vitest";
import { kindScenario } from "../testdata/kind-catalog.ts";
import { cacheTimelineModel, cacheTimelineSvg, isCacheScenario, rowLabel } from "./cache-timeline.ts";

const kinds = (name: string) => cacheTimelineModel(kindScenario(name).s)!.rows.map((r) => r.kind);

describe("cache timeline", () => {
  it("classifies the TTL scenarios from their steps and journal", () => {
    expect(kinds("allow-ttl-expiry")).toEqual(["stored", "hit", "expired"]);
    expect(kinds("deny-ttl-expiry")).toEqual(["stored", "hit", "expired"]);
    expect(kinds("errors-not-cached")).toEqual(["not-stored", "not-stored", "stored", "hit"]);
    expect(kinds("cache-key")).toEqual(["stored", "hit", "hit", "stored", "miss", "stored"]);
    expect(kinds("dry-run-fills-cache")).toEqual(["stored", "hit"]);
    expect(kinds("fail-open-not-cached")).toEqual(["no-call", "stored"]);
  });

  it("measures 'asked again' on the stub's clock, and counts the hits of a repeated step", () => {
    const { s } = kindScenario("allow-ttl-expiry");
    const m = cacheTimelineModel(s)!;
    const expired = m.rows[2]!;
    const stored = s.steps[0]!.journal[0]!;
    const again = s.steps[3]!.journal[0]!;
    expect(expired.sinceStoredMs).toBe(again.atMs - stored.atMs);
    expect(expired.storedTtlMs).toBe(2000);
    expect(expired.hitsBefore).toBe(s.steps[3]!.attempts - 1);
    expect(rowLabel(expired)).toBe(`hit ×${s.steps[3]!.attempts - 1}, then expired: asked again 2.08 s after stored → denied`);
    expect(m.changes.map((c) => c.step.action)).toEqual(["setBackend"]);
  });

  it("is drawn for scenarios whose profile caches and that send two requests or more", () => {
    expect(isCacheScenario(kindScenario("allow-ttl-expiry").s)).toBe(true);
    expect(isCacheScenario(kindScenario("ttl-minus-one-disables-cache").s)).toBe(false); // TTL -1: nothing cached
    expect(isCacheScenario(kindScenario("fail-open-http-500").s)).toBe(false); // one request
    expect(cacheTimelineSvg(kindScenario("fail-open-http-500").s)).toBe("");
  });

  it("renders one row per request step, the TTL and its expiry window", () => {
    const svg = cacheTimelineSvg(kindScenario("allow-ttl-expiry").s);
    expect([...svg.matchAll(/<g class="row [^"]+" data-kind="([^"]+)"/g)].map((m) => m[1])).toEqual(["stored", "hit", "expired"]);
    expect(svg).toContain(`<g class="ttl" data-ttl-ms="2000">`);
    expect(svg).toContain("allowTTL 2 s → expires");
    expect([...svg.matchAll(/<g class="expiry">/g)]).toHaveLength(1);
    expect(svg).toContain(`<g class="change" data-step="2">`);
    // A 30 s TTL after a 0.2 s scenario is an arrow off the chart, not a squashed axis.
    const long = cacheTimelineSvg(kindScenario("cache-key").s);
    expect(long).toContain("allowTTL 30 s: expires at +30.0 s, off the chart");
  });

  it("calls an answer without a backend call a hit only after something was stored", () => {
    const { s } = kindScenario("fail-open-not-cached");
    const m = cacheTimelineModel(s)!;
    expect(m.rows[0]!.kind).toBe("no-call");
    expect(rowLabel(m.rows[0]!)).toBe("admitted 201 without a backend call; nothing stored");
  });
});
