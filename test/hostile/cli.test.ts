// The graphc command line given what a careless or hostile user types: output paths that cannot
// be written (checked before any work), malformed --seed and --shape values, stray arguments,
// failures of the environment, random argument lists. Every one exits 1 or 2 with a message that
// names the problem; only a bug in graphc prints a stack trace (and says it is one, exit 70).
import fc from "fast-check";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvironmentError } from "../../src/base/errors.js";
import { checkCommand } from "../../src/cli/check.js";
import { execute, INTERNAL_ERROR_EXIT, type Command } from "../../src/cli/command.js";
import { compileCommand } from "../../src/cli/compile.js";
import { exportOnnxCommand } from "../../src/cli/export-onnx.js";
import { initWeightsCommand } from "../../src/cli/init-weights.js";
import { runCommand } from "../../src/cli/run.js";
import { cliBuild, type Run } from "../support/cli.js";
import { captureStderr } from "../support/stderr.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-hostile-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const model = join(dir, "tiny.nn");
writeFileSync(model, "model tiny(hidden: int = 8) {\n  input x: f32[1, 4]\n  output y = fc: linear(x, hidden)\n}\n");
const file = join(dir, "existing.txt");
writeFileSync(file, "keep me");
const folder = join(dir, "folder");
mkdirSync(folder);

// Runs in `dir`, so a relative path in a random argument list lands there.
const { build, graphc } = cliBuild("hostile-cli", { cwd: dir, timeoutMs: 60_000 });
beforeAll(build);

/** Exit 2, the message on stderr, no stack trace, and no long work done first. */
function expectUsageError(r: Run, message: RegExp | string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toContain("    at ");
  expect(r.stderr).not.toContain("generating");
}

describe("through the built CLI", () => {
  it.concurrent("compile -o /dev/null, before any work", async () => {
    expectUsageError(await graphc("compile", model, "-o", "/dev/null"), /^graphc compile: -o \/dev\/null: is not a directory\n$/);
  });

  it.concurrent("--seed 0x10, --shape of 20 digits, passes extra, a command named constructor", async () => {
    const runs = await Promise.all([
      graphc("init-weights", model, "-o", join(dir, "w.safetensors"), "--seed", "0x10"),
      graphc("check", model, "--shape", "x=1x99999999999999999999"),
      graphc("passes", "extra"),
      graphc("constructor", model),
    ]);
    expectUsageError(runs[0]!, /^graphc init-weights: --seed must be an integer in \[0, 2\^32\), got "0x10"\n$/);
    expectUsageError(runs[1]!, /^graphc check: --shape x=1x99999999999999999999: dimensions are positive integers below 2\^53, got 100000000000000000000\n$/);
    expectUsageError(runs[2]!, /^graphc passes: unexpected argument `extra`\nusage: graphc passes\n$/);
    expectUsageError(runs[3]!, /^graphc: unknown command `constructor`/);
  });
});

describe("in the CLI's error boundary, in-process", () => {
  const stderr = captureStderr();

  const commands: Record<string, Command> = { compile: compileCommand, run: runCommand, "init-weights": initWeightsCommand, "export-onnx": exportOnnxCommand, check: checkCommand };

  /** Exit 2 and exactly this one line, after nothing else was printed (no work was done). */
  async function usageError(argv: string[], line: string): Promise<void> {
    stderr.clear();
    const [name, ...rest] = argv as [string, ...string[]];
    expect(await execute(name, commands[name]!, rest), stderr.text).toBe(2);
    expect(stderr.text).toBe(`graphc ${name}: ${line}\n`);
  }

  it("output paths that cannot be written: a usage error naming the path, before any work", async () => {
    await usageError(["compile", model, "-o", file], `-o ${file}: is not a directory`);
    await usageError(["compile", model, "-o", join(file, "out")], `-o ${join(file, "out")}: not a directory (ENOTDIR)`);
    await usageError(["run", model, "--out", file], `--out ${file}: is not a directory`);
    await usageError(["init-weights", model, "-o", folder], `-o ${folder}: is a directory`);
    await usageError(["export-onnx", model, "-o", folder], `-o ${folder}: is a directory`);
    await usageError(["export-onnx", model, "-o", "/dev/null"], "-o /dev/null: is not a regular file");
    await usageError(["export-onnx", model, "-o", "/proc/tiny.onnx"], "-o /proc/tiny.onnx: cannot write in /proc: no such file or directory (ENOENT)");
    await usageError(["export-onnx", model, "-o", join(dir, "none", "tiny.onnx")], `-o ${join(dir, "none", "tiny.onnx")}: there is no directory ${join(dir, "none")}`);
    expect(readFileSync(file, "utf8")).toBe("keep me");
  });

  it("--seed takes decimal integers in [0, 2^32) only; --shape dimensions are safe integers", async () => {
    const out = join(dir, "w.safetensors");
    for (const seed of ["", "0x10", "1e3", "-1", "4294967296", " 7"])
      await usageError(["init-weights", model, "-o", out, `--seed=${seed}`], `--seed must be an integer in [0, 2^32), got ${/^\d+$/.test(seed) ? seed : JSON.stringify(seed)}`);
    expect(await execute("init-weights", initWeightsCommand, [model, "-o", out, "--seed", "4294967295"]), stderr.text).toBe(0);
    await usageError(["check", model, "--shape", "x=1x4.5"], '--shape x=1x4.5: dimensions are positive integers below 2^53, got "4.5"');
    await usageError(["check", model, "--shape", "x=1x"], '--shape x=1x: dimensions are positive integers below 2^53, got ""');
  });

  it("a value given twice is refused, not the last one silently winning", async () => {
    await usageError(["compile", model, "-o", join(dir, "a"), "--output", join(dir, "b")], "--output is given twice");
    await usageError(["init-weights", model, "-o", join(dir, "w.safetensors"), "--seed", "1", "--seed=2"], "--seed is given twice");
    await usageError(["check", model, "--shape", "x=1x4", "--shape", "x=2x4"], "--shape x is given twice");
    await usageError(["check", model, "--set", "hidden=3", "--set", "hidden=5"], "--set hidden is given twice");
  });

  it("stray positional arguments", async () => {
    await usageError(["check", model, model], `expected one .nn or .onnx file, got 2: ${model} ${model}\nusage: ${checkCommand.usage}`);
  });

  const failing = (thrown: unknown): Command => ({
    summary: "fails",
    usage: "graphc fails",
    options: {},
    run: () => {
      throw thrown;
    },
  });
  const systemError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}, open '/data/out.bin'`), { code, syscall: "open", path: "/data/out.bin" });

  it("names environment errors with their path, exit 1 for the machine's and 2 for the path's", async () => {
    expect(await execute("fails", failing(systemError("ENOSPC", "no space left on device")), [])).toBe(1);
    expect(stderr.text).toBe("graphc fails: cannot access /data/out.bin: no space left on device (ENOSPC)\n");
    stderr.clear();
    expect(await execute("fails", failing(systemError("EACCES", "permission denied")), [])).toBe(2);
    expect(stderr.text).toBe("graphc fails: cannot access /data/out.bin: permission denied (EACCES)\n");
    stderr.clear();
    expect(await execute("fails", failing(new RangeError("Array buffer allocation failed")), [])).toBe(1);
    expect(stderr.text).toBe("graphc fails: out of memory: Array buffer allocation failed\n");
    stderr.clear();
    expect(await execute("fails", failing(new EnvironmentError("Binaryen ran out of memory")), [])).toBe(1);
    expect(stderr.text).not.toContain("    at ");
  });

  it("says a bug is one, with its stack, exit 70", async () => {
    expect(await execute("fails", failing(new TypeError("x is undefined")), [])).toBe(INTERNAL_ERROR_EXIT);
    expect(stderr.text).toMatch(/^graphc fails: internal error \(a bug in graphc, please report it\)\nTypeError: x is undefined\n {4}at /);
  });
});

describe("random argument lists", () => {
  const flags = ["-o", "--out", "--seed", "--shape", "--set", "--weights", "--input", "--backend", "--target", "--relaxed-simd", "--passes", "--print-after", "--model", "--bogus"];
  const switches = ["--embed-weights", "--stats", "--json", "--allow-unexpected", "--print-after-all", "-x"];
  const junk = join(dir, "junk.txt");
  writeFileSync(junk, "junk");
  const paths = [junk, folder, "/dev/null", "/dev/zero", "/proc/x", join(junk, "x"), join(dir, "new"), "rel", ""];
  const values = ["x=1x4", "x=2x4", "x=0x4", "x=1x99999999999999999999", "x=1x4.5", "hidden=3", "hidden=0", "hidden=", "=", "0x10", "1e3", "7", "-1", "wasm", "interp", "auto", "off", "dce,cse", "nope", "tiny", `x=${junk}`, "x=/dev/zero"];
  const argument = fc.oneof(
    fc.tuple(fc.constantFrom(...flags), fc.constantFrom(...paths, ...values)).map(([f, v]) => [f, v]),
    fc.constantFrom(...switches).map((s) => [s]),
    fc.constantFrom("extra", junk).map((p) => [p]),
  );
  const argv = (command: string) =>
    fc.tuple(fc.boolean(), fc.array(argument, { maxLength: 4 })).map(([withModel, args]) => [command, ...(withModel ? [model] : []), ...args.flat()]);

  // A handful of runs a command (each is a process): exit 0, 1 or 2, and no stack trace.
  it.concurrent.each(["compile", "passes", "check", "inspect", "run", "init-weights", "export-onnx", "viz"])("%s", async (command) => {
    await fc.assert(
      fc.asyncProperty(argv(command), async (args) => {
        const r = await graphc(...args);
        if (![0, 1, 2].includes(r.code!) || r.stderr.includes("    at ") || r.stderr.includes("internal error")) throw new Error(`graphc ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
      }),
      { numRuns: 5 },
    );
  });
});
