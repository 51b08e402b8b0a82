// The WebGPU target: one WGSL compute shader per kernel and a small host in the ES module.
import { isNHWC, unsupported } from "../../src/ir/ops.js";
import type { Target } from "../target.js";
import { unsupportedOp } from "./kernels.js";
import { emitWgslModule } from "./module.js";

export const wgslTarget: Target = {
  name: "wgsl",
  description: "WGSL compute shaders for WebGPU: an ES module that takes the caller's GPUDevice, and a weights file",
  // The shaders read NCHW tensors: channels-last would only add transposes.
  pipeline: (standard) => standard.filter((p) => p !== "layout"),
  supports: (_g, node) => unsupportedOp(node.op) ?? (isNHWC(node.attrs) ? unsupported("channels-last (NHWC) tensors") : true),
  checkOptions: (o) => (o.relaxedSimd !== undefined || o.embedWeights ? "relaxed SIMD and embedded weights are options of the wasm target" : undefined),
  emit: (graph) => emitWgslModule(graph, graph.name),
};
