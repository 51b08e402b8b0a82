// Reverse-mode autodiff as an IR transformation: gradients() appends to a graph the nodes that
// compute d(sum of loss)/d(value) for each requested value, one vector-Jacobian product per
// forward node on a path from those values to the loss (rules.ts), contributions summed where
// a value is read more than once. The graph must be in core form (toCoreForm): fused ops and
// epilogue or channels-last forms are differentiated through their registry decompositions.
import type { Graph, Node } from "../ir/graph.js";
import { decompose } from "../ir/decompose.js";
import { getOp, isOp, isUnsupported, type GraphBuilder, type OpName } from "../ir/ops.js";
import { Emit } from "./emit.js";
import { gradRules, NotDifferentiable, type GradRule } from "./rules.js";

export { NotDifferentiable } from "./rules.js";

/** The graph with every node in core form (fused ops and fused forms decomposed). */
export function toCoreForm(g: Graph): Graph {
  return decompose(g, () => true).graph;
}

class NotCore extends Error {}
const probe: GraphBuilder = {
  node: () => {
    throw new NotCore();
  },
  constant: () => {
    throw new NotCore();
  },
  type: () => {
    throw new NotCore();
  },
};

/** Whether the registry would decompose `n` further (it is a fused op or a fused form). */
function isFusedForm(n: Node): boolean {
  try {
    return getOp(n.op).decompose?.(probe, n.inputs, n.attrs) !== undefined;
  } catch (e) {
    if (e instanceof NotCore) return true;
    throw e;
  }
}

/**
 * Appends the backward nodes of `loss` (an f32 value; a non-scalar loss is summed) with respect
 * to each of `wrt` and returns their gradient values, in order: undefined for a value the loss
 * does not depend on. Call compact() after adding outputs that read them.
 */
export function gradients(g: Graph, loss: number, wrt: readonly number[]): (number | undefined)[] {
  if (g.values[loss]?.type.dtype !== "f32") throw new NotDifferentiable(`gradients: the loss %${loss} is not an f32 value`);
  const varies = new Set(wrt);
  const active: Node[] = [];
  const defined = new Set([...g.inputs.map((p) => p.value), ...g.weights.map((w) => w.value), ...g.constants.map((c) => c.value)]);
  for (const n of g.nodes) {
    if (!n.inputs.every((i) => defined.has(i))) throw new Error(`gradients: the graph is not in topological order at ${n.op} node ${n.id} (compact() it)`);
    for (const o of n.outputs) defined.add(o);
  }
  for (const n of g.nodes)
    if (n.inputs.some((i) => varies.has(i))) {
      for (const o of n.outputs) if (g.values[o]!.type.dtype === "f32") varies.add(o);
      active.push(n);
    }
  const needed = new Set([loss]);
  for (let i = active.length - 1; i >= 0; i--) if (active[i]!.outputs.some((o) => needed.has(o))) for (const v of active[i]!.inputs) needed.add(v);

  const e = new Emit(g);
  const grads = new Map<number, number>([[loss, e.expandTo(e.c(1), g.values[loss]!.type.shape)]]);
  for (const n of [...active].reverse()) {
    const dy = n.outputs.map((o) => grads.get(o));
    if (dy.every((d) => d === undefined)) continue;
    if (!isOp(n.op)) throw new NotDifferentiable(`gradients: unknown op ${n.op}`);
    const rule = gradRules[n.op];
    const where = n.loc ? ` (${n.loc.file}:${n.loc.line}:${n.loc.col})` : "";
    // The rules see core forms only: no epilogue, no channels-last layout, no fused op.
    if (isFusedForm(n)) throw new NotDifferentiable(`gradients: ${n.op}${where} is in a fused form; run toCoreForm first`);
    if (isUnsupported(rule)) throw new NotDifferentiable(`gradients: ${n.op}${where}: ${rule.unsupported}`);
    const needs = n.inputs.map((i) => varies.has(i) && needed.has(i) && g.values[i]!.type.dtype === "f32");
    e.at(n);
    let dx: (number | undefined)[];
    try {
      dx = (rule as GradRule<OpName>)({ e, x: n.inputs, y: n.outputs, attrs: n.attrs as never, dy, needs });
    } catch (err) {
      throw err instanceof NotDifferentiable ? new NotDifferentiable(`${err.message}${where}`) : err;
    }
    n.inputs.forEach((v, i) => {
      const d = dx[i];
      if (!needs[i] || d === undefined) return;
      const [want, got] = [g.values[v]!.type.shape, g.values[d]!.type.shape];
      if (want.join() !== got.join()) throw new Error(`gradients: the ${n.op} rule gave input ${i} a gradient of shape [${got}] for [${want}]`);
      const before = grads.get(v);
      grads.set(v, before === undefined ? d : e.add(before, d));
    });
  }
  return wrt.map((v) => grads.get(v));
}
