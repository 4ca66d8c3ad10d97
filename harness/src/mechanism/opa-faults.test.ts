import { describe, expect, it } from "vitest";
import { ConfigError } from "../util/errors.ts";
import { opaFault, opaFaultIssue } from "./opa-faults.ts";

describe("opaFault: the stub's fault grammar, as far as OPA can play it", () => {
  it.each([
    ["healthy", "healthy"],
    [" refuse ", "refuse"],
    ["status:404", "status:404"],
    ["status:404:retry-after:1", undefined],
    ["status:500", undefined],
    ["hang", undefined],
    ["first:2:status:404", undefined],
    ["bad-cert", undefined],
  ])("%s → %s", (spec, want) => {
    expect(opaFault(spec)).toBe(want);
  });

  it("a spec that is no fault at all is the stub's ConfigError (the schema reports it in files)", () => {
    expect(() => opaFault("sometimes")).toThrow(ConfigError);
    expect(opaFaultIssue("sometimes")).toBeUndefined();
  });

  it("says which faults OPA plays and what they mean", () => {
    expect(opaFaultIssue("status:404")).toBeUndefined();
    expect(opaFaultIssue("delay:100")).toBe('opa plays only the faults refuse (OPA stopped, connections refused) and status:404 (an undefined decision, OPA answers 404); "delay:100" needs the stub');
  });
});
