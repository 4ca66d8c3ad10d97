import { defineConfig } from "vitest/config";

// Two tiers: fast unit tests beside the code, and end-to-end tests against real processes
// (kube-apiserver, etcd, kube-controller-manager, docker). Conformance runs never retry: a retry
// would hide exactly the flaky admission behavior the suite exists to measure.
export default defineConfig({
  test: {
    retry: 0,
    projects: [
      {
        test: {
          name: "unit",
          include: ["harness/**/*.test.ts", "webhook-stub/**/*.test.ts", "bench/**/*.test.ts"],
          exclude: ["**/*.e2e.test.ts", "**/*.kind.test.ts", "**/node_modules/**"],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "e2e",
          include: ["**/*.e2e.test.ts"],
          exclude: ["**/node_modules/**"],
          testTimeout: 600_000,
          hookTimeout: 1_200_000,
          fileParallelism: false,
          // After the unit tests, never beside them: the catalog measures timings (TTLs, backoffs)
          // that a busy second core would blur.
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // The catalog on one real kind cluster (Docker, kind, a node image): last, alone.
          name: "kind",
          include: ["**/*.kind.test.ts"],
          exclude: ["**/node_modules/**"],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
