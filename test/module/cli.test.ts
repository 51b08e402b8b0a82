// `graphc compile -o DIR` and `graphc run --backend wasm`, run as a user runs them.
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { cliBuild } from "../support/cli.js";
import { writeNpy } from "../../src/weights/npy.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import { importModule } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "graphc-cli-"));
const model = join(dir, "lnet.nn");

const { build, graphc } = cliBuild("module-dist");

beforeAll(() => {
  build();
  writeFileSync(model, "model lnet() {\n  input x: f32[2, 8]\n  y = ln: layernorm(x)\n  output out = relu(y) * 2.0\n  output soft = softmax(y, axis=1)\n}\n");
});

describe.concurrent("graphc compile -o / run --backend wasm", () => {
  test("writes the module files, prints a summary, and the module runs", async () => {
    const out = join(dir, "auto");
    const r = await graphc("compile", model, "-o", out, "--stats");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kernels \d+, arena/m);
    expect(r.stderr).toMatch(/graphc: generating baseline SIMD wasm\.\.\./);
    expect(r.stderr).toMatch(/graphc: wrote lnet\.mjs [\d.]+ KiB, lnet\.d\.ts .*, lnet\.d\.mts .*, lnet\.wasm .*, lnet\.relaxed\.wasm .*, lnet\.weights\.bin \d+ B to .* in [\d.]+ s\n/);
    expect(readdirSync(out).sort()).toEqual(["lnet.d.mts", "lnet.d.ts", "lnet.mjs", "lnet.relaxed.wasm", "lnet.wasm", "lnet.weights.bin"]);
    const m = await (await importModule(out, "lnet.mjs")).load({ simd: "baseline" });
    const { soft } = await m.run({ x: new Float32Array(16) });
    expect(Array.from(soft!)).toEqual(Array(16).fill(0.125));
  });

  test("--relaxed-simd=off ships the baseline build only; --embed-weights one .mjs", async () => {
    const off = join(dir, "off");
    expect((await graphc("compile", model, "-o", off, "--relaxed-simd=off")).code).toBe(0);
    expect(readdirSync(off).sort()).toEqual(["lnet.d.mts", "lnet.d.ts", "lnet.mjs", "lnet.wasm", "lnet.weights.bin"]);
    const embedded = join(dir, "embedded");
    expect((await graphc("compile", model, "-o", embedded, "--embed-weights", "--relaxed-simd=on", "--target", "wasm")).code).toBe(0);
    expect(readdirSync(embedded).sort()).toEqual(["lnet.d.mts", "lnet.d.ts", "lnet.mjs"]);
  });

  test("--weights-dtype: f16 halves and int8 quarters the weights file; --stats says what was written", async () => {
    const linear = join(dir, "wnet.nn");
    writeFileSync(linear, "model wnet() {\n  input x: f32[1, 256]\n  output y = fc: linear(x, 128)\n}\n");
    const x = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
    const runs: Record<string, { bytes: number; y: Float32Array }> = {};
    for (const dtype of ["f32", "f16", "int8"]) {
      const out = join(dir, `w-${dtype}`);
      const r = await graphc("compile", linear, "-o", out, "--weights-dtype", dtype, "--stats");
      expect(r.code, r.stderr).toBe(0);
      const bytes = statSync(join(out, "wnet.weights.bin")).size;
      // 256 x 128 weights (above SMALL_WEIGHT_ELEMENTS, so encoded) and 128 biases, float32.
      expect(r.stdout).toContain(`parameters ${(256 * 128 + 128) * 4} bytes (float32), weights file ${bytes} bytes`);
      // Seeded weights: checked on four seeded inputs against the default tolerance, which one layer meets.
      if (dtype !== "f32") expect(r.stderr).toMatch(new RegExp(`graphc: ${dtype} weights: no weight kept float32 \\(1 encoded\\); every output within ${dtype === "f16" ? "1e-3" : "0.05"} of float32 on 4 calibration samples, 20% to spare \\(worst \\d\\.\\d\\de-\\d, y\\)\n`));
      const m = await (await importModule(out, "wnet.mjs")).load({ simd: "baseline" });
      runs[dtype] = { bytes, y: (await m.run({ x })).y as Float32Array };
    }
    expect(runs.f16!.bytes).toBeLessThan(runs.f32!.bytes * 0.51);
    expect(runs.int8!.bytes).toBeLessThan(runs.f32!.bytes * 0.3);
    const scale = Math.max(...Array.from(runs.f32!.y, Math.abs));
    for (const [dtype, bound] of [["f16", 1e-3], ["int8", 5e-2]] as const)
      for (let i = 0; i < 128; i++) expect(Math.abs(runs[dtype]!.y[i]! - runs.f32!.y[i]!)).toBeLessThanOrEqual(bound * scale);
  });

  test("--calibrate: a checkpoint's int8 biases are corrected on the given input; without it a warning says they are not", async () => {
    const cnet = join(dir, "cnet.nn");
    writeFileSync(cnet, "model cnet() {\n  input x: f32[8, 256]\n  output y = fc: linear(x, 128)\n}\n");
    const w = Float32Array.from({ length: 128 * 256 }, (_, i) => Math.sin(i * 0.37));
    const b = Float32Array.from({ length: 128 }, (_, i) => Math.cos(i));
    writeFileSync(join(dir, "cnet.safetensors"), writeSafetensors([{ name: "fc.weight", shape: [128, 256], data: w }, { name: "fc.bias", shape: [128], data: b }]));
    // Features with means of their own (as after a ReLU), where int8 rounding shifts the outputs' means.
    const x = Float32Array.from({ length: 8 * 256 }, (_, i) => 1 + Math.sin((i % 256) * 1.3) + 0.3 * Math.cos(i));
    writeFileSync(join(dir, "cal.npy"), writeNpy([8, 256], x));
    const compiled = async (out: string, ...args: string[]) => {
      const r = await graphc("compile", cnet, "-o", join(dir, out), "--weights", join(dir, "cnet.safetensors"), ...args);
      expect(r.code, r.stderr).toBe(0);
      return { stderr: r.stderr, y: (await (await (await importModule(join(dir, out), "cnet.mjs")).load({ simd: "baseline" })).run({ x })).y as Float32Array };
    };
    const [f32, plain, calibrated] = await Promise.all([compiled("c-f32"), compiled("c-plain", "--weights-dtype", "int8"), compiled("c-cal", "--weights-dtype", "int8", "--calibrate", `x=${join(dir, "cal.npy")}`)]);
    expect(plain.stderr).toContain("warning: int8 weights without calibration inputs: the biases are not corrected for the weights' rounding");
    expect(calibrated.stderr).not.toContain("warning");
    expect(calibrated.stderr).toContain("graphc: measuring each layer's mean input on the calibration inputs (one interpreter pass), to correct the biases for the int8 weights' rounding...");
    // The largest shift of a feature's mean over the 8 rows, relative to max |y|: removed by the correction.
    const scale = Math.max(...Array.from(f32.y, Math.abs));
    const meanShift = (y: Float32Array) => Math.max(...Array.from({ length: 128 }, (_, j) => Math.abs(Array.from({ length: 8 }, (_, r) => y[r * 128 + j]! - f32.y[r * 128 + j]!).reduce((s, d) => s + d, 0) / 8))) / scale;
    expect(meanShift(plain.y)).toBeGreaterThan(1e-3);
    expect(meanShift(calibrated.y)).toBeLessThan(1e-5);
    for (const [args, message] of [
      [["--calibrate", `x=${join(dir, "cal.npy")}`], /--calibrate goes with f16 or int8 weights/],
      [["--weights-dtype", "f16", "--calibrate", `z=${join(dir, "cal.npy")}`], /model cnet has no input `z` \(inputs: x\)/],
      [["--weights-dtype", "f16", "--calibrate", "x"], /--calibrate expects NAME=PATH, got `x`/],
      [["--weights", join(dir, "cnet.safetensors"), "--weights-dtype", "f16", "--weights-tolerance", "1e-3"], /--weights-tolerance is checked on calibration inputs: give inputs like the model's \(--calibrate\)/],
    ] as const) {
      const r = await graphc("compile", cnet, "-o", join(dir, "c-bad"), ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain("    at ");
    }
    // NAME=PATH again for more samples: the means are over all, the check on each.
    writeFileSync(join(dir, "cal2.npy"), writeNpy([8, 256], x.map((v) => 2 - v)));
    const two = await compiled("c-two", "--weights-dtype", "int8", "--calibrate", `x=${join(dir, "cal.npy")}`, "--calibrate", `x=${join(dir, "cal2.npy")}`, "--weights-tolerance", "1e-6");
    expect(two.stderr).toContain("graphc: measuring each layer's mean input on the calibration inputs (2 interpreter passes)");
    expect(two.stderr).toMatch(/graphc: int8 weights: the 1 largest of 1 weights kept float32 \(100\.0% of their elements; the largest because rounding it alone moved an output past the bound\); every output within 1e-6 of float32 on 2 calibration samples, 20% to spare/);
    // A sample short of an input: a usage error.
    const pair = join(dir, "pair.nn");
    writeFileSync(pair, "model pair() {\n  input x: f32[8, 256]\n  input z: f32[8, 256]\n  output y = fc: linear(x + z, 128)\n}\n");
    const short = await graphc("compile", pair, "-o", join(dir, "c-short"), "--weights-dtype", "f16", ...["x", "x", "z"].flatMap((name) => ["--calibrate", `${name}=${join(dir, "cal.npy")}`]));
    expect([short.code, short.stderr]).toEqual([2, "graphc compile: --calibrate gives input `z` 1 time but others 2 times: give each input once per sample\n"]);
    // Inputs that make a mean NaN would corrupt every bias: a data error (exit 1), said as the calibration's.
    writeFileSync(join(dir, "nan.npy"), writeNpy([8, 256], x.map((v, i) => (i === 5 ? NaN : v))));
    const nan = await graphc("compile", cnet, "-o", join(dir, "c-nan"), "--weights-dtype", "int8", "--calibrate", `x=${join(dir, "nan.npy")}`);
    expect(nan.code, nan.stderr).toBe(1);
    expect(nan.stderr).toMatch(/the calibration inputs give `linear` \(in `fc`\) a non-finite mean input/);
    expect(nan.stderr).not.toContain("    at ");
  });

  test("usage errors: exit 2, one line, nothing written", async () => {
    for (const [args, message] of [
      [["--embed-weights"], /--embed-weights goes with -o DIR/],
      [["-o", join(dir, "bad1"), "--relaxed-simd=maybe"], /--relaxed-simd must be "auto", "on" or "off", got "maybe"/],
      [["-o", join(dir, "bad2"), "--target", "webgpu"], /unknown target `webgpu` \(available: wasm, wgsl\)/],
      [["-o", join(dir, "bad3"), "--weights-dtype", "f8"], /--weights-dtype must be "f32", "f16" or "int8", got "f8"/],
      [["-o", join(dir, "bad4"), "--target", "wgsl", "--weights-dtype", "int8"], /--weights-dtype f16\|int8 are for --target wasm/],
      [["--weights-tolerance", "1e-3"], /--weights-tolerance goes with -o DIR/],
      [["-o", join(dir, "bad5"), "--weights-tolerance", "1e-3"], /--weights-tolerance goes with f16 or int8 weights/],
      [["-o", join(dir, "bad6"), "--weights-dtype", "f16", "--weights-tolerance", "tight"], /--weights-tolerance must be a number >= 0 \(the largest max \|out - f32 out\| \/ max \|f32 out\|\) or "off", got "tight"/],
      [["-o", join(dir, "bad7"), "--weights-dtype", "f16", "--weights-tolerance=-1"], /--weights-tolerance must be a number >= 0 .* got -1$/m],
    ] as const) {
      const r = await graphc("compile", model, ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain("    at ");
    }
    for (const bad of ["bad1", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7"]) expect(existsSync(join(dir, bad))).toBe(false);
  });

  test("run --backend wasm prints what the interpreter prints", async () => {
    const [wasm, interp] = await Promise.all([graphc("run", model, "--backend", "wasm"), graphc("run", model)]);
    expect(wasm.code, wasm.stderr).toBe(0);
    expect(wasm.stderr).toMatch(/ran lnet on wasm \(baseline SIMD, \d+ threads?\) in/);
    expect(wasm.stdout).toBe(interp.stdout);
  });

  test("run --backend wasm --threads N runs on N threads and prints the same; bad counts are usage errors", async () => {
    const [three, one] = await Promise.all([graphc("run", model, "--backend", "wasm", "--threads", "3"), graphc("run", model, "--backend", "wasm", "--threads", "1")]);
    expect(three.code, three.stderr).toBe(0);
    expect(three.stderr).toMatch(/ran lnet on wasm \(baseline SIMD, 3 threads\) in/);
    expect(one.stderr).toMatch(/ran lnet on wasm \(baseline SIMD, 1 thread\) in/);
    expect(three.stdout).toBe(one.stdout);
    for (const [args, message] of [
      [["--backend", "wasm", "--threads", "0"], /--threads must be an integer from 1 to 16, got "0"/],
      [["--backend", "wasm", "--threads", "2.5"], /--threads must be an integer from 1 to 16, got "2.5"/],
      [["--threads", "2"], /--threads is for --backend wasm/],
    ] as const) {
      const r = await graphc("run", model, ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});
