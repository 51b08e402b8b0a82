// Bias correction for f16 / int8 weights (Nagel et al. 2019, "Data-Free Quantization Through
// Weight Equalization and Bias Correction"): rounding a layer's weights W to W' shifts its output
// by (W' - W) x, and where the inputs x share a large mean (attention's context vectors, which
// are nearly one vector when attention is nearly uniform; post-ReLU activations) that shift is
// mostly the same for every position: (W' - W) E[x]. Subtracting it from the layer's float32 bias
// removes it. E[x] is each element of the layer's fan-in's mean, which the driver measures with
// the interpreter on calibration inputs like the model's (fanInMeans in src/weights/calibrate.ts).
//
// Measured on seeded BERT-base, f16: max |out - f32 out| / max |f32 out| 1.8e-3 -> 6.8e-4, the
// twelve attention output projections alone 1.0e-3 -> 1.8e-4; int8 6.0e-2 -> 2.0e-2.
import type { Graph, Node } from "../../src/ir/graph.js";
import type { RoundedWeight } from "../target.js";
import { epilogueInputs } from "../../src/ir/ops.js";
import { decodedWeights, quantisable, type Channels } from "./weights.js";

/** Encoded conv2d / linear layers that share one weight and one float32 bias, read by them alone. */
interface Corrected {
  nodes: Node[];
  weight: number;
  bias: number;
}

/**
 * Every weight `dtype` encodes in `g` (none of `kept`), as decoded, with its layers' bias
 * corrected for its rounding where each layer has a mean fan-in in `fanInMeans` (others keep theirs).
 */
export function roundedWeights(g: Graph, dtype: "f16" | "int8", fanInMeans: ReadonlyMap<number, Float64Array>, kept?: ReadonlySet<number>): RoundedWeight[] {
  const encoded = quantisable(g, dtype, kept);
  const layers = correctable(g, encoded, fanInMeans);
  return [...encoded].map(([weight, ch]) => {
    const decoded = decodedWeights(dtype, constantData(g, weight), ch, weightName(g, weight));
    const biases = layers.filter((t) => t.weight === weight).map((t) => ({ value: t.bias, data: corrected(g, t, decoded, fanInMeans) }));
    return { weight, decoded, biases };
  });
}

/**
 * `g` with the biases of its f16 / int8-encoded conv2d and linear layers (those not `kept` float32)
 * corrected for their weights' rounding, given each layer's mean fan-in input by node id (layers
 * without one keep their bias).
 */
export function correctBiases(g: Graph, dtype: "f16" | "int8", fanInMeans: ReadonlyMap<number, Float64Array>, kept?: ReadonlySet<number>): Graph {
  const encoded = quantisable(g, dtype, kept);
  const replaced = new Map<number, Float32Array>();
  for (const t of correctable(g, encoded, fanInMeans)) replaced.set(t.bias, corrected(g, t, decodedWeights(dtype, constantData(g, t.weight), encoded.get(t.weight)!, weightName(g, t.weight)), fanInMeans));
  return { ...g, constants: g.constants.map((c) => (replaced.has(c.value) ? { ...c, data: replaced.get(c.value)! } : c)) };
}

const weightName = (g: Graph, v: number) => `weight ${g.constants.find((c) => c.value === v)!.name ?? ""}`;

/** The bias of layers `t` corrected for the rounding of their weight to `rounded`. */
function corrected(g: Graph, t: Corrected, rounded: Float32Array, fanInMeans: ReadonlyMap<number, Float64Array>): Float32Array {
  const w = constantData(g, t.weight);
  // A bias shared by several layers (ALBERT's one layer, applied 12 times) takes the mean over all.
  const m = new Float64Array(fanInMeans.get(t.nodes[0]!.id)!.length);
  for (const n of t.nodes) fanInMeans.get(n.id)!.forEach((v, i) => (m[i]! += v / t.nodes.length));
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
  return b;
}

function constantData(g: Graph, v: number): Float32Array {
  return g.constants.find((c) => c.value === v)!.data as Float32Array;
}

/** The encoded conv2d / linear layers by bias, where every reader of the bias is one of them, all with one weight and a mean fan-in. */
function correctable(g: Graph, encoded: ReadonlyMap<number, Channels>, fanInMeans: ReadonlyMap<number, Float64Array>): Corrected[] {
  const readers = new Map<number, Node[]>();
  for (const n of g.nodes) for (const v of new Set(n.inputs)) readers.set(v, [...(readers.get(v) ?? []), n]);
  const isF32Constant = (v: number) => g.constants.some((c) => c.value === v && c.data instanceof Float32Array);
  const out: Corrected[] = [];
  for (const [bias, nodes] of readers) {
    const weight = nodes[0]!.inputs[1]!;
    const layers = nodes.every((n) => (n.op === "conv2d" || n.op === "linear") && n.inputs[1] === weight && epilogueInputs(n.inputs, n.attrs).bias === bias);
    if (layers && encoded.has(weight) && isF32Constant(bias) && nodes.every((n) => fanInMeans.has(n.id))) out.push({ nodes, weight, bias });
  }
  return out;
}
