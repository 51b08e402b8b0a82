// The zoo-in-onnxruntime check, shared by the zoo test files (split in two so that vitest runs
// the CNNs and the transformers in parallel workers).
import { readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { elaborateFile, type ElaborateOptions, type ElaborateResult } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { fastWeights } from "../module/weights.js";
import { expectClose, inputsFor, runOrt } from "./helpers.js";

const img = (...names: string[]) => Object.fromEntries(names.map((n) => [n, [1, 3, 48, 48]]));
/** An odd-sized image: the final bilinear upsampling then has a non-integer ratio. */
const oddImage = (n: number) => ({ image: [1, 3, n, n] });

/**
 * How each zoo model is shrunk for the tests (48x48 images still leave 2x2 maps at stride 32; the
 * segmentation models take odd sizes).
 * The BERT variants run one layer (ALBERT two, to apply its shared layer twice): each layer
 * runs the same code.
 */
export const reduced: Record<string, ElaborateOptions> = {
  resnet18: { shapes: img("image") },
  resnet34: { shapes: img("image") },
  resnet50: { shapes: img("image") },
  resnet50d: { shapes: img("image") },
  resnet101: { shapes: img("image") },
  resnet152: { shapes: img("image") },
  resnext50_32x4d: { shapes: img("image") },
  wide_resnet50_2: { shapes: img("image") },
  mobilenet_v1: { set: { resolution: 128 } },
  mobilenet_v2: { shapes: img("image") },
  mobilenet_v3_large: { shapes: img("image") },
  mobilenet_v3_small: { shapes: img("image") },
  // Stride 8 at 17x17 leaves 3x3 maps, stride 16 at 49x49 4x4 (and 7x7 at stride 8).
  deeplabv3_resnet50: { shapes: oddImage(17) },
  deeplabv3_mobilenet_v3_large: { shapes: oddImage(49) },
  lraspp_mobilenet_v3_large: { shapes: oddImage(49) },
  bert_base: { set: { seq: 16 } },
  bert_pretraining: { set: { seq: 16 } },
  distilbert_base: { set: { seq: 16 } },
  roberta_base: { set: { seq: 8, layers: 1 } },
  albert_base_v2: { set: { seq: 8, layers: 2 } },
  tinybert_4l_312: { set: { seq: 8 } },
  bert_for_sequence_classification: { set: { seq: 8, layers: 1 } },
  bert_for_token_classification: { set: { seq: 8, layers: 1 } },
  bert_for_question_answering: { set: { seq: 8, layers: 1 } },
  siamese_contrastive: { shapes: img("image_a", "image_b") },
  siamese_triplet: { shapes: img("anchor", "positive", "negative") },
};

export const specs = readdirSync("specs").filter((f) => f.endsWith(".nn")).map((f) => f.slice(0, -3)).sort();

export function elaborateReduced(name: string, opts: ElaborateOptions = reduced[name]!): ElaborateResult {
  return elaborateFile(`specs/${name}.nn`, opts);
}

/**
 * One test per model: it exports with seeded weights (fastWeights: the initialisers' scales,
 * drawn cheaply), loads in onnxruntime, gives finite
 * outputs of the declared shapes, and matches the interpreter (max |ort − interp| ≤
 * 1e-4·max|ort| + 1e-5 per output) on a deterministic input.
 */
export function zooTest(name: string, opts: ElaborateOptions = reduced[name]!, label = name): void {
  it(label, async () => {
    const r = elaborateReduced(name, opts);
    expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
    const g = r.graph!;
    const weights = fastWeights(g, 1);
    const bytes = exportOnnx(g, weights);
    const inputs = inputsFor(g, 7);
    const got = await runOrt(bytes, g, inputs);
    for (const p of g.outputs) {
      const o = got[p.name]!;
      expect([...o.dims], p.name).toEqual(g.values[p.value]!.type.shape);
      for (const v of o.data) if (!Number.isFinite(Number(v))) expect.fail(`${name}: output ${p.name} has a non-finite value ${v}`);
    }
    expectClose(g, got, interpret(g, weights, inputs), name);
  });
}

export const isTransformer = (name: string) => /bert/.test(name);
