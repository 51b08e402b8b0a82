// The figures `graphc compile --stats` reports.
import { numel, type Graph } from "../ir/graph.js";
import type { PassStat } from "./manager.js";
import { isView, planMemory } from "../ir/memory.js";

export interface CompileStats {
  passes: PassStat[];
  kernels: number;
  arenaBytes: number;
  arenaLowerBound: number;
  weightBytes: number;
}

export function compileStats(g: Graph, passes: PassStat[]): CompileStats {
  const plan = planMemory(g);
  return {
    passes,
    kernels: g.nodes.filter((n) => !isView(n.op)).length,
    arenaBytes: plan.arenaBytes,
    arenaLowerBound: plan.lowerBound,
    weightBytes: g.constants.reduce((s, c) => s + c.data.byteLength, 0) + g.weights.reduce((s, w) => s + numel(w.type.shape) * 4, 0),
  };
}
