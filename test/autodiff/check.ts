// Gradient checking on the interpreter in float64: a one-node-or-so forward graph of inputs,
// its loss sum(y * r) for a fixed random r, the gradients() graph against central finite
// differences of that loss.
import { expect } from "vitest";
import { gradients, toCoreForm } from "../../src/autodiff/gradients.js";
import { emptyGraph, numel, type Attrs, type Graph } from "../../src/ir/graph.js";
import { addConstant, addNode, compact } from "../../src/ir/rewrite.js";
import { verify } from "../../src/ir/verify.js";
import { interpretFloat64 } from "../../src/interp/index.js";
import { rng } from "../support/source.js";

/**
 * FD step and tolerance: central differences in double with h = 1e-6 err by ~h^2 f''' + 1e-16 |f| / h
 * (~1e-9 here); the rules' scalar constants are f32 (6e-8 relative), so |ad - fd| <= 1e-6 |fd| + 1e-7.
 */
const H = 1e-6;
const REL = 1e-6;
const ABS = 1e-7;

export interface GradCase {
  /** The f32 inputs x0, x1, ...: their shapes and values. */
  inputs: { shape: number[]; data: Float64Array }[];
  /** Builds the forward values of the loss from the input values. */
  build(g: Graph, xs: number[], at: Attrs): number[];
  attrs?: Attrs;
  what: string;
}

/** Values uniform in [lo, hi), each at least `gap` from every point of `avoid` (kinks). */
export function values(seed: number, n: number, [lo, hi]: readonly [number, number] = [-2, 2], avoid: readonly number[] = [], gap = 1e-2): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => {
    for (;;) {
      const v = lo + (hi - lo) * r();
      if (avoid.every((k) => Math.abs(v - k) >= gap)) return v;
    }
  });
}

export function node(g: Graph, op: string, inputs: number[], attrs: Attrs = {}): number[] {
  return addNode(g, op, inputs, attrs);
}

/** The forward graph: inputs x<i>, output loss = sum over outputs of sum(y * r_y). */
function forward(c: GradCase, seed: number): Graph {
  const g = emptyGraph("grad_case");
  const xs = c.inputs.map((inp, i) => {
    const v = g.values.length;
    g.values.push({ id: v, type: { dtype: "f32", shape: inp.shape }, kind: "input" });
    g.inputs.push({ name: `x${i}`, value: v });
    return v;
  });
  const ys = c.build(g, xs, c.attrs ?? {});
  // sum(y * r); of a rank-0 y, y * r itself.
  const terms = ys.map((y, k) => {
    const shape = g.values[y]!.type.shape;
    const r = addConstant(g, [...shape], Float32Array.from(values(seed + 7 * k + 1, numel(shape))));
    const weighted = node(g, "mul", [y, r])[0]!;
    return shape.length ? node(g, "reduce_sum", [weighted], { axes: shape.map((_, i) => i) })[0]! : weighted;
  });
  const loss = terms.reduce((a, b) => node(g, "add", [a, b])[0]!);
  g.outputs.push({ name: "loss", value: loss });
  return compact(g);
}

const feed = (data: Float64Array[]) => Object.fromEntries(data.map((d, i) => [`x${i}`, d]));
const lossOf = (g: Graph, data: Float64Array[]) => (interpretFloat64(g, new Map(), feed(data)).loss as Float64Array)[0]!;

/**
 * Checks every input's gradient against central differences; returns the gradient graph. An
 * input that gradients() gives none (reached only through bools) must have a zero difference.
 */
export function checkGradient(c: GradCase, seed = 1): Graph {
  const fwd = forward(c, seed);
  const g = toCoreForm(structuredClone(fwd));
  const loss = g.outputs[0]!.value;
  const grads = gradients(g, loss, g.inputs.map((p) => p.value));
  grads.forEach((d, i) => {
    if (d !== undefined) g.outputs.push({ name: `d${i}`, value: d });
  });
  compact(g);
  verify(g);
  const data = c.inputs.map((x) => x.data);
  const got = interpretFloat64(g, new Map(), feed(data));
  c.inputs.forEach((x, i) => {
    const ad = (got[`d${i}`] as Float64Array | undefined) ?? new Float64Array(x.data.length);
    for (let j = 0; j < x.data.length; j++) {
      const plus = data.map((d, k) => (k === i ? d.map((v, m) => (m === j ? v + H : v)) : d));
      const minus = data.map((d, k) => (k === i ? d.map((v, m) => (m === j ? v - H : v)) : d));
      const fd = (lossOf(fwd, plus) - lossOf(fwd, minus)) / (2 * H);
      const err = Math.abs(ad[j]! - fd);
      if (!(err <= REL * Math.abs(fd) + ABS)) expect.fail(`${c.what}: d loss / d x${i}[${j}] = ${ad[j]} by autodiff, ${fd} by finite differences`);
    }
  });
  return g;
}
