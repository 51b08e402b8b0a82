import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // Dawn (WebGPU) only works in forked processes; forks also isolate the big-model tests.
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The JSON report lets .ci/run print vitest's own pass/fail counts.
    reporters: ["default", ["json", { outputFile: "test-results/vitest.json" }]],
  },
});
