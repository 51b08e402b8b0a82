// A model's weights: from a checkpoint (safetensors, or a PyTorch .pt/.pth) when one is given, else the seeded default.
import type { Graph } from "../ir/graph.js";
import { calibrateBatchNorm } from "./calibrate.js";
import { bindCheckpoint, unreadBuffers, type BindOptions, type TensorSource } from "./bind.js";
import { initWeights } from "./init.js";
import { indexSafetensors } from "./safetensors.js";
import { type ByteSource, readBytes, withFile } from "./source.js";
import type { TensorData } from "./tensor.js";
import { indexTorch, isLegacyTorch } from "./torch.js";

export interface WeightSource extends Pick<BindOptions, "strict" | "allowUnexpected" | "rename"> {
  /** A .safetensors or torch.save (.pt/.pth) file; without it, `initWeights(graph.weights, seed)` with calibrated BatchNorms. */
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
  return withFile(src.file, (file) => {
    const { tensors, warnings } = indexCheckpoint(file);
    const bound = bindCheckpoint(graph.weights, tensors, options);
    return { data: bound.data, warnings: [...warnings, ...bound.warnings] };
  });
}

/**
 * The tensors of a checkpoint, by its content: a zip archive (or a legacy torch.save pickle) is
 * a PyTorch checkpoint, anything else safetensors; a `.safetensors` name is always safetensors.
 */
export function indexCheckpoint(source: ByteSource): { tensors: ReadonlyMap<string, TensorSource>; warnings: string[] } {
  const head = readBytes(source, 0, Math.min(source.size, 16));
  const zip = head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5);
  if (!source.name.endsWith(".safetensors") && (zip || isLegacyTorch(head))) return indexTorch(source);
  return { tensors: indexSafetensors(source).tensors, warnings: [] };
}
