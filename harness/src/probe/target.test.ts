import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ConfigError } from "../util/errors.ts";
import { loadProbeTarget } from "./target.ts";

describe("loadProbeTarget", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "iplab-probe-target-"));
    file = join(dir, "config");
    await writeFile(
      file,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [
          { name: "ci", context: { cluster: "c", user: "u", namespace: "apps" } },
          { name: "other", context: { cluster: "c", user: "u" } },
        ],
        "current-context": "ci",
      }),
    );
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const issue = async (p: Promise<unknown>) => {
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.file}: ${i.message}`);
  };

  it("flag, then KUBECONFIG, then ~/.kube/config; namespace from the flag, then the context, then default", async () => {
    const t = await loadProbeTarget({ kubeconfig: "config", env: {}, cwd: dir });
    expect(t).toMatchObject({ file, context: "ci", server: "https://10.0.0.1:6443", namespace: "apps" });
    expect((await loadProbeTarget({ env: { KUBECONFIG: `${file}:/elsewhere` }, cwd: "/" })).file).toBe(file);
    expect((await loadProbeTarget({ env: { HOME: "/nowhere" }, kubeconfig: file, context: "other", cwd: "/" })).namespace).toBe("default");
    expect((await loadProbeTarget({ kubeconfig: file, namespace: "x", env: {}, cwd: "/" })).namespace).toBe("x");
    expect(await issue(loadProbeTarget({ env: { HOME: "/nowhere" }, cwd: "/" }))).toEqual(["--kubeconfig: cannot read /nowhere/.kube/config: no such file"]);
    expect(await issue(loadProbeTarget({ env: { KUBECONFIG: "/nope" }, cwd: "/" }))).toEqual(["KUBECONFIG: cannot read /nope: no such file"]);
  });

  it("an unknown context names the ones there are", async () => {
    expect(await issue(loadProbeTarget({ kubeconfig: file, context: "prod", env: {}, cwd: "/" }))).toEqual([`--context: no context "prod" in ${file}; it has "ci", "other"`]);
  });

  it("a file that is not a kubeconfig", async () => {
    const bad = join(dir, "bad");
    await writeFile(bad, "clusters: [");
    const [msg] = await issue(loadProbeTarget({ kubeconfig: bad, env: {}, cwd: "/" }));
    expect(msg).toMatch(new RegExp(`^--kubeconfig: ${bad} is not a usable kubeconfig: `));
  });
});
