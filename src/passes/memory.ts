// Static memory planning. PLACEHOLDER until the planning pass lands: every intermediate gets
// its own region (no reuse), so arenaBytes is an honest upper bound.
import { numel, type Graph } from "../ir/graph.js";

export interface MemoryPlan {
  /** Byte offset in the arena of each value id (-1 for values outside it: inputs, constants). */
  offsets: number[];
  arenaBytes: number;
  /** Largest total size of intermediates live at the same time. */
  lowerBound: number;
}

export function planMemory(g: Graph): MemoryPlan {
  const offsets = g.values.map(() => -1);
  let arenaBytes = 0;
  for (const n of g.nodes)
    for (const o of n.outputs) {
      offsets[o] = arenaBytes;
      arenaBytes += numel(g.values[o]!.type.shape) * 4;
    }
  return { offsets, arenaBytes, lowerBound: arenaBytes };
}
