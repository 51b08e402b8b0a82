// Seeded default weights that give activations of sane magnitude: after the documented
// random initialisation, every BatchNorm's running statistics are set to the per-channel mean
// and (biased) variance of the activations it sees on one seeded N(0, 1) input, as they would
// be in a trained network. Without this, identity BatchNorms let each residual add double the
// variance and ResNet-50 logits reach the thousands.
//
// The BatchNorm that ends a residual branch is calibrated to an output RMS of 1/K instead of 1,
// for the model's K residual branches: all its branches together then move the stream by at
// most one unit-RMS tensor. With unit-RMS branches a deep seeded residual network is chaotic:
// each BatchNorm + ReLU layer of a branch, renormalised to unit variance after its mean is taken
// out, multiplies a small change of its input by about 1.2 (E[relu'(z)^2] / Var[relu(z)] = 1.47
// for z ~ N(0, 1), in energy), and each skip adds that to the stream, block after block: any
// rounding of the weights (f16, int8, another summation order) then moved ResNet-50's logits
// 40 times further than the rounding itself, ResNet-152's 500 times. Trained residual networks
// are not like that; their last BatchNorm of a branch has a small scale, and zero is the usual
// initialisation for training them (torchvision's zero_init_residual; Goyal et al. 2017). 1/K
// rather than 0 keeps every branch's layers visible in the outputs, which the tests need.
import { numel, type Graph, type Node } from "../ir/graph.js";
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

/**
 * The batchnorms that end a residual branch: each is one operand of an `add` whose two operands
 * lead back (through each node's first input) to one value, the branch's in more steps than the
 * other's: the skip, which is that value itself or a shorter projection of it.
 */
export function residualBranchEnds(g: Graph): Set<Node> {
  const producer = new Map<number, Node>();
  for (const n of g.nodes) for (const v of n.outputs) producer.set(v, n);
  /** The values from `v` back through first inputs, `v` first. */
  const chain = (v: number): number[] => {
    const out = [v];
    for (let n = producer.get(v); n && n.inputs.length > 0 && out.length <= MAX_BRANCH_STEPS; n = producer.get(n.inputs[0]!)) out.push(n.inputs[0]!);
    return out;
  };
  const ends = new Set<Node>();
  for (const add of g.nodes) {
    if (add.op !== "add" || add.inputs.length !== 2) continue;
    const [a, b] = add.inputs.map(chain) as [number[], number[]];
    const stepsInB = new Map(b.map((v, i) => [v, i]));
    const fork = a.findIndex((v) => stepsInB.has(v));
    if (fork < 0) continue;
    const [branch, steps] = fork > stepsInB.get(a[fork]!)! ? [a[0]!, fork] : [b[0]!, stepsInB.get(a[fork]!)!];
    const end = producer.get(branch);
    if (steps > 0 && end?.op === "batchnorm") ends.add(end);
  }
  return ends;
}

/** How far back residualBranchEnds looks for the value a branch and its skip share. */
const MAX_BRANCH_STEPS = 64;

/** Rewrites the running_mean / running_var buffers of every batchnorm in `weights`, in place. */
export function calibrateBatchNorm(g: Graph, weights: ReadonlyMap<string, TensorData>, seed = 0): void {
  if (!g.nodes.some((n) => n.op === "batchnorm")) return;
  const ends = residualBranchEnds(g);
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
    // An output RMS of 1/K: K^2 times the variance.
    const branchScale = ends.has(node) ? ends.size ** 2 : 1;
    for (let ci = 0; ci < c; ci++) {
      const own = count >= MIN_SAMPLES;
      const m = own ? sums[ci]! / count : 0;
      const v = own ? Math.max(squares[ci]! / count - m * m, 0) : layerSquare;
      mean![ci] = m;
      variance![ci] = branchScale * Math.max(v, VARIANCE_FLOOR * layerSquare);
    }
  });
}
