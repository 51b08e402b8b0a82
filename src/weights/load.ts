// A model's weights: from a safetensors checkpoint when one is given, else the seeded default.
import { readFileSync } from "node:fs";
import type { Graph } from "../ir/graph.js";
import { calibrateBatchNorm } from "./calibrate.js";
import { matchCheckpoint } from "./bind.js";
import { initWeights } from "./init.js";
import { readSafetensors } from "./safetensors.js";
import type { TensorData } from "./tensor.js";

export interface WeightSource {
  /** A .safetensors file; without it, `initWeights(graph.weights, seed)` with calibrated BatchNorms. */
  file?: string;
  seed?: number;
  /** Tensors the model does not declare are warnings instead of an error. */
  allowUnexpected?: boolean;
}

export function loadWeights(graph: Graph, src: WeightSource = {}): { data: Map<string, TensorData>; warnings: string[] } {
  if (!src.file) {
    const data = initWeights(graph.weights, src.seed ?? 0);
    calibrateBatchNorm(graph, data, src.seed ?? 0);
    return { data, warnings: [] };
  }
  const tensors = readSafetensors(new Uint8Array(readFileSync(src.file)), src.file);
  return matchCheckpoint(graph.weights, tensors, { file: src.file, allowUnexpected: src.allowUnexpected ?? false });
}
