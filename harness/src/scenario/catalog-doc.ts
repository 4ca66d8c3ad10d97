// Renders the catalog as a Markdown table for the README; a unit test keeps the README current.
import { readFile } from "node:fs/promises";
import type { LoadedScenario } from "./load.ts";
import type { MechanismName } from "../mechanism/names.ts";
import { scenarioMechanisms } from "./for-mechanism.ts";
import { scenarioProfile } from "./runner.ts";

const MECHANISM_SHORT: Record<MechanismName, string> = { imagepolicywebhook: "IPW", webhook: "webhook", vap: "VAP", opa: "OPA" };

export const CATALOG_START = "<!-- catalog:start -->";
export const CATALOG_END = "<!-- catalog:end -->";

export function renderCatalogTable(scenarios: LoadedScenario[]): string {
  const rows = scenarios.map((s) => {
    const p = scenarioProfile(s.doc);
    const profile = `${p.defaultAllow ? "open" : "closed"}, TTL ${p.allowTTL}/${p.denyTTL}, backoff ${p.retryBackoff}`;
    const teaches = s.doc.description.trim().replace(/\s+/g, " ").replaceAll("|", "\\|");
    const mechanisms = scenarioMechanisms(s.doc).map((m) => MECHANISM_SHORT[m]).join(", ");
    return `| \`${s.doc.name}\`${s.doc.slow ? " (slow)" : ""} | ${mechanisms} | ${profile} | ${teaches} |`;
  });
  return ["| scenario | mechanisms | profile | what it shows |", "|---|---|---|---|", ...rows].join("\n");
}

/** The README's catalog section as it stands (between the markers). */
export async function readmeCatalogSection(readmePath: string): Promise<string | undefined> {
  const text = await readFile(readmePath, "utf8");
  const a = text.indexOf(CATALOG_START);
  const b = text.indexOf(CATALOG_END);
  return a >= 0 && b > a ? text.slice(a + CATALOG_START.length, b).trim() : undefined;
}
