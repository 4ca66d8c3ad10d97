// Our Go programs (the docker runtime wrapper, the node image's pause) are vetted, and the wrapper's
// Go tests run, through this file in `npm test`, so they cannot be forgotten. (pause is exercised by
// every pod sandbox of the kind tests.) Without Go they are skipped with the reason.
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL(".", import.meta.url));
const go = await execa("go", ["version"], { reject: false });
const why = go.failed ? `go is not installed (${go.shortMessage})` : undefined;
if (why) console.warn(`harness/go: Go tests skipped: ${why}`);

describe.skipIf(why !== undefined)("Go programs in harness/go", () => {
  it("go vet and go test pass", async () => {
    const env = { CGO_ENABLED: "0", GOWORK: "off" };
    const vet = await execa("go", ["vet", "./..."], { cwd: dir, env, reject: false, all: true });
    expect(vet.exitCode, vet.all).toBe(0);
    const test = await execa("go", ["test", "-count=1", "./..."], { cwd: dir, env, reject: false, all: true });
    expect(test.exitCode, test.all).toBe(0);
    expect(test.stdout).toMatch(/^ok\s+imagepolicy-lab\.local\/tools\/cmd\/runtime-wrapper/m);
  }, 180_000);
});
