// Public API of binary provisioning: find or make kube-apiserver, kube-controller-manager and etcd
// for a pinned Kubernetes release. See resolve.ts for the order and env.ts for the variables.
export { resolveBinaries, ensureBinaries, type ControlPlaneBinaries, type ResolveBinariesOptions } from "./resolve.ts";
export { DEFAULT_K8S_VERSION, supportedVersions, versionInfo, type K8sVersionInfo } from "./versions.ts";
export { BINARIES_ENV, BINARY_NAMES, envTableMarkdown, type BinaryName } from "./env.ts";
export { cacheRoot, versionBinDir } from "./cache.ts";
