// A model's weights: from a safetensors checkpoint when one is given, else the seeded default.
import type { Graph } from "../ir/graph.js";
import { calibrateBatchNorm } from "./calibrate.js";
import { bindCheckpoint, unreadBuffers, type BindOptions } from "./bind.js";
import { initWeights } from "./init.js";
import { indexSafetensors } from "./safetensors.js";
import { withFile } from "./source.js";
import type { TensorData } from "./tensor.js";

export interface WeightSource extends Pick<BindOptions, "strict" | "allowUnexpected" | "rename"> {
  /** A .safetensors file; without it, `initWeights(graph.weights, seed)` with calibrated BatchNorms. */
  file?: string;
  seed?: number;
}

export function loadWeights(graph: Graph, src: WeightSource = {}): { data: Map<string, TensorData>; warnings: string[] } {
  if (!src.file) {
    const data = initWeights(graph.weights, src.seed ?? 0);
    calibrateBatchNorm(graph, data, src.seed ?? 0);
    return { data, warnings: [] };
  }
  // Only the tensors the graph binds are read (at their offsets): extra ones cost no memory.
  const options: BindOptions = { ...src, optional: unreadBuffers(graph) };
  return withFile(src.file, (file) => bindCheckpoint(graph.weights, indexSafetensors(file).tensors, options));
}
