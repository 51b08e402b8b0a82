// One NaN pixel into MobileNetV3-Small (reduced to 32x32 and 10 classes): every logit is NaN, on
// the interpreter, both wasm builds, WGSL (SwiftShader) and onnxruntime (through exportOnnx), as in
// PyTorch. It used to be a confident finite top-5: relu(NaN) was 0 (`x > 0 ? x : 0`, wasm's
// pmax(0, x), WGSL's max(x, 0.0)). The same
// image without the NaN gives finite logits everywhere, so the NaN comes from the pixel. Op by op,
// NaN and ±Inf are the conformance tests' (test/conformance) business.
import { setFlagsFromString } from "node:v8";
import { afterAll, describe, expect, it } from "vitest";
import { loadParts, type ModuleParts } from "../../codegen/module/index.js";
import { wgslTarget } from "../../codegen/wgsl/target.js";
import { compileGraph, elaborate, lower, modelWeights, optimise, plan } from "../../src/driver.js";
import { interpret, type TensorData } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { normals, rng, runOrt } from "../onnx/helpers.js";
import { runOnGpu } from "../wgsl/gpu.js";
import { gpuPipeline, swiftShaderDevice } from "../wgsl/helpers.js";

// Node 20 compiles relaxed SIMD only behind this flag; it must be set before the first compile.
setFlagsFromString("--experimental-wasm-relaxed-simd");

const SHAPE = [1, 3, 32, 32];
const { graph } = elaborate({ path: "specs/mobilenet_v3_small.nn" }, { shapes: { image: SHAPE }, set: { classes: 10 } });
const { data } = modelWeights(graph, { seed: 3 });

/** The seeded image, with a NaN at one pixel of one channel when `nan`. */
function image(nan: boolean): Float32Array {
  const x = normals(SHAPE.reduce((a, b) => a * b), rng(11));
  if (nan) x[1 * 32 * 32 + 17 * 32 + 9] = NaN;
  return x;
}

/** The wasm module (both SIMD builds), compiled on first use. */
let wasm: Promise<ModuleParts> | undefined;
const wasmModule = () => (wasm ??= plan({ target: "wasm" }).then(async (p) => (await compileGraph(structuredClone(graph), data, p, { relaxedSimd: "auto" })).parts as ModuleParts));

let gpu: ReturnType<typeof swiftShaderDevice> | undefined;
const gpuGraph = lower(optimise(structuredClone(graph), data, gpuPipeline).graph, wgslTarget);
afterAll(async () => (await gpu)?.device.destroy());

/** Each engine's logits for an image. */
const engines: Record<string, (x: Float32Array) => Promise<ArrayLike<number>>> = {
  interpreter: async (x) => interpret(graph, data, { image: x }).logits as Float32Array,
  onnxruntime: async (x) => (await runOrt(exportOnnx(graph, data), graph, { image: x })).logits!.data as Float32Array,
  ...Object.fromEntries(
    (["baseline", "relaxed"] as const).map((simd) => [
      `wasm ${simd}`,
      async (x: Float32Array) => {
        const model = await loadParts(await wasmModule(), { simd });
        return (await model.run({ image: x } as Record<string, TensorData>)).logits as Float32Array;
      },
    ]),
  ),
  wgsl: async (x) => (await runOnGpu(gpuGraph, (await (gpu ??= swiftShaderDevice())).device, { image: x })).logits as Float32Array,
};

describe("a NaN pixel into MobileNetV3-Small", () => {
  it.each(Object.keys(engines))("%s: every logit NaN, and finite without the NaN", async (name) => {
    const run = engines[name]!;
    const clean = Array.from(await run(image(false)));
    expect(clean.every(Number.isFinite), `${name}, clean image: ${clean}`).toBe(true);
    const poisoned = Array.from(await run(image(true)));
    expect(poisoned.map(Number.isNaN), `${name}, one NaN pixel: ${poisoned}`).toEqual(clean.map(() => true));
  });
});
