// The catalog's scenarios that apply to a ValidatingAdmissionPolicy (CEL, generated from the trust
// list; no backend), on the local provider's real apiserver.
import { LocalProvider } from "../providers/local/local-provider.ts";
import { defineCatalogSuite } from "../../test/catalog-suite.ts";

await defineCatalogSuite({ title: "conformance catalog, ValidatingAdmissionPolicy, local provider", mechanism: "vap", provider: () => new LocalProvider() });
