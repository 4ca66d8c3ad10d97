#!/usr/bin/env node
// Runs a TypeScript entry file on a suitable Node: the current one when it is new enough, otherwise
// the Node that the `node` npm dependency installed (re-executed with the same arguments).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const MIN = [22, 19];

function newEnough(version) {
  const [major, minor] = version.split(".").map(Number);
  return major > MIN[0] || (major === MIN[0] && minor >= MIN[1]);
}

export async function runTs(entryUrl, args) {
  if (!newEnough(process.versions.node)) {
    const bundled = fileURLToPath(new URL("../node_modules/node/bin/node", import.meta.url));
    if (!existsSync(bundled)) {
      process.stderr.write(
        `imagepolicy-lab needs Node >= ${MIN.join(".")} (this is ${process.versions.node}); ` +
          `run 'npm ci' to install the bundled Node, or use Node 22.19+.\n`,
      );
      process.exit(2);
    }
    const child = spawn(bundled, [fileURLToPath(import.meta.url), fileURLToPath(entryUrl), ...args], {
      stdio: "inherit",
    });
    // Forward signals so the child's own cleanup runs (it owns every process the lab started). A
    // terminal's Ctrl-C reaches the child too; its handler takes the repeat as the same interrupt.
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
    const code = await new Promise((done) =>
      child.on("exit", (status, signal) => done(status ?? 128 + (constants.signals[signal] ?? 15))),
    );
    process.exit(code);
  }
  const { register } = await import("tsx/esm/api");
  register();
  // The entry reads its arguments from process.argv.slice(2), whichever way it was started.
  process.argv = [process.argv[0], fileURLToPath(entryUrl), ...args];
  await import(entryUrl.href);
}

// Used directly as `node bin/run-ts.mjs file.ts args...` (npm scripts, the re-exec above).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [entry, ...rest] = process.argv.slice(2);
  if (!entry) {
    process.stderr.write("usage: run-ts.mjs ENTRY.ts [args...]\n");
    process.exit(2);
  }
  await runTs(pathToFileURL(resolve(entry)), rest);
}
