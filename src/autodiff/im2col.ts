// Convolutions as matmuls over their windows (im2col), in core data movement and matmul: for
// targets whose convolution kernels prepack constant weights (wasm), a training graph's
// convolutions, whose weights are parameters, become matmuls the target runs with any operands.
import type { Graph } from "../ir/graph.js";
import { attrsOf } from "../ir/ops.js";
import { compact, Rewriter } from "../ir/rewrite.js";
import { Emit } from "./emit.js";
import { NotDifferentiable } from "./rules.js";

/**
 * Every conv2d of `g` (core form, NCHW) as the matmul of its weight [groups, K/groups, C/groups
 * kh kw] with the stacked taps of its windows [N, groups, C/groups kh kw, OH OW], plus its bias.
 */
export function convolutionsAsMatmuls(g: Graph): Graph {
  const e = new Emit(g);
  const rw = new Rewriter(g);
  for (const n of [...g.nodes]) {
    if (n.op !== "conv2d") continue;
    const a = attrsOf(n, "conv2d");
    if (a.act != null || a.residual === true || (a.layout ?? "NCHW") !== "NCHW") throw new NotDifferentiable("conv2d: a fused form; decompose the graph to core ops first");
    const [x, w, bias] = n.inputs as [number, number, number | undefined];
    const [nb, c] = e.shape(x) as [number, number];
    const [k, cg, kh, kw] = e.shape(w) as [number, number, number, number];
    const y = e.shape(n.outputs[0]!);
    const [oh, ow] = [y[2]!, y[3]!];
    const groups = a.groups;
    e.at(n);
    const win = e.windows(x, y, { kernel: [kh, kw], stride: a.stride, pads: a.pads, dilation: a.dilation }, 0);
    // Rows ordered (channel, ky, kx), as the weight's flattened [C/groups, kh, kw].
    const taps = win.taps.map((t) => e.reshape(win.view(t), [nb, c, 1, oh * ow]));
    const stacked = taps.length === 1 ? taps[0]! : e.node("concat", taps, { axis: 2 });
    const cols = e.reshape(stacked, [nb, groups, cg * kh * kw, oh * ow]);
    const product = e.node("matmul", [e.reshape(w, [groups, k / groups, cg * kh * kw]), cols]);
    let out = e.reshape(product, [nb, k, oh, ow]);
    if (bias !== undefined) out = e.add(out, e.alongAxis(bias, 1, 4));
    rw.replace(n.outputs[0]!, out);
  }
  return compact(g);
}
