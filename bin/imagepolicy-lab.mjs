#!/usr/bin/env node
// Entry point. The project needs Node >= 22.19 (testcontainers 12, client-node 2 and vitest 5 do);
// machines that ship an older Node get the one the `node` npm package brought into node_modules.
import { runTs } from "./run-ts.mjs";

await runTs(new URL("../harness/src/bin.ts", import.meta.url), process.argv.slice(2));
