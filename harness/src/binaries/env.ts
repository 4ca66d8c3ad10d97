// The one table of environment variables that steer binary resolution. Code reads variables only
// through `BINARIES_ENV`, and env.test.ts checks that no other name is read, so this table stays the
// documentation. Precedence everywhere: explicit option, then variable, then default.
import { ConfigError } from "../util/errors.ts";

export type BinaryName = "kube-apiserver" | "kube-controller-manager" | "etcd";

/** The three control-plane binaries, in the order they are reported. */
export const BINARY_NAMES: readonly BinaryName[] = Object.freeze(["kube-apiserver", "kube-controller-manager", "etcd"]);

export interface EnvVarDoc {
  name: string;
  description: string;
}

/**
 * Environment variables read by `resolveBinaries`, in resolution order, with what each means.
 * (`envTableMarkdown()` renders this for help text.)
 *
 * There are no `IMAGEPOLICY_LAB_KUBE_APISERVER`-style aliases: envtest's names already say the same,
 * and two names for one thing would need a precedence rule of their own.
 */
export const BINARIES_ENV = Object.freeze({
  TEST_ASSET_KUBE_APISERVER: "Path of a kube-apiserver binary (envtest's name). Checked first.",
  TEST_ASSET_KUBE_CONTROLLER_MANAGER: "Path of a kube-controller-manager binary.",
  TEST_ASSET_ETCD: "Path of an etcd binary (envtest's name).",
  KUBEBUILDER_ASSETS:
    "Directory holding binaries by their plain names (setup-envtest's layout; it has no kube-controller-manager, which then comes from a later step).",
  IMAGEPOLICY_LAB_CACHE:
    "Cache root; binaries live in <root>/bin/v<version>/. Default ${XDG_CACHE_HOME:-~/.cache}/imagepolicy-lab.",
  XDG_CACHE_HOME: "Standard cache base, used when IMAGEPOLICY_LAB_CACHE is unset.",
  IMAGEPOLICY_LAB_NO_DOWNLOAD: "1/true: never download release binaries (dl.k8s.io, GitHub).",
  IMAGEPOLICY_LAB_NO_BUILD: "1/true: never build from Go modules.",
} as const);

export type BinariesEnvName = keyof typeof BINARIES_ENV;

/** Per-binary path variables, envtest's names. */
export const TEST_ASSET_VARS: Readonly<Record<BinaryName, BinariesEnvName>> = Object.freeze({
  "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
  "kube-controller-manager": "TEST_ASSET_KUBE_CONTROLLER_MANAGER",
  etcd: "TEST_ASSET_ETCD",
});

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads a table variable; empty counts as unset. */
export function readEnv(env: Env, name: BinariesEnvName): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

/** A yes/no variable; anything but the usual spellings is a ConfigError rather than a guess. */
export function readEnvFlag(env: Env, name: BinariesEnvName): boolean {
  const value = readEnv(env, name);
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new ConfigError([
    { file: `$${name}`, path: "", message: `expected 1, true, yes, on, 0, false, no or off; got "${value}"` },
  ]);
}

/** The table as Markdown, for `--help` text and docs. */
export function envTableMarkdown(): string {
  const rows = Object.entries(BINARIES_ENV).map(([name, description]) => `| \`${name}\` | ${description} |`);
  return ["| Variable | Meaning |", "| --- | --- |", ...rows].join("\n");
}
