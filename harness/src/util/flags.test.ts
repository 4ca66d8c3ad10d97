import { describe, expect, it } from "vitest";
import { Flags } from "./flags.ts";

describe("Flags", () => {
  it("renders --name=value sorted by name, whatever the insertion order", () => {
    const argv = new Flags().set("secure-port", 6443).set("audit-log-path", "/a.log").set("profiling", false).render();
    expect(argv).toEqual(["--audit-log-path=/a.log", "--profiling=false", "--secure-port=6443"]);
  });

  it("set replaces an earlier value", () => {
    const f = new Flags().set("v", 1).set("v", 2);
    expect(f.get("v")).toBe("2");
    expect(f.render()).toEqual(["--v=2"]);
  });

  it("keeps an empty value as --name=", () => {
    expect(new Flags().set("runtime-config", "").render()).toEqual(["--runtime-config="]);
  });

  it.each([
    // [existing value or undefined, items appended, result]
    [undefined, ["A"], "A"],
    ["NodeRestriction", ["ImagePolicyWebhook"], "NodeRestriction,ImagePolicyWebhook"],
    ["NodeRestriction", ["NodeRestriction,ImagePolicyWebhook"], "NodeRestriction,ImagePolicyWebhook"],
    ["A,B", ["B", "C", "A", "C"], "A,B,C"],
    ["", ["A", "", ",B,"], "A,B"],
    ["A", [], "A"],
  ] as const)("appendList onto %j with %j gives %j (order kept, no duplicates, no empty items)", (existing, items, result) => {
    const f = new Flags();
    if (existing !== undefined) f.set("enable-admission-plugins", existing);
    f.appendList("enable-admission-plugins", ...items);
    expect(f.get("enable-admission-plugins")).toBe(result);
  });

  it("setAll sets plain flags and merges list flags instead of replacing them", () => {
    const f = new Flags()
      .set("enable-admission-plugins", "NodeRestriction")
      .set("admission-control-config-file", "/old")
      .setAll({ "enable-admission-plugins": "NodeRestriction,ImagePolicyWebhook", "admission-control-config-file": "/new" }, ["enable-admission-plugins"]);
    expect(f.render()).toEqual(["--admission-control-config-file=/new", "--enable-admission-plugins=NodeRestriction,ImagePolicyWebhook"]);
  });

  it("setAll without list flags replaces every value", () => {
    const f = new Flags().set("enable-admission-plugins", "NodeRestriction").setAll({ "enable-admission-plugins": "ImagePolicyWebhook" });
    expect(f.get("enable-admission-plugins")).toBe("ImagePolicyWebhook");
  });

  it("delete removes a flag; get of an unknown flag is undefined", () => {
    const f = new Flags().set("a", 1).set("b", 2).delete("a").delete("never-set");
    expect(f.get("a")).toBeUndefined();
    expect(f.render()).toEqual(["--b=2"]);
  });

  it("renders each flag once", () => {
    const argv = new Flags().set("x", 1).appendList("l", "a").appendList("l", "b").set("x", 3).render();
    expect(argv).toEqual(["--l=a,b", "--x=3"]);
  });
});
