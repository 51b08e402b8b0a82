// Round trip of every zoo model: .nn -> export-onnx -> import -> .nn again. After the standard
// passes the imported model must be the hand-written spec's graph (same kernels, attributes,
// shapes and constant contents: the importer emits the builtins the passes recognise), and the
// smaller models must give onnxruntime's outputs on the exported file (max |ort − imported| ≤
// 1e-4·max|ort| + 1e-5: both compute in f32, in different orders).
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
import { elaborateReduced, reduced, specs } from "./zoo.js";

/**
 * Smaller than the export tests' sizes, for time: 8 tokens; images 32x32 (1x1 maps at stride
 * 32) for the models run on the interpreter, 16x16 for those compared by signature only (a
 * stride-2 layer on a 1x1 map still gives 1x1, so every layer is there); mobilenet_v1 at 64 or 32.
 */
function smaller(o: ElaborateOptions, run: boolean): ElaborateOptions {
  const side = run ? 32 : 16;
  const shapes = o.shapes && Object.fromEntries(Object.entries(o.shapes).map(([k, d]) => [k, [d[0]!, d[1]!, side, side]]));
  const set = o.set && Object.fromEntries(Object.entries(o.set).map(([k, v]) => [k, k === "seq" ? Math.min(Number(v), 8) : k === "resolution" ? side * 2 : v]));
  return { ...(shapes ? { shapes } : {}), ...(set ? { set } : {}) };
}

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

/** Models small enough to run on the interpreter in the suite's time; the others are checked by signature (the same graph as the original, which zoo.test.ts runs against onnxruntime). */
const runs = new Set(["resnet18", "mobilenet_v2", "mobilenet_v3_small", "siamese_triplet", "albert_base_v2", "bert_for_sequence_classification", "tinybert_4l_312"]);

/** Elaborates an import; the graph's ports keep the ONNX names (the zoo's are identifiers). */
export function elaborateImport(bytes: Uint8Array, shapes?: Record<string, number[]>): { g: Graph; weights: Map<string, TensorData>; source: string } {
  const imported = importOnnx(bytes, "model.onnx", shapes ? { shapes } : {});
  const g = elaborate(imported.source);
  // As the driver binds them: buffers inference never reads (num_batches_tracked) take their defaults.
  return { g, weights: modelWeights(g, { weights: imported.weights }).data, source: imported.source };
}

describe("ONNX import of every exported zoo model", () => {
  for (const name of specs)
    it(name, async () => {
      const original = elaborateReduced(name, smaller(reduced[name]!, runs.has(name))).graph!;
      const weights = fastWeights(original, 1);
      const bytes = exportOnnx(original, weights);
      const { g, weights: imported } = elaborateImport(bytes);
      expect(g.inputs.map((p) => p.name)).toEqual(original.inputs.map((p) => p.name));
      expect(g.outputs.map((p) => p.name)).toEqual(original.outputs.map((p) => p.name));
      if (runs.has(name)) {
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
