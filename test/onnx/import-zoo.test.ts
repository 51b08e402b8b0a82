// Round trip of every zoo model: .nn -> export-onnx -> import -> .nn again. The imported model
// must give onnxruntime's outputs on the exported file (max |ort − imported| ≤ 1e-4·max|ort| +
// 1e-5: both compute in f32, in different orders) and reach the same kernel count after the
// standard passes as the hand-written spec (the importer emits the builtins and weight labels
// the passes recognise).
import { describe, expect, it } from "vitest";
import { modelWeights, optimise } from "../../src/driver.js";
import { interpret } from "../../src/interp/index.js";
import type { Graph } from "../../src/ir/graph.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { compileStats } from "../../src/passes/stats.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { fastWeights } from "../module/weights.js";
import { elaborate, expectClose, inputsFor, runOrt } from "./helpers.js";
import { elaborateReduced, specs } from "./zoo.js";

function kernels(g: Graph, weights: ReadonlyMap<string, TensorData>): number {
  const { graph, stats } = optimise(g, weights, defaultPipeline);
  return compileStats(graph, stats).kernels;
}

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
      const original = elaborateReduced(name).graph!;
      const weights = fastWeights(original, 1);
      const bytes = exportOnnx(original, weights);
      const { g, weights: imported } = elaborateImport(bytes);
      expect(g.inputs.map((p) => p.name)).toEqual(original.inputs.map((p) => p.name));
      expect(g.outputs.map((p) => p.name)).toEqual(original.outputs.map((p) => p.name));
      const inputs = inputsFor(original, 7);
      expectClose(g, await runOrt(bytes, original, inputs), interpret(g, imported, inputs), name);
      expect(kernels(g, imported), `${name}: kernels after the passes`).toBe(kernels(original, weights));
    });
});
