// The Kubernetes releases the lab knows how to provision, and what each one pins. A release is listed
// only when its Go module exists on the module proxy (so the build fallback can work) and its etcd
// version is the one in that module's build/dependencies.yaml.
import { ConfigError } from "../util/errors.ts";

export interface K8sVersionInfo {
  /** Kubernetes release without the leading "v", e.g. "1.36.1". */
  version: string;
  /** etcd release that Kubernetes pins for this version (build/dependencies.yaml), e.g. "3.6.8". */
  etcdVersion: string;
  /** A kind release whose node image runs exactly this version, when one is known. */
  kind?: {
    /** kind release, e.g. "v0.32.0". */
    release: string;
    /** Node image pinned by digest, as published in the kind release notes. */
    nodeImage: string;
  };
}

// Sorted newest first; the first entry whose `version` equals DEFAULT_K8S_VERSION is the default.
const VERSIONS: readonly K8sVersionInfo[] = Object.freeze([
  {
    version: "1.36.1",
    etcdVersion: "3.6.8",
    kind: {
      release: "v0.32.0",
      nodeImage: "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
    },
  },
  // etcd 3.6.6 per k8s.io/kubernetes@v1.35.4 build/dependencies.yaml. No kind node image runs
  // exactly 1.35.4 (kind v0.33.0 ships v1.35.8, kind v0.31.0 v1.35.0, and neither of those
  // Kubernetes versions is on the module proxy this project was set up against), so kind is unset.
  { version: "1.35.4", etcdVersion: "3.6.6" },
]);

/** Kubernetes release used when none is asked for: the one kind v0.32.0's default node image runs. */
export const DEFAULT_K8S_VERSION = "1.36.1";

/** Every supported Kubernetes release, newest first (without the leading "v"). */
export function supportedVersions(): string[] {
  return VERSIONS.map((v) => v.version);
}

/** Accepts "1.36.1" or "v1.36.1". */
export function normalizeK8sVersion(version: string): string {
  return version.trim().replace(/^v/, "");
}

/** What the lab knows about release `version` ("1.36.1" or "v1.36.1"); throws for an unknown release. */
export function versionInfo(version: string): K8sVersionInfo {
  const wanted = normalizeK8sVersion(version);
  const found = VERSIONS.find((v) => v.version === wanted);
  if (!found) {
    // A ConfigError, because an unknown version is bad input: nothing was tried yet.
    throw new ConfigError(
      [
        {
          file: "--k8s-version",
          path: "",
          message: `unsupported Kubernetes version "${version}": expected one of ${supportedVersions().join(", ")} (default ${DEFAULT_K8S_VERSION})`,
        },
      ],
      "unsupported Kubernetes version",
    );
  }
  return found;
}
