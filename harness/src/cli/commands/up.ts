// `up`: start a lab and leave it running; `down` stops it.
import { resolve } from "node:path";
import { loadPolicyFile, trustPolicy } from "../../../../webhook-stub/src/policy.ts";
import { versionInfo } from "../../binaries/versions.ts";
import { ensureWritableDir } from "../../util/dirs.ts";
import { labTrustPolicy } from "../../lab/lab-trust.ts";
import { startLab } from "../../lab/lab.ts";
import type { AdmissionProfile } from "../../profile/profile.ts";
import { selectProvider } from "../../providers/select.ts";
import { ConfigError } from "../../util/errors.ts";
import { warnAboutOrphans } from "../../lab/orphans.ts";
import type { CliIO } from "../io.ts";
import { backendChoiceIssues, checkBackendUrl, readBackendCa, type BackendName } from "../backend-flags.ts";
import { lintProfileFlags, profileFromFlags, type ProfileFlags } from "../options.ts";
import { terminalLogger, terminalProgress } from "../progress.ts";
import { DEFAULT_MECHANISM, MECHANISM_TITLES, mechanismUsesStub, type MechanismName } from "../../mechanism/names.ts";
import { OPA_ADMISSION_PATH, OPA_IMAGEREVIEW_PATH, OPA_VERSION } from "../../opa/index.ts";
import { OPA_BYO_DECISION_PATH } from "../../opa/byo-policy.ts";
import { TRUST_PARAM_NAME, VAP_POLICY_NAMES } from "../../mechanism/vap-objects.ts";
import { admissionUrl, failurePolicyFor, OPA_WEBHOOK_NAME, WEBHOOK_CONFIG_NAME, WEBHOOK_TIMEOUT_SECONDS } from "../../mechanism/webhook-config.ts";

export interface UpFlags extends ProfileFlags {
  provider: "local" | "kind" | "auto";
  mechanism?: MechanismName;
  /** ImagePolicyWebhook's backend: the stub (default) or the lab's OPA. */
  backend?: BackendName;
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
  const r = lintProfileFlags(flags);
  if (!r.profile) throw new ConfigError(r.errors, "invalid admission profile");
  return r.profile;
}

export async function up(flags: UpFlags, io: CliIO, g: { verbose?: boolean; quiet?: boolean }): Promise<number> {
  const profile = flags.skipLint ? profileFromFlags(flags) : profileOrThrow(flags);
  const backendIssues = backendChoiceIssues(flags);
  if (backendIssues.length) throw new ConfigError(backendIssues, "invalid backend flags");
  if (flags.backendUrl && !flags.backendCa) throw new ConfigError([{ file: "command line", path: "--backend-ca", message: "--backend-url needs --backend-ca (the CA that signed the backend's certificate)" }]);
  // Flags that configure the stub mean nothing with an external backend; say so instead of ignoring them.
  const conflicts = flags.backendUrl
    ? (["trust", "policy", "mtls"] as const).filter((k) => flags[k] !== undefined && !(Array.isArray(flags[k]) && flags[k].length === 0))
    : [];
  if (conflicts.length) {
    throw new ConfigError(conflicts.map((k) => ({ file: "command line", path: `--${k}`, message: "configures the stub, which is not started with --backend-url" })));
  }
  if (!flags.backendUrl && flags.backendCa) throw new ConfigError([{ file: "command line", path: "--backend-ca", message: "only meaningful with --backend-url" }]);
  const mechanism = flags.mechanism ?? DEFAULT_MECHANISM;
  if (mechanism !== "imagepolicywebhook") {
    // VAP has no backend, OPA's is the lab's own OPA server; a webhook's is the stub's /validate or,
    // with --backend-url, the user's AdmissionReview server; mTLS is set up for the plugin's kubeconfig only.
    const onlyForPlugin = (mechanism === "vap" || mechanism === "opa" ? (["backendUrl", "mtls"] as const) : (["mtls"] as const)).filter((k) => flags[k] !== undefined && flags[k] !== false);
    const noBackend = mechanism === "vap" ? "the vap mechanism has no backend (the apiserver decides alone)" : "the opa mechanism's backend is the lab's own OPA server";
    if (onlyForPlugin.length) {
      throw new ConfigError(onlyForPlugin.map((k) => ({ file: "command line", path: k === "backendUrl" ? "--backend-url" : "--mtls", message: k === "backendUrl" ? noBackend : `applies to --mechanism imagepolicywebhook only (this lab's mechanism: ${mechanism})` })), "invalid flags for the mechanism");
    }
  }
  // Refused before the provider is even probed; with `auto` choosing kind, startLab refuses it.
  // Every flag is checked before anything starts (the stub, a provider, even a docker probe).
  if (flags.k8sVersion !== undefined) versionInfo(flags.k8sVersion);
  if (flags.backendUrl !== undefined) checkBackendUrl(flags.backendUrl);
  const backendCaPem = flags.backendUrl ? await readBackendCa(resolve(io.cwd, flags.backendCa!)) : undefined;
  // A .rego file is the user's own OPA policy (--mechanism opa); anything else a stub policy.
  const regoPolicy = flags.policy?.endsWith(".rego") ? resolve(io.cwd, flags.policy) : undefined;
  if (regoPolicy && mechanism !== "opa") throw new ConfigError([{ file: "command line", path: "--policy", message: `a Rego policy is played by --mechanism opa (this lab's mechanism: ${mechanism}); a stub policy is YAML` }], "invalid flags for the mechanism");
  const filePolicy = flags.policy && !regoPolicy ? await loadPolicyFile(resolve(io.cwd, flags.policy)) : undefined;
  if (flags.trust?.length) trustPolicy(flags.trust);
  const stateDir = await ensureWritableDir(resolve(io.cwd, flags.stateDir), "--state-dir");
  const logger = terminalLogger(io, g.verbose);
  const { provider, why } = await selectProvider(flags.provider, { kind: { k8sVersion: flags.k8sVersion, logger } });
  logger.info(`provider: ${provider.name} (${why})`);
  const policy = filePolicy ?? (flags.trust?.length ? labTrustPolicy(provider.name, flags.trust) : undefined);
  const t0 = performance.now();
  const lab = await startLab({
    provider,
    mechanism,
    stateDir,
    k8sVersion: flags.k8sVersion,
    profile,
    policy,
    mtls: flags.mtls,
    opaPolicyFile: regoPolicy,
    opaBackend: flags.backend === "opa",
    externalBackend: flags.backendUrl ? { url: flags.backendUrl, caPem: backendCaPem! } : undefined,
    detached: true,
    retain: flags.retain,
    skipLint: flags.skipLint,
    logger,
    progress: terminalProgress(io, g.quiet),
    // After the claim, so a second `up` into a directory in use is refused before any look around.
    onStateDir: (dir) => warnAboutOrphans(logger, { except: dir }),
  });
  io.stdout.write(
    upSummary({
      seconds: (performance.now() - t0) / 1000,
      provider: provider.name,
      mechanism,
      k8sVersion: lab.k8sVersion,
      profile: lab.profile,
      stub: lab.backend ? { reviewUrl: lab.backend.endpoint.url, controlUrl: lab.backend.controlUrl } : undefined,
      opaUrl: lab.opa?.url,
      opaPolicy: lab.opa?.userPolicy?.summary,
      opaBackend: lab.mechanism.backend === "opa",
      backendUrl: flags.backendUrl,
      kubeconfigPath: lab.kubeconfigPath,
      stateDirArg: flags.stateDir,
      trust: flags.trust,
    }),
  );
  return 0;
}

/** What `up` prints once the lab is ready: where things are and what to try next. */
export function upSummary(u: {
  seconds: number;
  provider: string;
  mechanism?: MechanismName;
  k8sVersion: string;
  profile: AdmissionProfile;
  /** The stub's endpoints; undefined when --backend-url replaced the stub. */
  stub?: { reviewUrl: string; controlUrl: string };
  backendUrl?: string;
  /** The opa mechanism's OPA server (base URL). */
  opaUrl?: string;
  /** The user's own Rego policy OPA runs, in one line (byo-policy.ts summary). */
  opaPolicy?: string;
  /** ImagePolicyWebhook's backend is the lab's OPA (`--backend opa`), at opaUrl. */
  opaBackend?: boolean;
  kubeconfigPath: string;
  /** --state-dir as the user typed it, for commands they can paste. */
  stateDirArg: string;
  trust?: string[];
}): string {
  const p = u.profile;
  const trusted = u.trust?.length ? `${u.trust[0]}/app:1.0` : "registry.k8s.io/pause:3.10";
  const mechanism = u.mechanism ?? DEFAULT_MECHANISM;
  const how: Record<MechanismName, string> = {
    imagepolicywebhook: `defaultAllow=${p.defaultAllow} allowTTL=${p.allowTTL} denyTTL=${p.denyTTL} retryBackoff=${p.retryBackoff}`,
    webhook: `ValidatingWebhookConfiguration ${WEBHOOK_CONFIG_NAME}, failurePolicy=${failurePolicyFor(p)} timeoutSeconds=${WEBHOOK_TIMEOUT_SECONDS}`,
    vap: `ValidatingAdmissionPolicy ${VAP_POLICY_NAMES.join(", ")}; trust list per namespace in ConfigMap ${TRUST_PARAM_NAME}`,
    opa: `ValidatingWebhookConfiguration ${WEBHOOK_CONFIG_NAME} (webhook ${OPA_WEBHOOK_NAME}), failurePolicy=${failurePolicyFor(p)} timeoutSeconds=${WEBHOOK_TIMEOUT_SECONDS}`,
  };
  return [
    `Lab ready in ${u.seconds.toFixed(1)}s (${u.provider}, Kubernetes ${u.k8sVersion}, ${MECHANISM_TITLES[mechanism]}).`,
    `  ${mechanism === "imagepolicywebhook" ? "profile:   " : "admission: "} ${how[mechanism]}`,
    u.opaBackend
      ? `  backend:    OPA ${OPA_VERSION} ${u.opaUrl ?? ""}${OPA_IMAGEREVIEW_PATH} (policies/opa; trust list in data.lab.trust; the stub is not asked)`
      : mechanism === "vap"
      ? "  backend:    none (the apiserver decides alone)"
      : mechanism === "opa"
        ? u.opaPolicy
          ? `  backend:    OPA ${OPA_VERSION} ${u.opaUrl ?? ""}${OPA_BYO_DECISION_PATH} (your policy ${u.opaPolicy})`
          : `  backend:    OPA ${OPA_VERSION} ${u.opaUrl ?? ""}${OPA_ADMISSION_PATH} (policies/opa; trust list in data.lab.trust)`
        : u.stub
        ? `  backend:    ${mechanism === "webhook" ? admissionUrl(u.stub.reviewUrl) : u.stub.reviewUrl} (stub; control ${u.stub.controlUrl})`
        : `  backend:    ${u.backendUrl}`,
    `  kubeconfig: ${u.kubeconfigPath}`,
    "",
    "Try:",
    `  export KUBECONFIG=${u.kubeconfigPath}`,
    // The stub's policy decides these two; an external backend's answers are its own.
    ...(u.stub
      ? [`  kubectl run trusted --image=${trusted} --dry-run=server`, `  kubectl run untrusted --image=nginx --dry-run=server        # refused by ${mechanism === "opa" || u.opaBackend ? "OPA's" : "the stub's"} policy`]
      : [`  kubectl run test --image=${trusted} --dry-run=server       # asks your backend`]),
    // `stub set` and `stub journal` need the stub; with --backend-url there is none.
    ...(u.stub && mechanismUsesStub(mechanism) && !u.opaBackend ? [`  imagepolicy-lab stub set --state-dir ${u.stateDirArg} --fault status:500`, `  imagepolicy-lab stub journal --state-dir ${u.stateDirArg}`] : []),
    ...(mechanism === "vap" || mechanism === "opa" || u.opaBackend ? [`  imagepolicy-lab stub set --state-dir ${u.stateDirArg} --trust ${u.trust?.[0] ?? "registry.k8s.io"}   # the allowlist, live`] : []),
    `  imagepolicy-lab down --state-dir ${u.stateDirArg}`,
    "",
  ].join("\n");
}
