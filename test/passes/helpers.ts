// Shared by the pass tests: models from .nn text, and op counts to check what a pass made.
import { expect } from "vitest";
import { elaborate, modelWeights, optimise } from "../../src/driver.js";
import type { Graph } from "../../src/ir/graph.js";

/** The last model of `src` (imports resolve against specs/), bound to seeded weights. */
export function graphOf(src: string, seed = 0): Graph {
  const { graph, warnings } = elaborate({ path: "specs/pass-test.nn", text: src });
  expect(warnings).toEqual([]);
  return optimise(graph, modelWeights(graph, { seed }).data, []).graph;
}

/** How many nodes of each op. */
export function ops(g: Graph): Record<string, number> {
  const count: Record<string, number> = {};
  for (const n of g.nodes) count[n.op] = (count[n.op] ?? 0) + 1;
  return count;
}

/** A model with one f32 input `x` of `shape` and the given body (which sets `output y`). */
export const model = (shape: number[], body: string, extra = "") => `model m() {\n  input x: f32[${shape.join(", ")}]\n${extra}${body}\n}\n`;
