// Gradients at non-smooth points are PyTorch's, and never NaN: relu at 0, ties of maximum,
// amax and maxpool, clamp's bounds, abs at 0, the contrastive loss of identical embeddings
// (sqrt at 0). Values are exact: these are 0/1 masks and halves.
import { describe, expect, it } from "vitest";
import { gradients, toCoreForm } from "../../src/autodiff/index.js";
import { elaborate } from "../../src/driver.js";
import type { Graph } from "../../src/ir/graph.js";
import { compact } from "../../src/ir/rewrite.js";
import { interpret } from "../../src/interp/index.js";

/** d(output `loss`)/d(each input) of a model, by the gradient graph on the interpreter. */
function inputGrads(source: string, inputs: Record<string, Float32Array>): Record<string, number[]> {
  const g: Graph = toCoreForm(elaborate(source).graph);
  const loss = g.outputs.find((p) => p.name === "loss")!.value;
  const grads = gradients(g, loss, g.inputs.map((p) => p.value));
  g.inputs.forEach((p, i) => g.outputs.push({ name: `d_${p.name}`, value: grads[i]! }));
  compact(g);
  const out = interpret(g, new Map(), inputs);
  // + 0 reads -0 as 0: the sign of a zero gradient is no one's concern.
  return Object.fromEntries(g.inputs.map((p) => [p.name, Array.from(out[`d_${p.name}`] as Float32Array, (v) => v + 0)]));
}

const model = (inputs: string, body: string) => `model m() {\n${inputs}\n  output loss = ${body}\n}`;

describe("non-smooth points", () => {
  it("relu'(0) is 0, relu6 passes nothing at its bounds, clamp passes its bounds", () => {
    const x = Float32Array.of(-1, 0, 0.5, 6, 7);
    expect(inputGrads(model("  input x: f32[5]", "sum(relu(x), [0])"), { x }).x).toEqual([0, 0, 1, 1, 1]);
    expect(inputGrads(model("  input x: f32[5]", "sum(relu6(x), [0])"), { x }).x).toEqual([0, 0, 1, 0, 0]);
    expect(inputGrads(model("  input x: f32[5]", "sum(clip(x, 0.0, 6.0), [0])"), { x }).x).toEqual([0, 1, 1, 1, 0]);
    expect(inputGrads(model("  input x: f32[5]", "sum(abs(x), [0])"), { x }).x).toEqual([-1, 0, 1, 1, 1]);
  });

  it("maximum splits a tie evenly; amax shares the gradient among its ties", () => {
    const src = model("  input a: f32[3]\n  input b: f32[3]", "sum(maximum(a, b), [0])");
    expect(inputGrads(src, { a: Float32Array.of(1, 2, 3), b: Float32Array.of(1, 3, 2) })).toEqual({ a: [0.5, 0, 1], b: [0.5, 1, 0] });
    expect(inputGrads(model("  input x: f32[2, 3]", "sum(amax(x, [1]), [0])"), { x: Float32Array.of(1, 4, 4, 0, 2, -1) }).x).toEqual([0, 0.5, 0.5, 0, 1, 0]);
  });

  it("maxpool gives a window's gradient to its first maximum (row-major), as PyTorch", () => {
    const src = model("  input x: f32[1, 1, 2, 3]", "sum(maxpool(x, (2, 2), stride=(1, 1)), [0, 1, 2, 3])");
    // Windows [[5, 5], [5, 5]] and [[5, 1], [5, 2]]: the first 5 of each.
    expect(inputGrads(src, { x: Float32Array.of(5, 5, 1, 5, 5, 2) }).x).toEqual([1, 1, 0, 0, 0, 0]);
  });

  it("the contrastive loss of identical embeddings has a zero gradient, not NaN (sqrt at 0 is the norm's)", () => {
    const src = model("  input a: f32[2, 4]\n  input b: f32[2, 4]\n  input label: f32[2]", "contrastive_loss(a, b, label)");
    const a = Float32Array.of(0.1, 0.2, 0.3, 0.4, -1, 0, 1, 2);
    for (const label of [Float32Array.of(0, 1), Float32Array.of(1, 0)]) {
      const d = inputGrads(src, { a, b: a.slice(), label });
      expect(d.a).toEqual(new Array(8).fill(0));
      expect(d.b).toEqual(new Array(8).fill(0));
    }
  });
});
