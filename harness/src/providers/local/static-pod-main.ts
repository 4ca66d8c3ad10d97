// The process that plays the kubelet for a local lab in `apiserverManifest` mode (static-pod.ts):
// `node bin/run-ts.mjs static-pod-main.ts MANIFEST BINARY LOG STATUS ROOT [COMPONENT]`. The provider
// records it as the component's process; SIGTERM stops the component, then this process.
import { StaticPodWatcher } from "./static-pod.ts";

const [manifestFile, binary, logFile, statusFile, root, component = "kube-apiserver"] = process.argv.slice(2);
if (!manifestFile || !binary || !logFile || !statusFile || !root || (component !== "kube-apiserver" && component !== "kube-controller-manager")) {
  process.stderr.write("usage: static-pod-main.ts MANIFEST BINARY LOG STATUS ROOT [kube-apiserver|kube-controller-manager]\n");
  process.exit(2);
}
const watcher = new StaticPodWatcher({ manifestFile, binary, logFile, statusFile, root, component });
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.once(sig, () => void watcher.stop().finally(() => process.exit(0)));
}
await watcher.start();
