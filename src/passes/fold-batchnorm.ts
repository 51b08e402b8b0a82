// Inference BatchNorm is y = x * s + t per channel, s = gamma / sqrt(var + eps),
// t = beta - mean * s. After a conv2d, conv_transpose2d or linear whose output nothing else
// reads, s scales the weights of each output channel and the bias becomes b * s + t; anywhere
// else the batchnorm becomes a mul and an add of per-channel constants (elementwise, for fusion
// downstream).
// The same folding applies to a per-output-channel mul, add or sub by a constant written out
// (conv(x) * s + t with s, t of shape [C, 1, 1], a scale_shift, a constant scalar): each folds
// into the conv2d / conv_transpose2d / linear before it under the same conditions.
import type { Graph, Node } from "../ir/graph.js";
import { attrsOf, epilogueChannelAxis, epilogueInputs, isNHWC } from "../ir/ops.js";
import { broadcastStrides, sameShape } from "../ir/shape.js";
import { compact, constantData, producer, Rewriter } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

/** Per-channel scale and shift of a batchnorm with constant statistics. */
function affine(g: Graph, bn: Node): { s: Float64Array; t: Float64Array } | undefined {
  const [gamma, beta, mean, variance] = bn.inputs.slice(1).map((v) => constantData(g, v));
  if (!gamma || !beta || !mean || !variance) return undefined;
  const s = Float64Array.from(gamma, (gv, c) => gv / Math.sqrt(variance[c]! + attrsOf(bn, "batchnorm").eps));
  return { s, t: Float64Array.from(beta, (bv, c) => bv - mean[c]! * s[c]!) };
}

/** The conv2d / conv_transpose2d / linear producing x (constant weights, no residual or activation yet) that `reader`, its only reader, can fold into. */
function foldTarget(rw: Rewriter, x: number, reader: Node): Node | undefined {
  const g = rw.g;
  const p = producer(g, x);
  if (!p || (p.op !== "conv2d" && p.op !== "conv_transpose2d" && p.op !== "linear") || rw.soleReader(x) !== reader) return undefined;
  if (p.attrs.residual === true || (p.attrs.act ?? null) !== null || !constantData(g, p.inputs[1]!)) return undefined;
  const bias = epilogueInputs(p.inputs, p.attrs).bias;
  return bias !== undefined && !constantData(g, bias) ? undefined : p;
}

/** The output-channel axis of p's result. */
const channelAxis = (g: Graph, p: Node) => epilogueChannelAxis(p.op, p.attrs, g.values[p.outputs[0]!]!.type.shape.length);

/** Keeps a checkpoint name on a rewritten constant only when nothing else still reads the old one. */
function nameFor(rw: Rewriter, v: number): string | undefined {
  return rw.readers(v).length === 1 ? rw.g.constants.find((c) => c.value === v)?.name : undefined;
}

/** p becomes s * p(x) + t per output channel: s scales each channel's weights and bias, t adds to the bias (either may be absent). */
function foldInto(rw: Rewriter, p: Node, s: ArrayLike<number> | undefined, t: ArrayLike<number> | undefined): void {
  const g = rw.g;
  const w = p.inputs[1]!;
  const e = epilogueInputs(p.inputs, p.attrs);
  const b = e.bias !== undefined ? constantData(g, e.bias)! : undefined;
  const shape = g.values[w]!.type.shape;
  const transposed = p.op === "conv_transpose2d";
  // conv2d and linear weights are [out, ...]; conv_transpose2d's [in, out/groups, kh, kw].
  const groups = transposed ? attrsOf(p, "conv_transpose2d").groups : 1;
  const channels = transposed ? shape[1]! * groups : shape[0]!;
  let weight = w;
  if (s) {
    const wData = constantData(g, w)!;
    const scaled = new Float32Array(wData.length); // plain loops: TypedArray.from with a map is ~100x slower
    if (transposed) {
      const [cin, kg] = shape as [number, number];
      const [cg, taps] = [cin / groups, wData.length / (cin * kg)];
      for (let ci = 0, i = 0; ci < cin; ci++)
        for (let o = 0; o < kg; o++) for (const k = Math.floor(ci / cg) * kg + o, end = i + taps; i < end; i++) scaled[i] = wData[i]! * s[k]!;
    } else {
      const per = wData.length / channels;
      for (let c = 0, i = 0; c < channels; c++) for (const end = i + per; i < end; i++) scaled[i] = wData[i]! * s[c]!;
    }
    weight = rw.constant(shape, scaled, nameFor(rw, w));
  }
  const bias = Float32Array.from({ length: channels }, (_, c) => (b ? b[c]! * (s ? s[c]! : 1) : 0) + (t ? t[c]! : 0));
  const biasName = e.bias !== undefined ? nameFor(rw, e.bias) : undefined;
  rw.setInputs(p, [p.inputs[0]!, weight, rw.constant([channels], bias, biasName)]);
  p.attrs = { ...p.attrs, bias: true };
}

/** The batchnorm's channel axis must be the op's output-channel axis. */
function foldBn(rw: Rewriter, bn: Node, s: Float64Array, t: Float64Array): boolean {
  const x = bn.inputs[0]!;
  const p = foldTarget(rw, x, bn);
  const rank = rw.g.values[x]!.type.shape.length;
  if (!p || channelAxis(rw.g, p) !== (isNHWC(bn.attrs) ? rank - 1 : 1)) return false;
  foldInto(rw, p, s, t);
  rw.replace(bn.outputs[0]!, p.outputs[0]!);
  rw.erase(bn); // p's result may fold again: bn must not count as its reader
  return true;
}

/** mul and add by constants shaped to broadcast along the channel axis. */
function toAffine(rw: Rewriter, bn: Node, s: Float64Array, t: Float64Array): void {
  const rank = rw.g.values[bn.inputs[0]!]!.type.shape.length;
  const shape = isNHWC(bn.attrs) ? [s.length] : [s.length, ...Array<number>(rank - 2).fill(1)];
  const [m] = rw.node("mul", [bn.inputs[0]!, rw.constant(shape, Float32Array.from(s))], {}, bn.path, bn.loc);
  const [y] = rw.node("add", [m!, rw.constant(shape, Float32Array.from(t))], {}, bn.path, bn.loc);
  rw.replace(bn.outputs[0]!, y!);
}

/**
 * The per-channel values of constant `k` against a result of shape `y` whose channels run along
 * `axis`: `k` must broadcast to `y` without growing it and vary along no other axis.
 */
function perChannel(g: Graph, k: number, y: readonly number[], axis: number): Float64Array | undefined {
  const data = constantData(g, k);
  const shape = g.values[k]!.type.shape;
  if (!data || g.values[k]!.type.dtype !== "f32" || shape.length > y.length) return undefined;
  const aligned = [...Array<number>(y.length - shape.length).fill(1), ...shape];
  if (aligned.some((d, i) => d !== 1 && (d !== y[i] || i !== axis))) return undefined;
  const stride = broadcastStrides(shape, y)[axis]!;
  return Float64Array.from({ length: y[axis]! }, (_, c) => data[c * stride]!);
}

/** Folds n = p(x) * s, s * p(x), p(x) + t, t + p(x) or p(x) - t, with s, t per-channel constants, into p; whether it did. */
function foldElementwise(rw: Rewriter, n: Node): boolean {
  const g = rw.g;
  const [a, b] = n.inputs as [number, number];
  const orders: [number, number][] = n.op === "sub" ? [[a, b]] : [[a, b], [b, a]];
  for (const [x, k] of orders) {
    const p = foldTarget(rw, x, n);
    if (!p || x === k || !sameShape(g.values[n.outputs[0]!]!.type.shape, g.values[x]!.type.shape)) continue;
    const v = perChannel(g, k, g.values[x]!.type.shape, channelAxis(g, p));
    if (!v) continue;
    if (n.op === "mul") foldInto(rw, p, v, undefined);
    else foldInto(rw, p, undefined, n.op === "sub" ? v.map((c) => -c) : v);
    rw.replace(n.outputs[0]!, p.outputs[0]!);
    rw.erase(n);
    return true;
  }
  return false;
}

export function foldBatchnorm(g: Graph): Graph {
  const rw = new Rewriter(g);
  for (const n of [...g.nodes]) {
    if (n.op === "mul" || n.op === "add" || n.op === "sub") {
      foldElementwise(rw, n);
      continue;
    }
    if (n.op !== "batchnorm") continue;
    const st = affine(g, n);
    if (st && !foldBn(rw, n, st.s, st.t)) toAffine(rw, n, st.s, st.t);
  }
  return compact(g);
}

registerPass({
  name: "fold-batchnorm",
  description: "fold batchnorm, and per-channel mul / add / sub by constants, into the weights and bias of the conv2d / conv_transpose2d / linear before it; else batchnorm into a per-channel mul and add",
  run: foldBatchnorm,
});
