import { describe, expect, it } from "vitest";
import { LabError } from "../util/errors.ts";
import {
  classifyProbe,
  explicitRuntimeConfig,
  formatDaemonConfig,
  mergeDaemonConfig,
  parseDaemonConfig,
  planUninstall,
  PROBE_COMMAND,
  RUNTIME_NAME,
  unmergeDaemonConfig,
  WRAPPER_PATH,
  type InstallRecord,
} from "./privileged.ts";

const usage = "\nRun 'docker run --help' for more information";

describe("classifyProbe", () => {
  const cases: { name: string; stderr: string; exitCode: number; ok: boolean; needsWrapper: boolean }[] = [
    {
      name: "missing capability (this host, docker 20.10)",
      stderr: `docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown.${usage}`,
      exitCode: 125,
      ok: false,
      needsWrapper: true,
    },
    {
      name: "got past capabilities: the missing probe command",
      stderr: `docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${PROBE_COMMAND}": stat ${PROBE_COMMAND}: no such file or directory: unknown.${usage}`,
      exitCode: 127,
      ok: true,
      needsWrapper: false,
    },
    {
      name: "got past capabilities: executable not found",
      stderr: `docker: Error response from daemon: OCI runtime create failed: container_linux.go:380: starting container process caused: exec: "${PROBE_COMMAND}": executable file not found in $PATH: unknown.`,
      exitCode: 127,
      ok: true,
      needsWrapper: false,
    },
    {
      name: "a missing file that is not the probe's command is a failure",
      stderr: "docker: Error response from daemon: error while creating mount source path '/nope': mkdir /nope: no such file or directory.",
      exitCode: 125,
      ok: false,
      needsWrapper: false,
    },
    {
      name: "daemon down",
      stderr: "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?.",
      exitCode: 125,
      ok: false,
      needsWrapper: false,
    },
    { name: "rlimit failure (podman-like) is not ours to fix", stderr: "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted", exitCode: 126, ok: false, needsWrapper: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = classifyProbe({ ok: false, exitCode: c.exitCode, stderr: c.stderr });
      expect({ ok: r.ok, needsWrapper: r.needsWrapper }).toEqual({ ok: c.ok, needsWrapper: c.needsWrapper });
      expect(r.detail).not.toContain("--help");
    });
  }

  it("keeps docker's words in the detail of a failure", () => {
    const r = classifyProbe({ ok: false, exitCode: 125, stderr: `docker: Error response from daemon: something odd happened.${usage}` });
    expect(r.detail).toContain("something odd happened");
    expect(r.detail).toContain("exit 125");
  });

  it("a run that exits 0 works", () => {
    expect(classifyProbe({ ok: true, exitCode: 0, stderr: "" })).toMatchObject({ ok: true, needsWrapper: false });
  });
});

describe("parseDaemonConfig", () => {
  it("accepts an object", () => {
    expect(parseDaemonConfig('{"debug": true}')).toEqual({ debug: true });
  });
  it.each([
    ["not JSON", "{debug: true", /\/etc\/docker\/daemon\.json is not valid JSON/],
    ["an array", "[]", /must hold a JSON object, found an array/],
    ["a string", '"x"', /found string/],
  ])("refuses %s and names the file", (_, text, message) => {
    const err = (() => {
      try {
        parseDaemonConfig(text);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(LabError);
    expect((err as Error).message).toMatch(message);
  });
  it("names another file when given", () => {
    expect(() => parseDaemonConfig("{", "/tmp/x.json")).toThrow(/\/tmp\/x\.json/);
  });
});

describe("mergeDaemonConfig / unmergeDaemonConfig", () => {
  const ours = { path: WRAPPER_PATH };
  const cases: { name: string; before: Record<string, unknown>; merged: Record<string, unknown>; unmerged: Record<string, unknown> }[] = [
    {
      name: "empty file",
      before: {},
      merged: { runtimes: { [RUNTIME_NAME]: ours }, "default-runtime": RUNTIME_NAME },
      unmerged: {},
    },
    {
      name: "other keys and other runtimes are kept",
      before: { debug: true, "log-driver": "json-file", runtimes: { runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--platform=ptrace"] } } },
      merged: {
        debug: true,
        "log-driver": "json-file",
        runtimes: { runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--platform=ptrace"] }, [RUNTIME_NAME]: ours },
        "default-runtime": RUNTIME_NAME,
      },
      unmerged: { debug: true, "log-driver": "json-file", runtimes: { runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--platform=ptrace"] } } },
    },
    {
      name: "an explicit runc default is replaced",
      before: { "default-runtime": "runc" },
      merged: { "default-runtime": RUNTIME_NAME, runtimes: { [RUNTIME_NAME]: ours } },
      unmerged: {},
    },
    {
      name: "a stale entry of ours gets the current path",
      before: { runtimes: { [RUNTIME_NAME]: { path: "/old/wrapper" } } },
      merged: { runtimes: { [RUNTIME_NAME]: ours }, "default-runtime": RUNTIME_NAME },
      unmerged: {},
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.before);
      const m = mergeDaemonConfig(c.before);
      expect(m).toEqual({ config: c.merged, changed: true });
      expect(c.before).toEqual(before); // input untouched
      expect(mergeDaemonConfig(m.config)).toEqual({ config: c.merged, changed: false }); // idempotent
      const u = unmergeDaemonConfig(m.config);
      expect(u).toEqual({ config: c.unmerged, changed: true });
      expect(unmergeDaemonConfig(u.config).changed).toBe(false);
    });
  }

  it("refuses to replace another default runtime", () => {
    expect(() => mergeDaemonConfig({ "default-runtime": "nvidia", runtimes: { nvidia: { path: "nvidia-container-runtime" } } })).toThrow(LabError);
    expect(() => mergeDaemonConfig({ "default-runtime": "nvidia" })).toThrow(/default-runtime is "nvidia"/);
  });

  it("refuses runtimes that is not an object", () => {
    expect(() => mergeDaemonConfig({ runtimes: ["runc"] })).toThrow(/runtimes: expected an object/);
  });

  it("unmerge leaves a file without our keys alone", () => {
    expect(unmergeDaemonConfig({ debug: true, "default-runtime": "runc" })).toEqual({ config: { debug: true, "default-runtime": "runc" }, changed: false });
  });
});

describe("explicitRuntimeConfig", () => {
  it.each([
    ["no file", undefined, { "default-runtime": "runc", runtimes: {} }],
    ["keys absent", { debug: true }, { debug: true, "default-runtime": "runc", runtimes: {} }],
    ["keys present", { "default-runtime": "runc", runtimes: { runsc: { path: "runsc" } } }, { "default-runtime": "runc", runtimes: { runsc: { path: "runsc" } } }],
  ])("%s", (_, target, want) => {
    expect(explicitRuntimeConfig(target)).toEqual(want);
  });
});

describe("planUninstall", () => {
  const original = '{ "debug": true }\n';
  const written = formatDaemonConfig(mergeDaemonConfig(parseDaemonConfig(original)).config);
  const record = (o: InstallRecord["original"]): InstallRecord => ({ schemaVersion: 1, daemonJson: "/etc/docker/daemon.json", original: o, written, installedAt: "2026-01-01T00:00:00Z" });

  it("restores the backup byte for byte when the file is as install left it", () => {
    expect(planUninstall({ current: written, record: record({ kind: "backup", path: "/b" }), backupText: original })).toEqual({ action: "restore-backup", text: original, backupPath: "/b" });
  });
  it("removes a file that did not exist before", () => {
    expect(planUninstall({ current: written, record: record({ kind: "absent" }), backupText: undefined })).toEqual({ action: "remove-file" });
  });
  it("removes only our keys when the file was edited since", () => {
    const edited = written.replace('"debug": true', '"debug": false');
    const plan = planUninstall({ current: edited, record: record({ kind: "backup", path: "/b" }), backupText: original });
    expect(plan).toMatchObject({ action: "write", config: { debug: false } });
    expect(plan.action === "write" && plan.reason).toMatch(/edited after install/);
  });
  it("removes only our keys when the backup is gone", () => {
    expect(planUninstall({ current: written, record: record({ kind: "backup", path: "/b" }), backupText: undefined })).toMatchObject({ action: "write", config: { debug: true } });
  });
  it("removes only our keys without a record", () => {
    expect(planUninstall({ current: written, record: undefined, backupText: undefined })).toMatchObject({ action: "write", config: { debug: true } });
  });
  it("never restores a superseded backup", () => {
    expect(planUninstall({ current: written, record: record({ kind: "superseded", backupPath: "/b" }), backupText: original })).toMatchObject({ action: "write" });
  });
  it("keeps a file that does not mention us, or no file", () => {
    expect(planUninstall({ current: '{"debug":true}', record: undefined, backupText: undefined })).toMatchObject({ action: "keep" });
    expect(planUninstall({ current: undefined, record: record({ kind: "absent" }), backupText: undefined })).toMatchObject({ action: "keep" });
  });
  it("names the file when the current one is not JSON", () => {
    expect(() => planUninstall({ current: "{", record: undefined, backupText: undefined })).toThrow(/daemon\.json is not valid JSON/);
  });
});
