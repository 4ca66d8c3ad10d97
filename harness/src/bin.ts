// The only place that exits the process.
import { run } from "./cli/main.ts";

// When the terminal goes away (a closed window, `tmux kill-server`), SIGHUP starts the cleanup and
// every later write to it fails with EIO or EPIPE. Such an error must not crash the process halfway
// through stopping the lab's processes.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE" && err.code !== "EIO") throw err;
  });
}

process.exit(await run(process.argv.slice(2)));
