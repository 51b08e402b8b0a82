// The arena planner, checked by an independent model of liveness: no two values that are live
// at once share a byte unless one is a view of the other or an op legally writes over an input
// that dies there; arenaBytes >= lowerBound; and the ResNet-50 target.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { elaborateFile } from "../../src/frontend/index.js";
import { numel, type Graph } from "../../src/ir/graph.js";
import { getOp } from "../../src/ir/ops.js";
import { bindWeights } from "../../src/ir/rewrite.js";
import { defaultPipeline, runPipeline } from "../../src/passes/index.js";
import { planMemory } from "../../src/ir/memory.js";
import { initWeights } from "../../src/weights/init.js";
import { checkPassPreserves, graphArb } from "./gen.js";
import { graphOf, model } from "./helpers.js";

/** Throws unless `g`'s plan keeps every pair of simultaneously live values apart. */
function checkPlan(g: Graph): { arenaBytes: number; lowerBound: number } {
  const plan = planMemory(g);
  const end = g.nodes.length;
  // view[v]: the value whose storage v is (itself unless a reshape of something).
  const view = g.values.map((v) => v.id);
  for (const n of g.nodes) if (n.op === "reshape") view[n.outputs[0]!] = view[n.inputs[0]!]!;
  const def = g.values.map((v) => (v.kind === "node" ? v.producer! : -1));
  const last = g.values.map((_, i) => def[i]!);
  g.nodes.forEach((n, i) => n.inputs.forEach((v) => (last[view[v]!] = Math.max(last[view[v]!]!, i))));
  for (const p of g.outputs) last[view[p.value]!] = end;
  const stored = g.values.filter((v) => v.kind === "node" && view[v.id] === v.id);
  for (const v of g.values) {
    if (v.kind !== "node") expect(plan.offsets[v.id]).toBe(-1);
    else if (view[v.id] !== v.id) expect(plan.offsets[v.id]).toBe(plan.offsets[view[v.id]!]);
    else expect(plan.offsets[v.id]! % 16).toBe(0);
  }
  for (const o of g.outputs) if (g.values[view[o.value]!]!.kind === "node") expect(plan.offsets[o.value]).toBeGreaterThanOrEqual(0);
  /** b overwrites a in place: b's producer is elementwise, reads a (through views), and a dies there. */
  const inPlace = (a: number, b: number) => {
    const n = g.nodes[def[b]!]!;
    const cls = getOp(n.op).cls;
    return (cls === "elementwise" || cls === "broadcast") && last[a] === def[b] && n.inputs.some((i) => view[i] === a) && numel(g.values[a]!.type.shape) === numel(g.values[b]!.type.shape);
  };
  for (const a of stored)
    for (const b of stored) {
      if (a.id >= b.id || last[a.id]! < def[b.id]! || last[b.id]! < def[a.id]!) continue;
      const [oa, ob] = [plan.offsets[a.id]!, plan.offsets[b.id]!];
      const [sa, sb] = [numel(a.type.shape) * 4, numel(b.type.shape) * 4];
      if (oa < ob + sb && ob < oa + sa) expect(oa === ob && inPlace(a.id, b.id), `%${a.id} and %${b.id} overlap while both live`).toBe(true);
    }
  for (const v of stored) expect(plan.offsets[v.id]! + numel(v.type.shape) * 4).toBeLessThanOrEqual(plan.arenaBytes);
  expect(plan.arenaBytes).toBeGreaterThanOrEqual(plan.lowerBound);
  return plan;
}

describe("planMemory", () => {
  test("a chain of elementwise ops runs in place; a branch needs a second buffer", () => {
    const bytes = 2 * 64 * 4;
    expect(checkPlan(graphOf(model([2, 64], "  output y = tanh(relu(exp(x)))")))).toMatchObject({ arenaBytes: bytes, lowerBound: bytes });
    expect(checkPlan(graphOf(model([2, 64], "  a = exp(x)\n  output y = relu(a) + sigmoid(a)")))).toMatchObject({ arenaBytes: 2 * bytes, lowerBound: 2 * bytes });
  });

  test("property: random models, before and after the default pipeline", () => {
    fc.assert(
      fc.property(graphArb(), ({ graph }) => {
        checkPlan(graph);
        checkPlan(checkPassPreserves(defaultPipeline, graph));
      }),
      { numRuns: 60 },
    );
  });

  test("ResNet-50 at 224x224, batch 1, after the default pipeline: arena within 1.25x of the lower bound", () => {
    const g = elaborateFile("specs/resnet50.nn").graph!;
    const { graph } = runPipeline(bindWeights(g, initWeights(g.weights)), defaultPipeline);
    const plan = checkPlan(graph);
    expect(plan.arenaBytes).toBeLessThanOrEqual(1.25 * plan.lowerBound);
    expect(plan.lowerBound).toBeGreaterThanOrEqual((112 * 112 + 56 * 56) * 64 * 4); // the max pool's input and output
  });
});
