// Bias correction for f16 / int8 weights (Nagel et al. 2019, "Data-Free Quantization Through
// Weight Equalization and Bias Correction"): rounding a layer's weights W to W' shifts its output
// by (W' - W) x, and where the inputs x share a large mean (attention's context vectors, which
// are nearly one vector when attention is nearly uniform; post-ReLU activations) that shift is
// mostly the same for every position: (W' - W) E[x]. Subtracting it from the layer's float32 bias
// removes it. E[x] is measured at compile time by the interpreter on calibration inputs, which
// must be like the model's (the driver's calibrationInputs), per element of the layer's fan-in:
// for a convolution, the mean of each input channel at each kernel offset over the output
// positions (zero padding included).
//
// Measured on seeded BERT-base, f16: max |out - f32 out| / max |f32 out| 1.8e-3 -> 6.8e-4, the
// twelve attention output projections alone 1.0e-3 -> 1.8e-4; int8 6.0e-2 -> 2.0e-2.
import type { Graph, Node } from "../../src/ir/graph.js";
import { epilogueInputs, isNHWC } from "../../src/ir/ops.js";
import { interpret } from "../../src/interp/index.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { decodedWeights, quantisable, type Channels } from "./weights.js";

/** Encoded conv2d / linear layers that share one weight and one float32 bias, read by them alone. */
interface Corrected {
  nodes: Node[];
  weight: number;
  bias: number;
}

/** `g` with the biases of its f16 / int8-encoded conv2d and linear layers corrected for their weights' rounding. */
export function correctBiases(g: Graph, dtype: "f16" | "int8", inputs: Record<string, TensorData>): Graph {
  const encoded = quantisable(g, dtype);
  const targets = correctable(g, encoded);
  if (!targets.length) return g;
  const ofNode = new Map(targets.flatMap((t) => t.nodes.map((n) => [n, t] as const)));
  // A bias shared by several layers (ALBERT's one layer, applied 12 times) takes the mean over all.
  const means = new Map<Corrected, Float64Array>();
  interpret(g, new Map(), inputs, (node, [x]) => {
    const t = ofNode.get(node);
    if (!t) return;
    const m = fanInMeans(g, node, x as Float32Array);
    const sum = means.get(t);
    if (sum) for (let i = 0; i < m.length; i++) sum[i]! += m[i]!;
    else means.set(t, m);
  });
  const replaced = new Map<number, Float32Array>();
  for (const t of targets) {
    const w = constantData(g, t.weight);
    const rounded = decodedWeights(dtype, w, encoded.get(t.weight)!, `weight ${g.constants.find((c) => c.value === t.weight)!.name ?? ""}`);
    const m = means.get(t)!.map((v) => v / t.nodes.length);
    const b = Float32Array.from(constantData(g, t.bias));
    const outputs = b.length;
    const fanIn = w.length / outputs;
    // Output channel o of a grouped convolution reads its group's slice of the fan-in means.
    const groups = t.nodes[0]!.op === "conv2d" ? (t.nodes[0]!.attrs.groups as number) : 1;
    for (let o = 0; o < outputs; o++) {
      const at = Math.floor(o / (outputs / groups)) * fanIn;
      let shift = 0;
      for (let i = 0, k = o * fanIn; i < fanIn; i++, k++) shift += (rounded[k]! - w[k]!) * m[at + i]!;
      b[o] = b[o]! - shift;
    }
    replaced.set(t.bias, b);
  }
  return { ...g, constants: g.constants.map((c) => (replaced.has(c.value) ? { ...c, data: replaced.get(c.value)! } : c)) };
}

function constantData(g: Graph, v: number): Float32Array {
  return g.constants.find((c) => c.value === v)!.data as Float32Array;
}

/** The encoded conv2d / linear layers by bias, where every reader of the bias is one of them, all with one weight. */
function correctable(g: Graph, encoded: ReadonlyMap<number, Channels>): Corrected[] {
  const readers = new Map<number, Node[]>();
  for (const n of g.nodes) for (const v of new Set(n.inputs)) readers.set(v, [...(readers.get(v) ?? []), n]);
  const isF32Constant = (v: number) => g.constants.some((c) => c.value === v && c.data instanceof Float32Array);
  const out: Corrected[] = [];
  for (const [bias, nodes] of readers) {
    const weight = nodes[0]!.inputs[1]!;
    const layers = nodes.every((n) => (n.op === "conv2d" || n.op === "linear") && n.inputs[1] === weight && epilogueInputs(n.inputs, n.attrs).bias === bias);
    if (layers && encoded.has(weight) && isF32Constant(bias)) out.push({ nodes, weight, bias });
  }
  return out;
}

/**
 * The mean of each fan-in element of `node` over its output positions: for linear [.., K] the
 * mean of each input feature over the rows; for conv2d the mean of input channel c at kernel
 * offset (ky, kx), zero padding included, in the weight's [C, kh, kw] order.
 */
function fanInMeans(g: Graph, node: Node, x: Float32Array): Float64Array {
  const xs = g.values[node.inputs[0]!]!.type.shape;
  if (node.op === "linear") {
    const k = xs.at(-1)!;
    const rows = x.length / k;
    const m = new Float64Array(k);
    for (let r = 0; r < rows; r++) for (let i = 0; i < k; i++) m[i]! += x[r * k + i]!;
    return m.map((v) => v / rows);
  }
  const nhwc = isNHWC(node.attrs);
  const [n, c, h, w] = nhwc ? [xs[0]!, xs[3]!, xs[1]!, xs[2]!] : [xs[0]!, xs[1]!, xs[2]!, xs[3]!];
  const [, , kh, kw] = g.values[node.inputs[1]!]!.type.shape as [number, number, number, number];
  const ys = g.values[node.outputs[0]!]!.type.shape;
  const [oh, ow] = nhwc ? [ys[1]!, ys[2]!] : [ys[2]!, ys[3]!];
  const [sy, sx] = node.attrs.stride as number[];
  const [py, px] = node.attrs.pads as number[];
  const [dy, dx] = node.attrs.dilation as number[];
  const at = nhwc ? (b: number, ci: number, i: number, j: number) => ((b * h + i) * w + j) * c + ci : (b: number, ci: number, i: number, j: number) => ((b * c + ci) * h + i) * w + j;
  const m = new Float64Array(c * kh * kw);
  for (let ci = 0; ci < c; ci++)
    for (let ky = 0; ky < kh; ky++)
      for (let kx = 0; kx < kw; kx++) {
        let sum = 0;
        for (let b = 0; b < n; b++)
          for (let y = 0; y < oh; y++) {
            const i = y * sy! - py! + ky * dy!;
            if (i < 0 || i >= h) continue;
            for (let z = 0; z < ow; z++) {
              const j = z * sx! - px! + kx * dx!;
              if (j >= 0 && j < w) sum += x[at(b, ci, i, j)]!;
            }
          }
        m[(ci * kh + ky) * kw + kx] = sum / (n * oh * ow);
      }
  return m;
}
