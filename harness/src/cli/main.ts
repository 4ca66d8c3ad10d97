// The CLI: argv in, exit code out. A thin layer over the library; only bin.ts calls process.exit.
import { DEFAULT_MECHANISM, MECHANISM_NAMES } from "../mechanism/names.ts";
import { Command, CommanderError, Option } from "commander";
import { processCleanup, SIGNAL_EXIT_CODES } from "../util/cleanup.ts";
import { reportError } from "./exit-codes.ts";
import { defaultIO, type CliIO } from "./io.ts";
import { collect, parseIntArg, profileOptions } from "./options.ts";
import { VERSION } from "../util/version.ts";
import { exerciseCommand } from "./exercise-command.ts";


/** `--provider`, shared by the commands that start a lab. */
const providerOption = () => new Option("--provider <name>", "cluster provider (auto: kind when usable, else local)").choices(["local", "kind", "auto"]).default("auto");
const mechanismOption = (all: boolean) =>
  new Option("--mechanism <name>", all ? "how images are restricted (all: play the catalog under each and compare)" : "how images are restricted")
    .choices(all ? [...MECHANISM_NAMES, "all"] : [...MECHANISM_NAMES])
    .default(DEFAULT_MECHANISM);
/** `--backend`: who answers ImagePolicyWebhook's reviews (no default: the stub, unless --backend-url names the user's). */
const backendOption = () =>
  new Option("--backend <name>", "ImagePolicyWebhook's backend: stub (faults, journal) or opa (the lab's OPA with the shipped Rego, policies/opa; trust lists as OPA data)").choices(["stub", "opa"]);

/** What running with no arguments means. */
export const DEFAULT_ARGV = ["run", "--report-dir", "reports"];

export async function run(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  let exitCode = 0;
  const setExit = (code: number) => (exitCode = code);
  const program = new Command("imagepolicy-lab")
    .description("Lab and conformance suite for the Kubernetes ImagePolicyWebhook admission plugin")
    .version(VERSION)
    .option("-v, --verbose", "show debug output and stacks")
    .option("-q, --quiet", "no progress output")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();

  const globals = () => program.opts<{ verbose?: boolean; quiet?: boolean }>();
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      try {
        setExit(await fn(...args));
      } catch (err) {
        // After Ctrl-C the cleanup stops what the command was waiting for; that failure is expected
        // noise (e.g. "kube-apiserver exited"), and the signal handler sets the exit code.
        if (processCleanup.interrupted) return;
        setExit(reportError(io, err, globals().verbose));
      }
    };

  const up = program
    .command("up")
    .description("start a lab (stub backend + cluster that restricts images with ImagePolicyWebhook, a validating webhook or a ValidatingAdmissionPolicy) and leave it running")
    .addOption(providerOption())
    .addOption(mechanismOption(false))
    .requiredOption("--state-dir <dir>", "directory for the lab's files (kubeconfig, keys, logs)")
    .option("--k8s-version <version>", "Kubernetes release")
    .addOption(backendOption())
    .option("--backend-url <url>", "use this backend instead of the stub")
    .option("--backend-ca <file>", "CA file that signed --backend-url's certificate")
    .option("--trust <registry>", "allow images from this registry or repository (repeatable)", collect)
    .option("--policy <file>", "stub policy file (YAML), or with --mechanism opa your own Rego policy (.rego) instead of the shipped one")
    .option("--mtls", "the stub requires the apiserver's client certificate")
    .option("--retain", "keep a failed lab for debugging")
    .option("--skip-lint", "give the profile to the apiserver unchecked (to see its own error for a bad value)");
  for (const o of profileOptions()) up.addOption(o);
  up.action(action(async (opts) => (await import("./commands/up.ts")).up(opts, io, globals())));

  program
    .command("down")
    .description("stop a lab started with `up` and remove its keys (safe to run twice); --all: every lab no running command owns")
    .option("--state-dir <dir>", "the lab's state directory")
    .option("--all", "find labs by what runs (processes, containers, kind clusters) and stop every one no running command owns")
    .action(action(async (opts) => (await import("./commands/down.ts")).down(opts, io)));

  const lint = program
    .command("lint [file]")
    .description("check an admission profile (flags, a profile file, or an AdmissionConfiguration) against the apiserver's limits, or a Rego policy (file.rego or a directory) with opa check --strict and the lab's checks for classic mistakes")
    .option("--no-file-checks", "do not check that the files the configuration names exist here (for a file meant for another machine, e.g. a kind node)");
  for (const o of profileOptions()) lint.addOption(o);
  lint.action(action(async (file, opts) => (await import("./commands/lint.ts")).lint(file, opts, io, globals())));

  program
    .command("run [scenarios...]")
    .description("play conformance scenarios (default: the whole catalog) and report")
    .addOption(providerOption())
    .addOption(mechanismOption(true))
    .option("--k8s-version <version>", "Kubernetes release")
    .option("--report-dir <dir>", "write junit.xml, report.json and report.html here")
    .option("--state-dir <dir>", "keep the lab's files here instead of a temp dir")
    .option("--tag <tag>", "only scenarios with this tag (repeatable)", collect)
    .option("--skip-slow", "skip scenarios marked slow (e.g. the 30 s hung backend)")
    .addOption(backendOption())
    .option("--backend-url <url>", "test your own backend instead of the stub (ImageReview, or AdmissionReview with --mechanism webhook)")
    .option("--backend-ca <file>", "CA file that signed --backend-url's certificate")
    .option("--trust <registry>", "with --backend-url: a registry or repository your backend trusts, the expectation (repeatable; the first stands for the catalog's trusted.example)", collect)
    .option("--policy <file.rego>", "with --mechanism opa: play the catalog with your own Rego policy instead of the shipped one")
    .action(action(async (names, opts) => (await import("./commands/run.ts")).runCommand(names, opts, io, globals())));

  program
    .command("probe")
    .description("check an existing cluster against a trust list with server-side dry runs (creates nothing)")
    .option("--kubeconfig <file>", "the cluster's kubeconfig (default: KUBECONFIG, then ~/.kube/config)")
    .option("--context <name>", "kubeconfig context (default: its current-context)")
    .option("--namespace <ns>", "namespace to probe (default: the context's, else default)")
    .option("--trust <registry>", "a registry or repository the cluster should trust (repeatable)", collect)
    .option("--image-trusted <image>", "an image the cluster should admit (repeatable)", collect)
    .option("--pod <name>", "an existing pod: also probe ephemeral containers (kubectl debug)")
    .option("--report-dir <dir>", "write probe-junit.xml, probe.json and probe.html here")
    .action(action(async (opts) => (await import("./commands/probe.ts")).probe(opts, io, globals())));

  const scenarios = program.command("scenarios").description("list or check scenario files");
  scenarios
    .command("list")
    .description("list the catalog")
    .action(action(async () => (await import("./commands/scenarios.ts")).list(io)));
  scenarios
    .command("check <files...>")
    .description("validate scenario files (errors name file, line and field)")
    .action(action(async (files) => (await import("./commands/scenarios.ts")).check(files, io)));

  const stub = program.command("stub").description("the ImageReview stub backend");
  stub
    .command("serve")
    .description("run the stub in the foreground")
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action(action(async (args: string[]) => (await import("../../../webhook-stub/src/main.ts")).serveMain(args)));
  stub
    .command("set")
    .description("change the running stub's policy or fault")
    .requiredOption("--state-dir <dir>", "the lab's state directory")
    .option("--policy <file>", "policy file")
    .option("--trust <registry>", "allowlist (repeatable)", collect)
    .option("--fault <spec>", "fault spec (see README)")
    .option("--healthy", "clear any fault")
    .action(action(async (opts) => (await import("./commands/stub.ts")).set(opts, io)));
  stub
    .command("journal")
    .description("what the stub was asked")
    .requiredOption("--state-dir <dir>", "the lab's state directory")
    .option("--json", "machine-readable output")
    .option("--reset", "clear the journal after printing")
    .addOption(new Option("--since <seq>", "only entries after this sequence number").argParser(parseIntArg("--since")))
    .action(action(async (opts) => (await import("./commands/stub.ts")).journal(opts, io)));

  program
    .command("kind-config")
    .description("print or write the kind cluster config that enables ImagePolicyWebhook")
    .option("--out <file>", "write to this file instead of stdout")
    .option("--admission-dir <dir>", "absolute host directory holding the admission files")
    .option("--versioned", "emit two versioned patches (kubeadm v1beta3 map form and v1beta4 list form) instead of one unversioned patch")
    .action(action(async (opts) => (await import("./commands/kind-config.ts")).kindConfig(opts, io)));

  const nodeImage = program.command("node-image").description("the kind node image built from local parts (no registry needed)");
  nodeImage
    .command("build")
    .description("build (or find current) imagepolicy-lab/node:v<version> from Go modules and Debian packages (needs root and Docker)")
    .option("--k8s-version <version>", "Kubernetes release")
    .option("--force", "rebuild even when the image is current")
    .action(action(async (opts) => (await import("./commands/node-image.ts")).build(opts, io, globals())));
  nodeImage
    .command("status")
    .description("whether the node image is built and current (exit 0) or not (exit 1)")
    .option("--k8s-version <version>", "Kubernetes release")
    .action(action(async (opts) => (await import("./commands/node-image.ts")).status(opts, io)));

  const dockerRuntime = program.command("docker-runtime").description("the OCI runtime wrapper that lets Docker run privileged containers (kind nodes) on hosts missing a capability");
  dockerRuntime
    .command("status")
    .description("probe a privileged container and show whether the wrapper is installed")
    .action(action(async () => (await import("./commands/docker-runtime.ts")).status(io, globals())));
  dockerRuntime
    .command("install")
    .description("install the wrapper as dockerd's default runtime (changes /etc/docker/daemon.json; needs root)")
    .option("--force", "install even when privileged containers already work")
    .action(action(async (opts) => (await import("./commands/docker-runtime.ts")).install(opts, io, globals())));
  dockerRuntime
    .command("uninstall")
    .description("undo install: restore /etc/docker/daemon.json, reload dockerd, remove the wrapper")
    .option("--force", "uninstall even while containers created through the wrapper exist")
    .action(action(async (opts) => (await import("./commands/docker-runtime.ts")).uninstall(opts, io, globals())));

  program
    .command("binaries")
    .description("find or build kube-apiserver, kube-controller-manager and etcd (cached)")
    .option("--k8s-version <version>", "Kubernetes release")
    .option("--opa", "also find or build opa (for --mechanism opa and `lint my.rego`)")
    .action(action(async (opts) => (await import("./commands/binaries.ts")).binaries(opts, io, globals())));

  program.addCommand(exerciseCommand(action, io, globals));

  processCleanup.installSignalHandlers((sig) => io.stderr.write(`\n${sig}: stopping everything this command started…\n`));
  try {
    // The main job needs no words: `imagepolicy-lab` (or `npm run lab`) alone plays the whole catalog
    // on the default provider and writes its reports to ./reports.
    await program.parseAsync(argv.length ? argv : DEFAULT_ARGV, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportError(io, err, globals().verbose);
  }
  // A command that returns while its interrupt's cleanup still runs (its own start failed because
  // the cleanup pulled the ground away) must not exit 0 before that cleanup ends: wait for it and
  // exit as the signal handler would.
  const signal = processCleanup.interrupted;
  if (signal) {
    await processCleanup.runAll().catch(() => {});
    return (SIGNAL_EXIT_CODES as Partial<Record<NodeJS.Signals, number>>)[signal] ?? 130;
  }
  return exitCode;
}
