import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { renderCatalogTable, readmeCatalogSection } from "./catalog-doc.ts";
import { CATALOG_DIR, loadScenarios, resolveScenarioArgs } from "./load.ts";

describe("README catalog table", () => {
  it("lists every catalog scenario as rendered from the files", async () => {
    const scenarios = await loadScenarios(await resolveScenarioArgs([], CATALOG_DIR));
    const section = await readmeCatalogSection(resolve(CATALOG_DIR, "../README.md"));
    // Regenerate with: npx tsx harness/src/scenario/update-readme-catalog.ts
    expect(section).toBe(renderCatalogTable(scenarios));
  });
});

describe("README scenario example", () => {
  it("is a valid scenario file", async () => {
    const { readFile } = await import("node:fs/promises");
    const { parseYamlSource } = await import("../util/yaml-source.ts");
    const { validateScenario } = await import("./load.ts");
    const readme = await readFile(resolve(CATALOG_DIR, "../README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Writing a scenario"));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml, "a yaml block under 'Writing a scenario'").toBeDefined();
    expect(validateScenario(parseYamlSource("README.md", yaml!))).toEqual([]);
  });
});
