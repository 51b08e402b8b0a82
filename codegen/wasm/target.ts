// The WebAssembly SIMD target: one module per model, baseline and relaxed-SIMD builds.
import { numel, type Graph } from "../../src/ir/graph.js";
import { planMemory } from "../../src/ir/memory.js";
import { isOp, isUnsupported } from "../../src/ir/ops.js";
import { byteCount, constantData } from "../../src/ir/rewrite.js";
import { buildModule, constantsRunner } from "../module/index.js";
import { roundedWeights } from "./bias-correction.js";
import type { LimitProblem, Target } from "../target.js";
import { wasmKernels } from "./kernels.js";
import { MAX_MEMORY_BYTES, memoryMessage } from "./memory-limit.js";

/**
 * The memory a module needs at least (its constants, its inputs and its arena of intermediate
 * tensors; packed weights and kernel scratch come on top) when it is more than wasm32 has.
 */
function memoryProblems(g: Graph): LimitProblem[] {
  const parts: [string, number][] = [
    ["weights and constants", g.constants.reduce((s, c) => s + c.data.byteLength, 0)],
    ["inputs", g.inputs.reduce((s, p) => s + numel(g.values[p.value]!.type.shape) * 4, 0)],
    ["intermediate tensors", planMemory(g).arenaBytes],
  ];
  const total = parts.reduce((s, [, bytes]) => s + bytes, 0);
  if (total <= MAX_MEMORY_BYTES) return [];
  const detail = parts.map(([what, bytes]) => `${what} ${byteCount(bytes)}`).join(", ");
  return [{ message: memoryMessage(`at least ${byteCount(total)}`, detail) }];
}

export const wasmTarget: Target = {
  name: "wasm",
  description: "WebAssembly SIMD (Binaryen): an ES module with baseline and relaxed-SIMD builds and a weights file",
  pipeline: (standard) => [...standard],
  supports: (graph, node) => {
    const kernel = isOp(node.op) ? wasmKernels[node.op] : undefined;
    if (isUnsupported(kernel)) return { unsupported: kernel.unsupported };
    // The convolution kernels prepack their weights at compile time; a training graph computes some.
    if ((node.op === "conv2d" || node.op === "conv_transpose2d") && constantData(graph, node.inputs[1]!) === undefined)
      return { unsupported: "its weight is computed at run time (a training graph), and the convolution kernels prepack constant weights" };
    return true;
  },
  limits: memoryProblems,
  emit: (graph, options) => buildModule(graph, options),
  roundedWeights: (graph, { weightsDtype = "f32", fanInMeans = new Map(), keepFloat32 }) => (weightsDtype === "f32" ? [] : roundedWeights(graph, weightsDtype, fanInMeans, keepFloat32)),
  constantsRunner,
};
