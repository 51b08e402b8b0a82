// One-node graphs for the GEMM-family kernel tests and benchmark, built with buildWasm.
import { rng } from "../support/source.js";
import { setFlagsFromString } from "node:v8";
import { buildWasm } from "../../codegen/wasm/module.js";
import { placeWeights } from "./place-weights.js";
import { emptyGraph, numel, type Attrs, type Graph } from "../../src/ir/graph.js";
import { getOp } from "../../src/ir/ops.js";

// Node 20 compiles relaxed SIMD only behind this flag; it must be set before the first compile.
setFlagsFromString("--experimental-wasm-relaxed-simd");

export interface Operand {
  shape: number[];
  data: Float32Array;
  /** A compile-time constant (like a bound weight); otherwise a model input. */
  constant?: boolean;
}

/** A graph of one node whose non-constant operands are inputs i0, i1, ... and whose output is y. */
export function oneNode(op: string, operands: Operand[], attrs: Attrs): Graph {
  const g = emptyGraph(op);
  const ids = operands.map((o, i) => {
    const id = g.values.length;
    g.values.push({ id, type: { dtype: "f32", shape: o.shape }, kind: o.constant ? "const" : "input" });
    if (o.constant) g.constants.push({ value: id, data: o.data });
    else g.inputs.push({ name: `i${i}`, value: id });
    return id;
  });
  const [yt] = getOp(op).infer(operands.map((o) => ({ dtype: "f32", shape: o.shape })), attrs);
  const y = g.values.length;
  g.values.push({ id: y, type: yt!, kind: "node", producer: 0 });
  g.nodes.push({ id: 0, op, inputs: ids, outputs: [y], attrs, path: "" });
  g.outputs.push({ name: "y", value: y });
  return g;
}

/** The model inputs of a oneNode graph, by name. */
export function inputsOf(operands: Operand[]): Record<string, Float32Array> {
  return Object.fromEntries(operands.flatMap((o, i) => (o.constant ? [] : [[`i${i}`, o.data]])));
}

/** Builds `g` and returns a runner: `run(times)` runs the model `times` times and returns y. */
export async function instantiate(g: Graph, inputs: Record<string, Float32Array>, relaxed: boolean): Promise<(times?: number) => Float32Array> {
  const b = buildWasm(g, { relaxed });
  const { instance } = await WebAssembly.instantiate(b.wasm as Uint8Array<ArrayBuffer>);
  const mem = instance.exports.memory as WebAssembly.Memory;
  placeWeights(instance, b);
  for (const p of b.inputs) new Float32Array(mem.buffer, p.offset, numel(p.shape)).set(inputs[p.name]!);
  const run = instance.exports.run as () => void;
  const y = b.outputs[0]!;
  return (times = 1) => {
    for (let i = 0; i < times; i++) run();
    return new Float32Array(mem.buffer, y.offset, numel(y.shape)).slice();
  };
}

/** Uniform in [-1, 1), seeded. */
export function rand(seed: number): () => number {
  const r = rng(seed);
  return () => r() * 2 - 1;
}
