// Round trip of one zoo model of each family: .nn -> export-onnx -> import -> .nn again. After
// the standard passes the imported model must be the hand-written spec's graph (same kernels,
// attributes, shapes and constant contents: the importer emits the builtins the passes
// recognise), and the models marked `run` must give onnxruntime's outputs on the exported file
// (max |ort − imported| ≤ 1e-4·max|ort| + 1e-5: both compute in f32, in different orders).
import { describe, expect, it } from "vitest";
import { modelWeights, optimise } from "../../src/driver.js";
import { interpret } from "../../src/interp/index.js";
import type { ElaborateOptions } from "../../src/frontend/index.js";
import type { Graph } from "../../src/ir/graph.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { compileStats } from "../../src/passes/stats.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { fastWeights } from "../module/weights.js";
import { elaborate, expectClose, inputsFor, runOrt } from "./helpers.js";
import { elaborateReduced } from "./zoo.js";

const image = (side: number, ...names: string[]) => ({ shapes: Object.fromEntries(names.map((n) => [n, [1, 3, side, side]])) });

/**
 * One model of each family, small: the round trip maps op by op, so more layers of the same
 * blocks add time and nothing else. Images of 16x16 (a stride-2 layer on a 1x1 map still gives
 * 1x1, so every layer is there), 10 classes, 8 tokens, two ALBERT layers (its shared layer
 * applied twice). `run`: also run on the interpreter against onnxruntime (a CNN and a
 * transformer; the others' graphs equal the originals', which zoo.test.ts runs).
 *
 * Left out for the suite's time (each is a repeat of one here; zoo.test.ts still runs all of them
 * against onnxruntime): resnet34, resnet101, resnet152 (resnet18/50's blocks, deeper),
 * wide_resnet50_2 (resnet50, wider), resnet50d (resnet50 with a deep stem and avgpool shortcuts),
 * mobilenet_v3_large (v3_small's blocks), bert_base, roberta_base and bert_pretraining at its full
 * 12-layer config (BERT layers as in tinybert and distilbert; the heads are linears),
 * bert_for_sequence/token_classification and bert_for_question_answering (one BERT layer and a
 * linear head), siamese_contrastive (the triplet's tower), deeplabv3_resnet50 and
 * lraspp_mobilenet_v3_large (deeplabv3_mobilenet_v3_large has their ASPP and bilinear resize).
 */
const representative: Record<string, ElaborateOptions & { run?: true }> = {
  resnet18: { ...image(16, "image"), set: { classes: 10 } },
  resnet50: { ...image(16, "image"), set: { classes: 10 } },
  resnext50_32x4d: { ...image(16, "image"), set: { classes: 10 } },
  mobilenet_v1: { set: { resolution: 32, alpha: 0.5 } },
  mobilenet_v2: image(16, "image"),
  mobilenet_v3_small: image(16, "image"),
  deeplabv3_mobilenet_v3_large: image(17, "image"),
  tinybert_4l_312: { set: { seq: 8 }, run: true },
  distilbert_base: { set: { seq: 8 } },
  albert_base_v2: { set: { seq: 8, layers: 2 } },
  siamese_triplet: { ...image(32, "anchor", "positive", "negative"), run: true },
};

/**
 * The optimised graph as the backends see it: each node's op, attributes and input/output
 * types, constants by content (a weight's name is not part of it). Two models with the same
 * signature compute the same outputs with the same kernels.
 */
function optimisedSignature(g: Graph, weights: ReadonlyMap<string, TensorData>): { kernels: number; nodes: string[] } {
  const { graph, stats } = optimise(g, weights, defaultPipeline);
  const data = new Map(graph.constants.map((c) => [c.value, c.data]));
  const operand = (v: number) => {
    const d = data.get(v);
    const t = graph.values[v]!.type;
    if (!d) return `${t.dtype}[${t.shape}]`;
    let sum = 0;
    for (let i = 0; i < d.length; i++) sum += Number(d[i]!) * ((i % 7) + 1);
    return `const ${t.dtype}[${t.shape}] ${sum.toPrecision(5)}`;
  };
  const nodes = graph.nodes.map((n) => `${n.op} ${JSON.stringify(n.attrs)} (${n.inputs.map(operand).join(", ")}) -> ${n.outputs.map(operand).join(", ")}`);
  return { kernels: compileStats(graph, stats).kernels, nodes };
}

/** Elaborates an import; the graph's ports keep the ONNX names (the zoo's are identifiers). */
export function elaborateImport(bytes: Uint8Array, shapes?: Record<string, number[]>): { g: Graph; weights: Map<string, TensorData>; source: string } {
  const imported = importOnnx(bytes, "model.onnx", shapes ? { shapes } : {});
  const g = elaborate(imported.source);
  // As the driver binds them: buffers inference never reads (num_batches_tracked) take their defaults.
  return { g, weights: modelWeights(g, { weights: imported.weights }).data, source: imported.source };
}

describe("ONNX import of one exported zoo model of each family", () => {
  for (const [name, { run, ...opts }] of Object.entries(representative))
    it(name, async () => {
      const original = elaborateReduced(name, opts).graph!;
      // BatchNorm statistics are calibrated only where the model runs (the comparison is of graphs).
      const weights = fastWeights(original, 1, { calibrate: run === true });
      const bytes = exportOnnx(original, weights);
      const { g, weights: imported } = elaborateImport(bytes);
      expect(g.inputs.map((p) => p.name)).toEqual(original.inputs.map((p) => p.name));
      expect(g.outputs.map((p) => p.name)).toEqual(original.outputs.map((p) => p.name));
      if (run) {
        const inputs = inputsFor(original, 7);
        expectClose(g, await runOrt(bytes, original, inputs), interpret(g, imported, inputs), name);
      }
      const want = optimisedSignature(original, weights);
      const got = optimisedSignature(g, imported);
      expect(got.kernels, `${name}: kernels after the passes`).toBe(want.kernels);
      // independent branches (two heads) may come in either order
      expect(got.nodes.toSorted()).toEqual(want.nodes.toSorted());
    });
});
