// `docker-runtime status|install|uninstall`: the OCI runtime wrapper that lets Docker 20.10 run
// privileged containers on hosts without CAP_SYS_RESOURCE (library: host/privileged.ts).
import { installWrapper, probePrivileged, uninstallWrapper, wrapperStatus, type ProbeResult } from "../../host/privileged.ts";
import { LabError } from "../../util/errors.ts";
import { task } from "../../util/logger.ts";
import type { CliIO } from "../io.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

type Globals = { verbose?: boolean; quiet?: boolean };

function probeLine(p: ProbeResult): string {
  return `privileged containers: ${p.ok ? "work" : p.needsWrapper ? "FAIL (the runtime wrapper fixes this)" : "FAIL"} — ${p.detail}`;
}

export async function status(io: CliIO, g: Globals): Promise<number> {
  const progress = terminalProgress(io, g.quiet);
  const probe = await task(progress, "run a privileged probe container", probePrivileged);
  const s = await wrapperStatus();
  const out = [
    probeLine(probe),
    `runtime wrapper: ${s.active ? "installed and in use" : s.configured || s.binaryVersion ? "partly installed" : "not installed"}`,
    `  ${s.daemonJson}: ${s.configured ? "default-runtime is imagepolicy-lab-runc" : (s.configProblem ?? "does not register imagepolicy-lab-runc as default")}`,
    `  ${s.binary}: ${s.binaryVersion ?? s.binaryProblem?.replace(`${s.binary}: `, "") ?? "missing"}`,
    `  dockerd's default runtime now: ${s.liveDefaultRuntime ?? "not observed (docker info did not answer)"}`,
  ];
  io.stdout.write(`${out.join("\n")}\n`);
  return 0;
}

export async function install(flags: { force?: boolean }, io: CliIO, g: Globals): Promise<number> {
  const progress = terminalProgress(io, g.quiet);
  const probe = await task(progress, "run a privileged probe container", probePrivileged);
  io.stdout.write(`${probeLine(probe)}\n`);
  if (!flags.force) {
    if (probe.ok) {
      const s = await wrapperStatus();
      io.stdout.write(
        s.active
          ? "nothing changed: the runtime wrapper is already installed and in use (undo with `imagepolicy-lab docker-runtime uninstall`)\n"
          : "nothing changed: privileged containers already work here without the wrapper (use --force to install it anyway)\n",
      );
      return 0;
    }
    if (!probe.needsWrapper) {
      throw new LabError(`privileged containers fail for another reason than the missing capability the wrapper fixes, so nothing was changed (use --force to install it anyway): ${probe.detail}`);
    }
  }
  const lines = await installWrapper({ logger: terminalLogger(io, g.verbose), progress, env: io.env });
  io.stdout.write(`${lines.map((l) => `  ${l}`).join("\n")}\n`);
  const after = await task(progress, "run the privileged probe again", probePrivileged);
  io.stdout.write(`${probeLine(after)}\n`);
  if (!after.ok) throw new LabError(`privileged containers still fail with the wrapper installed: ${after.detail} (undo with \`imagepolicy-lab docker-runtime uninstall\`)`);
  return 0;
}

export async function uninstall(flags: { force?: boolean }, io: CliIO, g: Globals): Promise<number> {
  const lines = await uninstallWrapper({ logger: terminalLogger(io, g.verbose), progress: terminalProgress(io, g.quiet), env: io.env, force: flags.force });
  io.stdout.write(`${lines.map((l) => `  ${l}`).join("\n")}\n`);
  return 0;
}

