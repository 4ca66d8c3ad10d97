// The catalog's scenarios that apply to a validating admission webhook (the stub's AdmissionReview
// endpoint behind a ValidatingWebhookConfiguration), on the local provider's real apiserver.
import { LocalProvider } from "../providers/local/local-provider.ts";
import { defineCatalogSuite } from "../../test/catalog-suite.ts";

await defineCatalogSuite({ title: "conformance catalog, validating webhook, local provider", mechanism: "webhook", provider: () => new LocalProvider() });
