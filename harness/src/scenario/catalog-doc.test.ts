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
