// The real PaddleOCR models (Paddle2ONNX exports, weights kept as Constant nodes, opset 9 and
// 11) imported and run against onnxruntime on a text-like image: the direction classifier
// (MobileNetV3 with SE blocks, HardSigmoid alpha 0.2, opset-9 Clip and Softmax) and the PP-OCRv4
// recogniser (an SVTR transformer neck: decomposed LayerNorm, MatMul attention, opset-9 Slice
// and Squeeze) and the PP-OCRv4 detector (a DB head: nearest Resize of the FPN levels,
// ConvTranspose upsampling to the probability map), on the interpreter and compiled to wasm.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile, instantiate } from "../../src/api.js";
import { elaborate as elaborateModel, modelWeights } from "../../src/driver.js";
import { interpret } from "../../src/interp/index.js";
import { maxDiff, session } from "./helpers.js";
import { paddleAssets as assets, textImage } from "./paddle.js";

async function ortRun(file: string, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await session(readFileSync(file));
  try {
    const res = await s.run({ x: new ort.Tensor("float32", x, dims) });
    const out = Object.values(res)[0]!;
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await s.release();
  }
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  const { diff, scale, at } = maxDiff(want, got);
  if (!(diff <= rtol * scale + atol)) expect.fail(`${what}: differs by ${diff} (tolerance ${rtol * scale + atol}) at ${at}: ort ${want[at]} vs graphc ${got[at]}`);
}

describe("PaddleOCR models", () => {
  it("the direction classifier matches onnxruntime (import-cli.test.ts runs it compiled to wasm)", async () => {
    const file = `${assets}/ch_ppocr_mobile_v2.0_cls_infer.onnx`;
    const dims = [1, 3, 48, 192];
    const x = textImage(48, 192);
    const want = await ortRun(file, x, dims);
    const model = elaborateModel({ path: file }, { shapes: { x: dims } });
    const weights = modelWeights(model.graph, { weights: model.weights! }).data;
    const out = Object.values(interpret(model.graph, weights, { x }))[0]!;
    expect([...want.dims]).toEqual([1, 2]);
    // 53 convolutions in f32 in another order: 1e-4 relative to the largest probability.
    expectNear(out as Float32Array, want.data, 1e-4, 1e-5, "interpreter");
  });

  it("the PP-OCRv4 recogniser matches onnxruntime", async () => {
    const file = `${assets}/ch_PP-OCRv4_rec_infer.onnx`;
    const dims = [1, 3, 48, 160];
    const x = textImage(48, 160);
    const want = await ortRun(file, x, dims);
    const model = elaborateModel({ path: file }, { shapes: { x: dims } });
    const weights = modelWeights(model.graph, { weights: model.weights! }).data;
    const out = Object.values(interpret(model.graph, weights, { x }))[0]!;
    expect(model.graph.values[model.graph.outputs[0]!.value]!.type.shape).toEqual([...want.dims]);
    // softmax probabilities after ~40 convolutions and 2 transformer blocks, f32 in another order
    expectNear(out as Float32Array, want.data, 1e-4, 1e-5, "interpreter");
  });

  it("the PP-OCRv4 detector (Resize, ConvTranspose) matches onnxruntime", async () => {
    const file = `${assets}/ch_PP-OCRv4_det_infer.onnx`;
    const dims = [1, 3, 64, 64];
    const x = textImage(64, 64);
    const want = await ortRun(file, x, dims);
    const model = elaborateModel({ path: file }, { shapes: { x: dims } });
    const ops = new Set(model.graph.nodes.map((n) => n.op));
    expect(ops.has("resize") && ops.has("conv_transpose2d")).toBe(true);
    const weights = modelWeights(model.graph, { weights: model.weights! }).data;
    const out = Object.values(interpret(model.graph, weights, { x }))[0]!;
    expect([...want.dims]).toEqual([1, 1, 64, 64]);
    // sigmoid probabilities after ~100 convolutions, f32 in another order
    expectNear(out as Float32Array, want.data, 1e-4, 1e-5, "interpreter");
  });

  it("the recogniser and the detector compile to wasm and match onnxruntime (import-cli.test.ts compiles the classifier)", async () => {
    const models: [string, number[]][] = [
      ["ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 160]],
      ["ch_PP-OCRv4_det_infer.onnx", [1, 3, 64, 64]],
    ];
    for (const [name, dims] of models) {
      const file = `${assets}/${name}`;
      const x = textImage(dims[2]!, dims[3]!);
      const want = await ortRun(file, x, dims);
      // The baseline build only (the relaxed one is the same graph, another codegen run).
      const compiled = await compile({ path: file }, { shapes: { x: dims }, relaxedSimd: "off" });
      const model = await instantiate(compiled, { simd: "baseline" });
      const got = Object.values(await model.run({ x }))[0] as Float32Array;
      // the passes fold batchnorms into the convolutions and fuse epilogues: f32 in yet another order
      expectNear(got, want.data, 1e-4, 1e-5, `${name} in wasm`);
    }
  });
});
