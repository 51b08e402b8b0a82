// Whole-model gradients against TensorFlow.js: the training forward graph (BatchNorm in training
// mode) differentiated by gradients() on the interpreter, and the same graph run as tf ops and
// differentiated by tf.variableGrads (tf.ts), for siamese_contrastive's tower and a one-layer
// BERT with a classification head.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gradients, trainingForward } from "../../src/autodiff/index.js";
import { elaborate, modelWeights } from "../../src/driver.js";
import type { Graph, TensorData } from "../../src/ir/graph.js";
import { compact } from "../../src/ir/rewrite.js";
import { interpret } from "../../src/interp/index.js";
import { root } from "../support/cli.js";
import { rng } from "../support/source.js";
import { bertClassifier } from "./models.js";
import { tfGradients } from "./tf.js";

/**
 * Both sides compute in float32 with different summation orders, and a gradient passes through
 * up to a dozen normalisations and products: each tensor within 1e-4 of its largest element,
 * plus 1e-7 for gradients that are 0 in exact arithmetic (the attention key's bias: softmax
 * ignores a shift of a row) and rounding noise on both sides.
 */
const REL_TO_MAX = 1e-4;
const ABS = 1e-7;

const random = (seed: number, n: number, scale = 1) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * r() - 1));
};

function compare(model: Graph, weights: Map<string, TensorData>, inputs: Record<string, TensorData>): void {
  const { graph } = trainingForward(model);
  compact(graph);
  const params = graph.weights.filter((w) => w.trainable);
  const ours = structuredClone(graph);
  const grads = gradients(ours, ours.outputs.find((p) => p.name === "loss")!.value, params.map((p) => p.value));
  params.forEach((p, i) => ours.outputs.push({ name: `d.${p.name}`, value: grads[i]! }));
  compact(ours);
  const got = interpret(ours, weights, inputs);
  const want = tfGradients(graph, weights, inputs, params.map((p) => p.name));
  expect(params.length).toBeGreaterThan(5);
  for (const p of params) {
    const [a, b] = [got[`d.${p.name}`] as Float32Array, want.get(p.name)!];
    const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    expect(worst, `${p.name}: ours differs from tf.grad's by ${worst} (largest element ${scale})`).toBeLessThanOrEqual(REL_TO_MAX * scale + ABS);
  }
  // Most parameters get a gradient well above the floor.
  expect(params.filter((p) => want.get(p.name)!.some((v) => Math.abs(v) > 1e3 * ABS)).length).toBeGreaterThan(params.length * 0.8);
}

describe("whole-model gradients agree with tf.variableGrads", () => {
  it("siamese_contrastive: the shared CNN tower, BatchNorm in training mode, the contrastive loss", { timeout: 60_000 }, () => {
    const B = 4;
    const shapes = { image_a: [B, 3, 8, 8], image_b: [B, 3, 8, 8], label: [B] };
    const { graph } = elaborate({ path: join(root, "specs/siamese_contrastive.nn") }, { set: { dim: 8 }, shapes });
    const weights = modelWeights(graph, { seed: 3 }).data;
    compare(graph, weights, { image_a: random(1, B * 192), image_b: random(2, B * 192), label: Float32Array.of(0, 1, 1, 0) });
  });

  it("a MobileNetV3 classifier: depthwise convolutions, squeeze-excite gates, hard_swish", { timeout: 60_000 }, () => {
    const text = `import "lib/mobilenet.nn"
model m() {
  input image: f32[2, 3, 32, 32]
  input target: f32[2, 10]
  logits = mobilenet_v3(image, [(3, 16, 16, true, relu, 2), (3, 72, 24, false, relu, 2), (5, 96, 40, true, hard_swish, 2)], 64, 10)
  output loss = mean(sum(target * log(softmax(logits, axis=-1)), [1]), [0]) * -1.0
}`;
    const { graph } = elaborate({ path: join(root, "specs/mobilenet_training.nn"), text });
    const target = new Float32Array(20);
    target[3] = target[17] = 1;
    compare(graph, modelWeights(graph, { seed: 6 }).data, { image: random(7, 2 * 3 * 32 * 32), target });
  });

  it("a one-layer BERT with a classification head and a cross-entropy loss", { timeout: 60_000 }, () => {
    const graph = bertClassifier();
    // BERT's N(0, 0.02) initialisation makes tiny gradients: larger weights exercise every path.
    const weights = new Map([...modelWeights(graph, { seed: 4 }).data].map(([name, d], i) => [name, d instanceof Float32Array && !name.includes("LayerNorm") ? random(100 + i, d.length, 0.5) : d]));
    compare(graph, weights, {
      input_ids: Int32Array.of(1, 7, 3, 39, 2, 1, 5, 5, 0, 0),
      token_type_ids: Int32Array.of(0, 0, 0, 1, 1, 0, 0, 1, 0, 0),
      attention_mask: Int32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
      target: Float32Array.of(1, 0, 0, 0, 0, 1),
    });
  });
});
