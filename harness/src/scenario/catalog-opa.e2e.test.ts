// The catalog's scenarios that apply to OPA (a real `opa run --server` with the shipped Rego behind a
// ValidatingWebhookConfiguration, trust lists as OPA data), on the local provider's real apiserver.
// Afterwards no OPA process of the lab is left.
import { expect } from "vitest";
import { LocalProvider } from "../providers/local/local-provider.ts";
import { processesMentioning } from "../providers/local/test-support.ts";
import { defineCatalogSuite } from "../../test/catalog-suite.ts";

let stateDir = "";
await defineCatalogSuite({
  title: "conformance catalog, OPA, local provider",
  mechanism: "opa",
  provider: () => new LocalProvider(),
  onReport: (_report, lab) => {
    stateDir = lab.stateDir;
  },
  afterStop: async () => {
    expect(stateDir).not.toBe("");
    expect(await processesMentioning(stateDir)).toEqual([]);
  },
});
