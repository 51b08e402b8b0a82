// Evaluates nodes whose inputs are all constants with the reference interpreter's own kernels
// (a one-node graph), so folding agrees with execution bit for bit.
import { numel, type Graph, type Node } from "../ir/graph.js";
import { compact, Rewriter } from "../ir/rewrite.js";
import { interpret } from "../interp/index.js";
import { registerPass } from "./manager.js";

/** Folding may not grow the model: a broadcast of a scalar to a big tensor stays a node. */
const MIN_FOLD_ELEMENTS = 1024;

function foldable(g: Graph, n: Node, isConst: (v: number) => boolean): boolean {
  if (!n.inputs.every(isConst)) return false;
  const outs = n.outputs.map((o) => g.values[o]!.type);
  // Constants hold f32 or i32 data only (bool as i32 0 / 1).
  if (outs.some((t) => t.dtype === "i64")) return false;
  const inSize = n.inputs.reduce((s, i) => s + numel(g.values[i]!.type.shape), 0);
  return outs.reduce((s, t) => s + numel(t.shape), 0) <= Math.max(inSize, MIN_FOLD_ELEMENTS);
}

export function constantFold(g: Graph): Graph {
  const rw = new Rewriter(g);
  const data = new Map(g.constants.map((c) => [c.value, c]));
  const isConst = (v: number) => data.has(v);
  for (const n of [...g.nodes]) {
    if (!foldable(g, n, isConst)) continue;
    const tiny: Graph = {
      name: "fold", values: g.values, nodes: [{ ...n, id: 0 }], inputs: [], weights: [],
      outputs: n.outputs.map((o, i) => ({ name: String(i), value: o })),
      constants: n.inputs.map((i) => data.get(i)!),
    };
    const result = interpret(tiny, new Map(), {});
    n.outputs.forEach((o, i) => {
      const t = g.values[o]!.type;
      const v = rw.constant(t.shape, (result[String(i)] as Float32Array | Int32Array).slice(), undefined, t.dtype === "bool" ? "bool" : undefined); // kernels may return an input buffer
      data.set(v, g.constants[g.constants.length - 1]!);
      rw.replace(o, v);
    });
  }
  return compact(g);
}

registerPass({
  name: "constant-fold",
  description: "evaluate nodes whose inputs are all constants (with the interpreter's kernels) into constants",
  run: constantFold,
});
