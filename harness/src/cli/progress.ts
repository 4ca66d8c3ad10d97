// Terminal renderers for the library's Progress and Logger: a spinner on a TTY, plain lines in CI.
import pc from "picocolors";
import yoctoSpinner from "yocto-spinner";
import type { Logger, Progress, ProgressTask } from "../util/logger.ts";
import type { CliIO } from "./io.ts";

export function terminalProgress(io: CliIO, quiet = false): Progress {
  const interactive = Boolean(io.stderr.isTTY) && !io.env.CI;
  return {
    start(name: string): ProgressTask {
      if (quiet) return { update() {}, succeed() {}, fail() {} };
      const t0 = performance.now();
      const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
      if (interactive) {
        const spinner = yoctoSpinner({ text: name, stream: io.stderr as NodeJS.WriteStream }).start();
        return {
          update: (status) => (spinner.text = `${name} ${pc.dim(`${status} (${elapsed()})`)}`),
          succeed: (detail) => spinner.success(`${name} ${pc.dim(detail ?? elapsed())}`),
          fail: (detail) => spinner.error(`${name} ${pc.red(detail ?? "")}`),
        };
      }
      io.stderr.write(`• ${name}\n`);
      let lastUpdate = 0;
      return {
        // Non-interactive: at most one status line every 15 s, so CI logs stay readable.
        update: (status) => {
          if (performance.now() - lastUpdate < 15_000) return;
          lastUpdate = performance.now();
          io.stderr.write(`  ${name}: ${status} (${elapsed()})\n`);
        },
        succeed: (detail) => io.stderr.write(`${pc.green("✓")} ${name} ${pc.dim(detail ?? elapsed())}\n`),
        fail: (detail) => io.stderr.write(`${pc.red("✗")} ${name} ${detail ?? ""}\n`),
      };
    },
  };
}

export function terminalLogger(io: CliIO, verbose = false): Logger {
  return {
    info: (m) => io.stderr.write(`${m}\n`),
    warn: (m) => io.stderr.write(`${pc.yellow("warning:")} ${m}\n`),
    debug: (m) => {
      if (verbose) io.stderr.write(`${pc.dim(m)}\n`);
    },
  };
}
