import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../util/errors.ts";
import { BINARIES_ENV, envTableMarkdown, readEnvFlag } from "./env.ts";

describe("environment variables", () => {
  it("parses yes/no switches and refuses anything else", () => {
    for (const v of ["1", "true", "YES", "on"]) expect(readEnvFlag({ IMAGEPOLICY_LAB_NO_BUILD: v }, "IMAGEPOLICY_LAB_NO_BUILD")).toBe(true);
    for (const v of ["0", "false", "no", "off", "", undefined]) expect(readEnvFlag({ IMAGEPOLICY_LAB_NO_BUILD: v }, "IMAGEPOLICY_LAB_NO_BUILD")).toBe(false);
    expect(() => readEnvFlag({ IMAGEPOLICY_LAB_NO_BUILD: "2" }, "IMAGEPOLICY_LAB_NO_BUILD")).toThrow(ConfigError);
  });

  // The table is the documentation, so no code in this directory may read a variable it lacks.
  it("reads no variable that the table does not document", () => {
    const dir = new URL("./", import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    // Variables we set for `go`, not read from the user.
    const setForGo = new Set(["CGO_ENABLED", "GOWORK", "GOVERSION"]);
    const used = new Set<string>();
    for (const file of sources) {
      const text = readFileSync(new URL(file, dir), "utf8");
      for (const m of text.matchAll(/\benv(?:\.|\[\s*")([A-Z][A-Z0-9_]+)/g)) used.add(m[1] ?? "");
      for (const m of text.matchAll(/readEnv(?:Flag)?\([^,]+,\s*"([A-Z0-9_]+)"\)/g)) used.add(m[1] ?? "");
      for (const m of text.matchAll(/"((?:TEST_ASSET|IMAGEPOLICY_LAB|KUBEBUILDER)_[A-Z0-9_]+)"/g)) used.add(m[1] ?? "");
    }
    const undocumented = [...used].filter((n) => !(n in BINARIES_ENV) && !setForGo.has(n));
    expect(undocumented).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  });

  it("renders the table as Markdown", () => {
    expect(envTableMarkdown().split("\n")).toHaveLength(Object.keys(BINARIES_ENV).length + 2);
  });
});
