// `up`: start a lab and leave it running; `down` stops it.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { DEFAULT_POLICY, loadPolicyFile, trustPolicy } from "../../../../webhook-stub/src/policy.ts";
import { startLab } from "../../lab/lab.ts";
import { lintProfile } from "../../profile/profile.ts";
import { selectProvider } from "../../providers/select.ts";
import { ConfigError } from "../../util/errors.ts";
import type { CliIO } from "../io.ts";
import { profileFlagLabel, profileFromFlags, type ProfileFlags } from "../options.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";

export interface UpFlags extends ProfileFlags {
  provider: "local" | "kind" | "auto";
  stateDir: string;
  k8sVersion?: string;
  backendUrl?: string;
  backendCa?: string;
  trust?: string[];
  policy?: string;
  mtls?: boolean;
  retain?: boolean;
  skipLint?: boolean;
}

/** Profile from flags, linted: errors name the flag. */
export function profileOrThrow(flags: ProfileFlags) {
  const partial = profileFromFlags(flags);
  const r = lintProfile(partial, { file: "command line" });
  if (!r.profile) throw new ConfigError(r.errors.map((e) => ({ ...e, path: profileFlagLabel(e.path) })), "invalid admission profile");
  return r.profile;
}

export async function up(flags: UpFlags, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const profile = flags.skipLint ? profileFromFlags(flags) : profileOrThrow(flags);
  const logger = terminalLogger(io, g.verbose);
  const { provider, why } = await selectProvider(flags.provider, { kind: { k8sVersion: flags.k8sVersion } });
  logger.info(`provider: ${provider.name} (${why})`);
  if (flags.backendUrl && !flags.backendCa) throw new ConfigError([{ file: "command line", path: "--backend-ca", message: "--backend-url needs --backend-ca (the CA that signed the backend's certificate)" }]);
  // On kind the cluster's own pods go through the plugin too: a --trust allowlist keeps the default
  // policy's allow-all rules for kube-system and local-path-storage, or the node never becomes Ready.
  const systemNamespaces = provider.name === "kind" ? DEFAULT_POLICY.namespaces : undefined;
  const policy = flags.policy
    ? await loadPolicyFile(resolve(io.cwd, flags.policy))
    : flags.trust?.length
      ? trustPolicy(flags.trust, { namespaces: systemNamespaces })
      : undefined;
  const stateDir = resolve(io.cwd, flags.stateDir);
  const t0 = performance.now();
  const lab = await startLab({
    provider,
    stateDir,
    k8sVersion: flags.k8sVersion,
    profile,
    policy,
    mtls: flags.mtls,
    externalBackend: flags.backendUrl ? { url: flags.backendUrl, caPem: await readFile(resolve(io.cwd, flags.backendCa!), "utf8") } : undefined,
    detached: true,
    retain: flags.retain,
    skipLint: flags.skipLint,
    logger,
    progress: terminalProgress(io, g.quiet),
  });
  const p = lab.profile;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  io.stdout.write(
    [
      `Lab ready in ${secs}s (${provider.name}, Kubernetes ${lab.k8sVersion}).`,
      `  profile:    defaultAllow=${p.defaultAllow} allowTTL=${p.allowTTL} denyTTL=${p.denyTTL} retryBackoff=${p.retryBackoff}`,
      lab.backend ? `  backend:    ${lab.backend.endpoint.url} (stub; control ${lab.backend.controlUrl})` : `  backend:    ${flags.backendUrl}`,
      `  kubeconfig: ${lab.kubeconfigPath}`,
      "",
      "Try:",
      `  export KUBECONFIG=${lab.kubeconfigPath}`,
      `  kubectl run trusted --image=${flags.trust?.length ? `${flags.trust[0]}/app:1.0` : "registry.k8s.io/pause:3.10"} --dry-run=server`,
      `  kubectl run untrusted --image=nginx --dry-run=server        # refused by the stub's policy`,
      `  imagepolicy-lab stub set --state-dir ${flags.stateDir} --fault status:500`,
      `  imagepolicy-lab stub journal --state-dir ${flags.stateDir}`,
      `  imagepolicy-lab down --state-dir ${flags.stateDir}`,
      "",
    ].join("\n"),
  );
  return 0;
}
