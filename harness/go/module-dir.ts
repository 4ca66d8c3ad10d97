// Where our own Go module (harness/go: the docker runtime wrapper, the node image's pause) lives, for
// the code that builds from it.
import { fileURLToPath } from "node:url";

export const OWN_GO_MODULE_DIR = fileURLToPath(new URL(".", import.meta.url)).replace(/\/$/, "");
