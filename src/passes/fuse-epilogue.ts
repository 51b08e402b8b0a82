// Folds what follows a conv2d / linear / matmul into its epilogue (see ops.ts):
// y = act(op(x, w) + bias + residual), absorbing in that order a bias add of a per-channel
// constant, a residual add of a tensor of the output's shape (either operand) and one unary
// activation or prelu, each only when the op's result has no other reader.
import { numel, type Graph, type Node } from "../ir/graph.js";
import { isNHWC, unaryOps } from "../ir/ops.js";
import { addConstant, compact, constantData, replaceUses, usersOf } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/** The one node that reads `value`, and reads it once, when no graph output is `value` either. */
export function soleUser(g: Graph, users: Map<number, Node[]>, value: number): Node | undefined {
  const us = users.get(value);
  if (us?.length !== 1 || g.outputs.some((p) => p.value === value)) return undefined;
  return us[0]!.inputs.filter((i) => i === value).length === 1 ? us[0] : undefined;
}

const fusible = new Set(["conv2d", "linear", "matmul"]);
const activations = new Set<string>(unaryOps);
/** The attributes an activation carries into the epilogue. */
const actAttrs = ["min", "max", "slope", "alpha", "approximate"];

/** The epilogue's channel axis: 1 for NCHW conv2d, the last otherwise. */
const channelAxis = (n: Node, rank: number) => (n.op === "conv2d" && !isNHWC(n.attrs) ? 1 : rank - 1);

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
function absorb(g: Graph, n: Node, u: Node): boolean {
  const y = n.outputs[0]!;
  const shape = g.values[y]!.type.shape;
  const axis = channelAxis(n, shape.length);
  const a = n.attrs;
  const hasAct = (a.act ?? null) !== null;
  if (u.op === "add" && !hasAct && g.values[u.outputs[0]!]!.type.shape.join() === shape.join()) {
    const other = u.inputs[0] === y ? u.inputs[1]! : u.inputs[0]!;
    const bias = a.bias !== true ? biasData(g, other, shape, axis) : undefined;
    if (bias) {
      n.inputs.splice(2, 0, addConstant(g, [shape[axis]!], bias));
      n.attrs = { ...a, bias: true };
    } else if (a.residual !== true && g.values[other]!.type.shape.join() === shape.join()) {
      n.inputs.splice(a.bias === true ? 3 : 2, 0, other); // after the bias
      n.attrs = { ...a, residual: true };
    } else return false;
  } else if (!hasAct && activations.has(u.op)) {
    n.attrs = { ...a, act: u.op };
    for (const k of actAttrs) if (u.attrs[k] !== undefined) n.attrs[k] = u.attrs[k]!;
  } else if (!hasAct && u.op === "prelu") {
    const slope = u.inputs[1]!;
    // The epilogue's slopes run along the op's channel axis, prelu's along its own.
    const preluAxis = isNHWC(u.attrs) ? shape.length - 1 : 1;
    if (numel(g.values[slope]!.type.shape) !== 1 && preluAxis !== axis) return false;
    n.inputs.push(slope);
    n.attrs = { ...a, act: "prelu" };
  } else return false;
  replaceUses(g, u.outputs[0]!, y);
  return true;
}

export function fuseEpilogue(g: Graph): Graph {
  const users = usersOf(g);
  for (const n of g.nodes) {
    if (!fusible.has(n.op)) continue;
    const y = n.outputs[0]!;
    for (let u; (u = soleUser(g, users, y)) && absorb(g, n, u); ) {
      // y now stands for u's output: its readers are u's readers, and n reads what u read.
      users.set(y, users.get(u.outputs[0]!) ?? []);
      for (const i of u.inputs) if (i !== y) users.set(i, (users.get(i) ?? []).map((r) => (r === u ? n : r)));
    }
  }
  return compact(g);
}

registerPass({
  name: "fuse-epilogue",
  description: "fuse bias adds, residual adds and activations (prelu included) into the conv2d / linear / matmul before them",
  run: fuseEpilogue,
});
