import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { sleep } from "../util/wait.ts";
import { evaluate } from "./checks.ts";
import { apiOutcome, observedStatus } from "./k8s-actions.ts";

const SUBS = { ns: "n" };

describe("apiOutcome: every status is the one received", () => {
  it.each([200, 201, 202])("an allowed request reports the status that came back (%i)", async (code) => {
    expect(await apiOutcome(async () => ({ httpStatusCode: code, data: {} }))).toMatchObject({ code, allowed: true });
  });

  it("an allowed create whose response carries no status is 'not observed', never an assumed 201", async () => {
    const outcome = await apiOutcome(async () => ({ httpStatusCode: undefined, data: { kind: "Pod" } }));
    expect(outcome.allowed).toBe(true);
    expect(outcome.code).toBeUndefined();
    // Whatever code a scenario expects, an unobserved one does not meet it, and the check says why.
    for (const code of [200, 201, 403]) {
      expect(evaluate({ code }, { outcome, entries: [] }, SUBS)).toEqual([{ what: "code", expected: String(code), observed: "not observed", ok: false }]);
    }
    expect(evaluate({ allowed: true }, { outcome, entries: [] }, SUBS)[0]).toMatchObject({ observed: "allowed", ok: true });
  });

  it("an error status keeps its own code and the Status message", async () => {
    const body = JSON.stringify({ kind: "Status", code: 403, message: 'pods "p0" is forbidden: image policy webhook backend denied one or more images' });
    const outcome = await apiOutcome(async () => {
      throw new ApiException(403, "Forbidden", body, {});
    });
    expect(outcome).toMatchObject({ code: 403, allowed: false, message: 'pods "p0" is forbidden: image policy webhook backend denied one or more images' });
  });

  it("a request that got no HTTP response is not an outcome: the error propagates", async () => {
    const err = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    await expect(
      apiOutcome(async () => {
        throw err;
      }),
    ).rejects.toBe(err);
  });

  it("measures the request's duration", async () => {
    const outcome = await apiOutcome(async () => {
      await sleep(30);
      return { httpStatusCode: 201 };
    });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(25);
    expect(outcome.durationMs).toBeLessThan(5_000);
  });
});

describe("observedStatus", () => {
  it.each<[unknown, number | undefined]>([
    [201, 201],
    [100, 100],
    [599, 599],
    [undefined, undefined],
    [0, undefined],
    [99, undefined],
    [600, undefined],
    [201.5, undefined],
    [Number.NaN, undefined],
    ["201", undefined],
  ])("%j -> %j", (code, want) => {
    expect(observedStatus(code)).toBe(want);
  });
});
