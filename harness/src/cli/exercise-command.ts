// The `exercise` command group's grammar; its handlers load lazily (commands/exercise.ts).
import { Command, Option } from "commander";
import type { CliIO } from "./io.ts";

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

export function exerciseCommand(action: Action, io: CliIO, globals: () => { verbose?: boolean; quiet?: boolean }): Command {
  const handlers = () => import("./commands/exercise.ts");
  const stateDir = () => new Option("--state-dir <dir>", "the exercise lab's directory (default: .lab-exercise)");
  const cmd = new Command("exercise").description("training exercises: break-and-fix tasks on a real apiserver, checked by its behavior");
  cmd
    .command("list")
    .description("the exercises")
    .action(action(async () => (await handlers()).list(io)));
  cmd
    .command("start <name>")
    .description("start a lab in the exercise's starting state; prints the task and where the files are")
    .addOption(stateDir())
    .addOption(new Option("--provider <name>", "cluster provider: local processes, or a kind cluster whose node the trainee edits; a state dir that holds a kind exercise lab is switched in place (default: kind there, else local)").choices(["local", "kind"]))
    .action(action(async (name: string, opts) => (await handlers()).start(name, opts, io, globals())));
  cmd
    .command("check")
    .description("play the exercise's checks against the running apiserver (exit 0 solved, 1 not yet)")
    .addOption(stateDir())
    .action(action(async (opts) => (await handlers()).check(opts, io)));
  cmd
    .command("hint")
    .description("the next hint")
    .addOption(stateDir())
    .action(action(async (opts) => (await handlers()).hint(opts, io)));
  cmd
    .command("solution")
    .description("the reference solution (--apply: make its edits)")
    .addOption(stateDir())
    .option("--apply", "apply the solution's edits to the running lab")
    .action(action(async (opts) => (await handlers()).solution(opts, io)));
  cmd
    .command("reset")
    .description("back to the starting state")
    .addOption(stateDir())
    .action(action(async (opts) => (await handlers()).reset(opts, io)));
  return cmd;
}
