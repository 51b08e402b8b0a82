// The WebAssembly SIMD target: one module per model, baseline and relaxed-SIMD builds.
import { buildModule } from "../module/index.js";
import type { Target } from "../target.js";

export const wasmTarget: Target = {
  name: "wasm",
  description: "WebAssembly SIMD (Binaryen): an ES module with baseline and relaxed-SIMD builds and a weights file",
  pipeline: (standard) => [...standard],
  supports: () => true,
  emit: (graph, options) => buildModule(graph, options),
};
