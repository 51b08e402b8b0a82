// The real PaddleOCR models (Paddle2ONNX exports, weights kept as Constant nodes, opset 9 and
// 11) imported and run against onnxruntime on a text-like image: the direction classifier
// (MobileNetV3 with SE blocks, HardSigmoid alpha 0.2, opset-9 Clip and Softmax) and the PP-OCRv4
// recogniser (an SVTR transformer neck: decomposed LayerNorm, MatMul attention, opset-9 Slice
// and Squeeze). The detector needs Resize and ConvTranspose, reported until those IR ops land.
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { CompileError, elaborate as elaborateModel, modelWeights } from "../../src/driver.js";
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
  it("the direction classifier matches onnxruntime (import-cli.test.ts runs it compiled)", async () => {
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

  it("the detector's Resize and ConvTranspose nodes are all reported, each with its name and opset", () => {
    let error: unknown;
    try {
      elaborateModel({ path: `${assets}/ch_PP-OCRv4_det_infer.onnx` }, { shapes: { x: [1, 3, 64, 64] } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompileError);
    const lines = (error as CompileError).diagnostics;
    expect(lines.filter((l) => /^error: Resize node `p2o\.Resize\.\d` \(opset 11\): needs the IR op resize/.test(l))).toHaveLength(6);
    expect(lines.filter((l) => /^error: ConvTranspose node `p2o\.ConvTranspose\.\d` \(opset 11\): needs the IR op conv_transpose2d/.test(l))).toHaveLength(2);
    expect(lines).toHaveLength(8);
  });
});
