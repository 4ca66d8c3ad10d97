// Every exercise played twice on a real local control plane (issue 14, "Must show"): unsolved,
// `exercise check` exits 1 and names what is wrong; after the reference solution, it exits 0. The
// CLI runs in-process, as a trainee would type it; each lab is stopped before the next starts. The
// same on kind: exercises.kind.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { processesMentioning, runCli } from "../providers/local/test-support.ts";
import { loadExercises } from "./load.ts";

const exercises = await loadExercises();
const work = await mkdtemp(join(tmpdir(), "iplab-exercises-e2e-"));

afterAll(async () => {
  for (const p of await processesMentioning(work)) process.kill(p.pid, "SIGKILL");
  await rm(work, { recursive: true, force: true });
});

describe("training exercises on the local provider", () => {
  for (const e of exercises) {
    it(`${e.doc.name}: check fails unsolved, naming what is wrong, and passes after the reference solution`, async () => {
      const dir = join(work, e.doc.name);
      const t0 = performance.now();
      try {
        const started = await runCli(["-q", "exercise", "start", e.doc.name, "--state-dir", dir]);
        expect(started.code, started.stderr).toBe(0);
        expect(started.stdout).toContain(e.doc.title);
        const unsolved = await runCli(["exercise", "check", "--state-dir", dir]);
        expect(unsolved.code, unsolved.stdout + unsolved.stderr).toBe(1);
        expect(unsolved.stdout).toMatch(/✗/);
        // Names what is wrong: the cluster's behavior in the exercise's words, or the apiserver's own error.
        expect(unsolved.stdout).toMatch(new RegExp(`${e.doc.checks.map((c) => escape(c.whenFailing)).join("|")}|the apiserver does not answer`));
        const applied = await runCli(["exercise", "solution", "--apply", "--state-dir", dir]);
        expect(applied.code, applied.stderr).toBe(0);
        const solved = await runCli(["exercise", "check", "--state-dir", dir]);
        expect(solved.code, solved.stdout + solved.stderr).toBe(0);
        expect(solved.stdout).toMatch(/solved: all \d+ checks pass/);
        if (e.doc.name === "fail-closed") {
          const reset = await runCli(["exercise", "reset", "--state-dir", dir]);
          expect(reset.code, reset.stderr).toBe(0);
          expect((await runCli(["exercise", "check", "--state-dir", dir])).code).toBe(1);
          const hints = [await runCli(["exercise", "hint", "--state-dir", dir]), await runCli(["exercise", "hint", "--state-dir", dir])];
          expect(hints.map((h) => h.stdout.split(":")[0])).toEqual([`hint 1 of ${e.doc.hints.length}`, `hint 2 of ${e.doc.hints.length}`]);
        }
      } finally {
        await runCli(["down", "--state-dir", dir]);
        console.log(`${e.doc.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      }
      expect(await processesMentioning(dir)).toEqual([]);
    });
  }
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
