// The only place that exits the process.
import { run } from "./cli/main.ts";

process.exit(await run(process.argv.slice(2)));
