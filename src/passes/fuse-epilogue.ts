// Folds what follows a conv2d / conv_transpose2d / linear / matmul (the ops with the registry's `epilogue` trait)
// into its epilogue (see ops.ts): y = act(op(x, w) + bias + residual), absorbing in that order
// a bias add of a per-channel constant, a residual add of a tensor of the output's shape (either
// operand) and one activation (an op with the `activation` trait, its attributes carried along)
// or prelu, each only when the op's result has no other reader.
import { numel, type Graph, type Node } from "../ir/graph.js";
import { epilogueChannelAxis, getOp, isNHWC } from "../ir/ops.js";
import { compact, constantData, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/** `c` as a bias vector when it is a constant that broadcasts along the channel axis only. */
function biasData(g: Graph, c: number, shape: readonly number[], axis: number): Float32Array | undefined {
  const data = constantData(g, c);
  const cs = g.values[c]!.type.shape;
  const k = shape[axis]!;
  // Right-aligned, c's dims must be 1 except (possibly) at the channel axis.
  const at = axis - (shape.length - cs.length);
  const ok = cs.length <= shape.length && cs.every((d, i) => d === 1 || i === at) && numel(cs) === k;
  return data instanceof Float32Array && ok ? data : undefined;
}

/** Tries to absorb `u`, the sole reader of op node `n`; returns whether it did. */
function absorb(rw: Rewriter, n: Node, u: Node): boolean {
  const g = rw.g;
  const y = n.outputs[0]!;
  const shape = g.values[y]!.type.shape;
  const axis = epilogueChannelAxis(n.op, n.attrs, shape.length);
  const a = n.attrs;
  const hasAct = (a.act ?? null) !== null;
  const uDef = getOp(u.op);
  if (u.op === "add" && !hasAct && g.values[u.outputs[0]!]!.type.shape.join() === shape.join()) {
    const other = u.inputs[0] === y ? u.inputs[1]! : u.inputs[0]!;
    const bias = a.bias !== true ? biasData(g, other, shape, axis) : undefined;
    const inputs = [...n.inputs];
    if (bias) {
      inputs.splice(2, 0, rw.constant([shape[axis]!], bias));
      n.attrs = { ...a, bias: true };
    } else if (a.residual !== true && g.values[other]!.type.shape.join() === shape.join()) {
      inputs.splice(a.bias === true ? 3 : 2, 0, other); // after the bias
      n.attrs = { ...a, residual: true };
    } else return false;
    rw.setInputs(n, inputs);
  } else if (!hasAct && uDef.traits.activation) {
    n.attrs = { ...a, act: u.op };
    for (const k of Object.keys(uDef.attrs)) if (u.attrs[k] !== undefined) n.attrs[k] = u.attrs[k]!;
  } else if (!hasAct && u.op === "prelu") {
    const slope = u.inputs[1]!;
    // The epilogue's slopes run along the op's channel axis, prelu's along its own.
    const preluAxis = isNHWC(u.attrs) ? shape.length - 1 : 1;
    if (numel(g.values[slope]!.type.shape) !== 1 && preluAxis !== axis) return false;
    rw.setInputs(n, [...n.inputs, slope]);
    n.attrs = { ...a, act: "prelu" };
  } else return false;
  rw.replace(u.outputs[0]!, y);
  rw.erase(u);
  return true;
}

export function fuseEpilogue(g: Graph): Graph {
  const rw = new Rewriter(g);
  for (const n of g.nodes) {
    if (!getOp(n.op).traits.epilogue) continue;
    for (let u; (u = rw.soleReader(n.outputs[0]!)) && absorb(rw, n, u); );
  }
  return compact(g);
}

registerPass({
  name: "fuse-epilogue",
  description: "fuse bias adds, residual adds and activations (prelu included) into the conv2d / conv_transpose2d / linear / matmul before them",
  run: fuseEpilogue,
});
