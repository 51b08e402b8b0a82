// The figures `graphc compile --stats` reports.
import { numel, type Graph } from "../ir/graph.js";
import type { PassStat } from "./manager.js";
import { isView, planMemory } from "../ir/memory.js";

export interface CompileStats {
  passes: PassStat[];
  kernels: number;
  arenaBytes: number;
  arenaLowerBound: number;
  /** Float32 bytes of the model's constants and weights after the passes (BatchNorm folded, ...): the raw parameters. */
  parameterBytes: number;
  /** Bytes of NAME.weights.bin as written (packing and transforms happen at load time), when a module was written with one. */
  weightsFileBytes?: number;
}

export function compileStats(g: Graph, passes: PassStat[]): CompileStats {
  const plan = planMemory(g);
  return {
    passes,
    kernels: g.nodes.filter((n) => !isView(n.op)).length,
    arenaBytes: plan.arenaBytes,
    arenaLowerBound: plan.lowerBound,
    parameterBytes: g.constants.reduce((s, c) => s + c.data.byteLength, 0) + g.weights.reduce((s, w) => s + numel(w.type.shape) * 4, 0),
  };
}

/** { weightsFileBytes } of the NAME.weights.bin among `files`, or nothing when none was written (embedded weights, no module). */
export function weightsFileStat(files: readonly { name: string; contents: Uint8Array | string }[] | undefined): { weightsFileBytes?: number } {
  const file = files?.find((f) => f.name.endsWith(".weights.bin"));
  return file ? { weightsFileBytes: typeof file.contents === "string" ? Buffer.byteLength(file.contents) : file.contents.byteLength } : {};
}
