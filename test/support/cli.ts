// Runs the graphc CLI as a user does: a child process, its exit code and both streams. Each test
// file builds its own copy of the CLI with tsc (test-results/NAME), so files never race over dist/.
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `timeoutMs`: a run still going after it is killed (code null), so a hang fails the test instead of stalling it.
 * `cwd`: where the CLI runs (default the repository root).
 */
export function cliBuild(name: string, options: { timeoutMs?: number; cwd?: string } = {}): { build(): void; graphc(...args: string[]): Promise<Run> } {
  const outDir = join(root, "test-results", name);
  return {
    // tsc emits even when a file being edited does not type-check; `npm test` type-checks first.
    build: () => void spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json", "--outDir", outDir], { cwd: root }),
    graphc: (...args) =>
      new Promise((resolve) => {
        const child = execFile(process.execPath, [join(outDir, "src/cli/main.js"), ...args], { cwd: options.cwd ?? root, encoding: "utf8", timeout: options.timeoutMs ?? 0 }, (_, stdout, stderr) =>
          resolve({ code: child.exitCode, stdout, stderr }));
      }),
  };
}
