// Inference BatchNorm is y = x * s + t per channel, s = gamma / sqrt(var + eps),
// t = beta - mean * s. After a conv2d, conv_transpose2d or linear whose output nothing else reads,
// s scales the weights of each output channel and the bias becomes b * s + t; anywhere else the batchnorm
// becomes a mul and an add of per-channel constants (elementwise, for fusion downstream).
import type { Graph, Node } from "../ir/graph.js";
import { attrsOf, epilogueInputs, isNHWC } from "../ir/ops.js";
import { compact, constantData, producer, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/** Per-channel scale and shift of a batchnorm with constant statistics. */
function affine(g: Graph, bn: Node): { s: Float64Array; t: Float64Array } | undefined {
  const [gamma, beta, mean, variance] = bn.inputs.slice(1).map((v) => constantData(g, v));
  if (!gamma || !beta || !mean || !variance) return undefined;
  const s = Float64Array.from(gamma, (gv, c) => gv / Math.sqrt(variance[c]! + attrsOf(bn, "batchnorm").eps));
  return { s, t: Float64Array.from(beta, (bv, c) => bv - mean[c]! * s[c]!) };
}

/** The conv2d / conv_transpose2d / linear (constant weights, no residual or activation yet) that bn can fold into. */
function foldTarget(rw: Rewriter, bn: Node): Node | undefined {
  const g = rw.g;
  const x = bn.inputs[0]!;
  const p = producer(g, x);
  if (!p || (p.op !== "conv2d" && p.op !== "conv_transpose2d" && p.op !== "linear") || rw.soleReader(x) !== bn) return undefined;
  if (p.attrs.residual === true || (p.attrs.act ?? null) !== null || !constantData(g, p.inputs[1]!)) return undefined;
  const bias = epilogueInputs(p.inputs, p.attrs).bias;
  if (bias !== undefined && !constantData(g, bias)) return undefined;
  // The batchnorm's channel axis must be the op's output-channel axis.
  const rank = g.values[x]!.type.shape.length;
  const opAxis = p.op === "linear" || isNHWC(p.attrs) ? rank - 1 : 1;
  return opAxis === (isNHWC(bn.attrs) ? rank - 1 : 1) ? p : undefined;
}

/** Keeps a checkpoint name on a rewritten constant only when nothing else still reads the old one. */
function nameFor(rw: Rewriter, v: number): string | undefined {
  return rw.readers(v).length === 1 ? rw.g.constants.find((c) => c.value === v)?.name : undefined;
}

function fold(rw: Rewriter, p: Node, bn: Node, s: Float64Array, t: Float64Array): void {
  const g = rw.g;
  const w = p.inputs[1]!;
  const wData = constantData(g, w)!;
  const scaled = new Float32Array(wData.length); // plain loops: TypedArray.from with a map is ~100x slower
  if (p.op === "conv_transpose2d") {
    // [in, out/groups, kh, kw]: output channel (in / (in/groups)) * out/groups + o.
    const [cin, kg] = g.values[w]!.type.shape as [number, number];
    const [cg, taps] = [cin / attrsOf(p, "conv_transpose2d").groups, wData.length / (cin * kg)];
    for (let ci = 0, i = 0; ci < cin; ci++)
      for (let o = 0; o < kg; o++) for (const k = Math.floor(ci / cg) * kg + o, end = i + taps; i < end; i++) scaled[i] = wData[i]! * s[k]!;
  } else {
    const per = wData.length / s.length; // [out, ...] in conv2d and linear
    for (let c = 0, i = 0; c < s.length; c++) for (const end = i + per; i < end; i++) scaled[i] = wData[i]! * s[c]!;
  }
  const e = epilogueInputs(p.inputs, p.attrs);
  const b = e.bias !== undefined ? constantData(g, e.bias)! : undefined;
  const bias = Float32Array.from(t, (tc, c) => (b ? b[c]! * s[c]! : 0) + tc);
  const biasName = e.bias !== undefined ? nameFor(rw, e.bias) : undefined;
  rw.setInputs(p, [p.inputs[0]!, rw.constant(g.values[w]!.type.shape, scaled, nameFor(rw, w)), rw.constant([s.length], bias, biasName)]);
  p.attrs = { ...p.attrs, bias: true };
  rw.replace(bn.outputs[0]!, p.outputs[0]!);
}

/** mul and add by constants shaped to broadcast along the channel axis. */
function toAffine(rw: Rewriter, bn: Node, s: Float64Array, t: Float64Array): void {
  const rank = rw.g.values[bn.inputs[0]!]!.type.shape.length;
  const shape = isNHWC(bn.attrs) ? [s.length] : [s.length, ...Array<number>(rank - 2).fill(1)];
  const [m] = rw.node("mul", [bn.inputs[0]!, rw.constant(shape, Float32Array.from(s))], {}, bn.path, bn.loc);
  const [y] = rw.node("add", [m!, rw.constant(shape, Float32Array.from(t))], {}, bn.path, bn.loc);
  rw.replace(bn.outputs[0]!, y!);
}

export function foldBatchnorm(g: Graph): Graph {
  const rw = new Rewriter(g);
  for (const bn of g.nodes.filter((n) => n.op === "batchnorm")) {
    const st = affine(g, bn);
    if (!st) continue;
    const p = foldTarget(rw, bn);
    if (p) fold(rw, p, bn, st.s, st.t);
    else toAffine(rw, bn, st.s, st.t);
  }
  return compact(g);
}

registerPass({
  name: "fold-batchnorm",
  description: "fold batchnorm into the weights and bias of the conv2d / conv_transpose2d / linear before it, else into a per-channel mul and add",
  run: foldBatchnorm,
});
