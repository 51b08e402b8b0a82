import { defineConfig } from "vitest/config";

// Benchmarks are not tests: run with `npx vitest run -c bench/vitest.config.ts`.
export default defineConfig({
  test: { include: ["bench/**/*.bench.ts"], pool: "forks", testTimeout: 1_800_000 },
});
