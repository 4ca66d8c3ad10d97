// Whether the docker-backed tests run here, and why (printed either way).
import { dockerStatus } from "../src/providers/kind/tools.ts";

export type Gate = { on: true; why: string } | { on: false; why: string };

export async function dockerGate(env = process.env): Promise<Gate> {
  const v = env.IMAGEPOLICY_LAB_DOCKER_TESTS?.trim().toLowerCase();
  if (v === "0" || v === "false" || v === "no") return { on: false, why: "IMAGEPOLICY_LAB_DOCKER_TESTS=0" };
  if (v === "1" || v === "true" || v === "yes") return { on: true, why: "IMAGEPOLICY_LAB_DOCKER_TESTS=1" };
  if (env.CI === "true") return { on: true, why: "CI=true" };
  const d = await dockerStatus();
  if (d.daemon) return { on: true, why: `a Docker engine answers (${d.serverVersion})` };
  return { on: false, why: `no usable Docker engine (${d.error ?? "unknown"}); set IMAGEPOLICY_LAB_DOCKER_TESTS=1 to install/start one with ensure-docker.sh` };
}

/**
 * IMAGEPOLICY_LAB_KIND_TESTS=required (what .ci/run sets) turns "cannot run here" into a failure:
 * on the project's own machines the kind catalog must run, never skip.
 */
export function kindTestsRequired(env = process.env): boolean {
  return env.IMAGEPOLICY_LAB_KIND_TESTS?.trim().toLowerCase() === "required";
}
