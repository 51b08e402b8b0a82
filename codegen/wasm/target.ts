// The WebAssembly SIMD target: one module per model, baseline and relaxed-SIMD builds.
import { isOp, isUnsupported } from "../../src/ir/ops.js";
import { buildModule } from "../module/index.js";
import type { Target } from "../target.js";
import { wasmKernels } from "./kernels.js";

export const wasmTarget: Target = {
  name: "wasm",
  description: "WebAssembly SIMD (Binaryen): an ES module with baseline and relaxed-SIMD builds and a weights file",
  pipeline: (standard) => [...standard],
  supports: (_graph, node) => {
    const kernel = isOp(node.op) ? wasmKernels[node.op] : undefined;
    return isUnsupported(kernel) ? { unsupported: kernel.unsupported } : true;
  },
  emit: (graph, options) => buildModule(graph, options),
};
