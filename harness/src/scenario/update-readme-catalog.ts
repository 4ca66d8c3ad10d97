// Rewrites the README's catalog table from scenarios/ (run after adding or editing a scenario).
import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { CATALOG_END, CATALOG_START, renderCatalogTable } from "./catalog-doc.ts";
import { CATALOG_DIR, loadScenarios, resolveScenarioArgs } from "./load.ts";

const readme = resolve(CATALOG_DIR, "../README.md");
const text = await readFile(readme, "utf8");
const table = renderCatalogTable(await loadScenarios(await resolveScenarioArgs([], CATALOG_DIR)));
const a = text.indexOf(CATALOG_START);
const b = text.indexOf(CATALOG_END);
if (a < 0 || b < a) throw new Error(`${readme} has no ${CATALOG_START} … ${CATALOG_END} section`);
await writeFile(readme, `${text.slice(0, a + CATALOG_START.length)}\n${table}\n${text.slice(b)}`);
console.log(`updated the catalog table in ${readme}`);
