// Whole-model figures: trainable parameters, multiply-accumulates, the checkpoint's tensors.
import { numel, type DType, type Graph } from "./graph.js";
import { getOp } from "./ops.js";

export interface PortInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface ModelStats {
  params: number;
  macs: number;
  weights: { name: string; shape: number[] }[];
  inputs: PortInfo[];
  outputs: PortInfo[];
}

/** MACs of one node (conv, linear and matmul count; everything else is 0). */
export function nodeMacs(g: Graph, nodeId: number): number {
  const n = g.nodes[nodeId]!;
  const d = getOp(n.op);
  if (!d.macs) return 0;
  const t = (id: number) => g.values[id]!.type;
  return d.macs(n.inputs.map(t), n.outputs.map(t), n.attrs);
}

export function modelStats(g: Graph): ModelStats {
  const port = (p: { name: string; value: number }): PortInfo => ({ name: p.name, dtype: g.values[p.value]!.type.dtype, shape: [...g.values[p.value]!.type.shape] });
  return {
    params: g.weights.filter((w) => w.trainable).reduce((s, w) => s + numel(w.type.shape), 0),
    macs: g.nodes.reduce((s, n) => s + nodeMacs(g, n.id), 0),
    weights: g.weights.map((w) => ({ name: w.name, shape: [...w.type.shape] })),
    inputs: g.inputs.map(port),
    outputs: g.outputs.map(port),
  };
}
