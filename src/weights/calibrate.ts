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
import { interpret, InterpError } from "../interp/index.js";
import { isNHWC } from "../ir/ops.js";
import { randomKey, uniformAt } from "../ir/random.js";

/**
 * Deterministic inputs: N(0, 1) for float inputs; for integer ones, uniform ids over the rows of
 * the embedding tables they index (token ids over the vocabulary, as text has them), and 0 or 1
 * for any other (masks, flags, and ids that are also computed with: 0 or 1 stays valid whatever
 * they index after).
 */
export function randomInputs(g: Graph, seed = 0): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const p of g.inputs) {
    const t = g.values[p.value]!.type;
    const normal = initWeights([{ name: `input:${p.name}`, value: p.value, type: { dtype: "f32", shape: t.shape }, trainable: false, init: { kind: "normal", std: 1 } }], seed).get(`input:${p.name}`) as Float32Array;
    if (t.dtype === "f32") {
      out[p.name] = normal;
      continue;
    }
    const rows = idRows(g, p.value);
    const key = randomKey(seed, p.value, 0);
    const ids = rows === undefined ? Array.from(normal, (v) => (v > 0 ? 1 : 0)) : Array.from(normal, (_, i) => Math.floor(uniformAt(key, i) * rows));
    out[p.name] = t.dtype === "i64" ? BigInt64Array.from(ids, BigInt) : Int32Array.from(ids);
  }
  return out;
}

/** Ops that move ids without computing with them. */
const MOVES_IDS = new Set(["reshape", "cast", "transpose", "expand", "slice", "tile"]);

/** The fewest rows of the tables integer value `v` indexes (through moves alone), or undefined if anything else reads it or nothing indexes with it. */
function idRows(g: Graph, v: number): number | undefined {
  let rows = Infinity;
  for (let frontier = [v]; frontier.length; ) {
    const next: number[] = [];
    for (const n of g.nodes)
      for (const [at, input] of n.inputs.entries()) {
        if (!frontier.includes(input)) continue;
        if (n.op === "gather" && at === 1) {
          const table = g.values[n.inputs[0]!]!.type.shape;
          const axis = (n.attrs.axis as number | undefined) ?? 0;
          rows = Math.min(rows, table.at(axis)!);
        } else if (MOVES_IDS.has(n.op) && at === 0) next.push(n.outputs[0]!);
        else return undefined;
      }
    frontier = next;
  }
  return rows === Infinity ? undefined : rows;
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

/**
 * For every conv2d and linear node of `g` (constants bound), by node id: the mean of each element
 * of its fan-in over its output positions on `samples` (each sample's mean, averaged), for the
 * bias correction of f16 / int8 weights (codegen/wasm/bias-correction.ts). For linear [.., K] the
 * mean of each input feature over the rows; for conv2d the mean of input channel c at kernel
 * offset (ky, kx), zero padding included, in the weight's [C, kh, kw] order.
 */
export function fanInMeans(g: Graph, samples: readonly Record<string, TensorData>[]): Map<number, Float64Array> {
  const means = new Map<number, Float64Array>();
  for (const [k, inputs] of samples.entries()) {
    try {
      interpret(g, new Map(), inputs, (node, [x]) => {
        if (node.op !== "conv2d" && node.op !== "linear") return;
        const m = nodeFanInMeans(g, node, x as Float32Array);
        const sum = means.get(node.id) ?? means.set(node.id, new Float64Array(m.length)).get(node.id)!;
        m.forEach((v, i) => (sum[i]! += v / samples.length));
      });
    } catch (e) {
      throw e instanceof InterpError && samples.length > 1 ? new InterpError(`sample ${k + 1} of ${samples.length}: ${e.message}`) : e;
    }
  }
  return means;
}

function nodeFanInMeans(g: Graph, node: Node, x: Float32Array): Float64Array {
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
