// Seeded default weights that give activations of sane magnitude: after the documented
// random initialisation, every BatchNorm's running statistics are set to the per-channel mean
// and (biased) variance of the activations it sees on one seeded N(0, 1) input, as they would
// be in a trained network. Without this, identity BatchNorms let each residual add double the
// variance and ResNet-50 logits reach the thousands.
import { numel, type Graph } from "../ir/graph.js";
import { initWeights } from "./init.js";
import type { TensorData } from "./tensor.js";
import { interpret } from "../interp/index.js";

/** Deterministic inputs: N(0, 1) for float inputs, 0 or 1 for integer ones (valid ids and masks). */
export function randomInputs(g: Graph, seed = 0): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const p of g.inputs) {
    const t = g.values[p.value]!.type;
    const normal = initWeights([{ name: `input:${p.name}`, value: p.value, type: { dtype: "f32", shape: t.shape }, trainable: false, init: { kind: "normal", std: 1 } }], seed).get(`input:${p.name}`) as Float32Array;
    if (t.dtype === "f32") out[p.name] = normal;
    else if (t.dtype === "i64") out[p.name] = BigInt64Array.from(normal, (v) => (v > 0 ? 1n : 0n));
    else out[p.name] = Int32Array.from(normal, (v) => (v > 0 ? 1 : 0));
  }
  return out;
}

/** Fewer samples per channel than this: use the layer's statistics instead of the channel's. */
const MIN_SAMPLES = 8;
/** A channel's variance is at least this fraction of the layer's second moment (near-constant channels). */
const VARIANCE_FLOOR = 1e-2;

/** Rewrites the running_mean / running_var buffers of every batchnorm in `weights`, in place. */
export function calibrateBatchNorm(g: Graph, weights: ReadonlyMap<string, TensorData>, seed = 0): void {
  if (!g.nodes.some((n) => n.op === "batchnorm")) return;
  interpret(g, weights, randomInputs(g, seed), (node, [x, , , mean, variance]) => {
    if (node.op !== "batchnorm") return;
    const shape = g.values[node.inputs[0]!]!.type.shape;
    const c = shape[1]!;
    const inner = numel(shape.slice(2));
    const outer = numel(shape) / (c * inner);
    const sums = new Float64Array(c);
    const squares = new Float64Array(c);
    for (let o = 0; o < outer; o++)
      for (let ci = 0; ci < c; ci++)
        for (let i = 0, base = (o * c + ci) * inner; i < inner; i++) {
          const v = x![base + i]!;
          sums[ci]! += v;
          squares[ci]! += v * v;
        }
    const count = outer * inner;
    // Second moment over the whole layer: the fallback when a channel has too few samples for
    // its own statistics (a 1x1 map at batch 1 has variance 0, and 1/sqrt(eps) would explode).
    const layerSquare = squares.reduce((a, b) => a + b, 0) / (count * c);
    for (let ci = 0; ci < c; ci++) {
      const own = count >= MIN_SAMPLES;
      const m = own ? sums[ci]! / count : 0;
      const v = own ? Math.max(squares[ci]! / count - m * m, 0) : layerSquare;
      mean![ci] = m;
      variance![ci] = Math.max(v, VARIANCE_FLOOR * layerSquare);
    }
  });
}
