// The one real check of binary provisioning: resolve the default release with the real resolver and
// run each binary's --version. With the cache filled (`npx tsx bench/provision-binaries.ts`) this takes
// about a second. Finding nothing skips the test unless IMAGEPOLICY_LAB_E2E_BUILD=1 is set, which opts
// in to downloading or building (a cold build takes ~10 minutes on 2 cores).
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { BinariesUnavailableError } from "../util/errors.ts";
import { DEFAULT_K8S_VERSION, resolveBinaries, versionInfo } from "./index.ts";

const allowSlow = process.env.IMAGEPOLICY_LAB_E2E_BUILD === "1";

describe("resolveBinaries (real)", () => {
  it(`provides runnable kube-apiserver, kube-controller-manager and etcd for ${DEFAULT_K8S_VERSION}`, async (ctx) => {
    const env = allowSlow ? process.env : { ...process.env, IMAGEPOLICY_LAB_NO_DOWNLOAD: "1", IMAGEPOLICY_LAB_NO_BUILD: "1" };
    let bins;
    try {
      bins = await resolveBinaries({ k8sVersion: DEFAULT_K8S_VERSION, env });
    } catch (err) {
      if (!allowSlow && err instanceof BinariesUnavailableError) {
        ctx.skip(`no cached binaries; set IMAGEPOLICY_LAB_E2E_BUILD=1 to build them (${err.attempts.length} places tried)`);
      }
      throw err;
    }
    const { etcdVersion } = versionInfo(DEFAULT_K8S_VERSION);
    const run = async (path: string) => (await execa(path, ["--version"], { timeout: 10_000 })).stdout;
    expect(await run(bins.kubeApiserver)).toContain(`Kubernetes v${DEFAULT_K8S_VERSION}`);
    expect(await run(bins.kubeControllerManager)).toContain(`Kubernetes v${DEFAULT_K8S_VERSION}`);
    expect(await run(bins.etcd)).toContain(`etcd Version: ${etcdVersion}`);
  });
});
