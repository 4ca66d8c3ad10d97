// The conformance catalog on the local provider: real etcd, kube-apiserver and
// kube-controller-manager processes (harness/test/catalog-suite.ts plays it).
import { LocalProvider } from "../providers/local/local-provider.ts";
import { defineCatalogSuite } from "../../test/catalog-suite.ts";

await defineCatalogSuite({ title: "conformance catalog on the local provider", provider: () => new LocalProvider() });
