// fuse-elementwise: regions of elementwise/broadcast ops become one fused_elementwise node,
// only where no intermediate is read outside the region; results unchanged.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { fusedProgram, getOp } from "../../src/ir/ops.js";
import { checkPassPreserves, graphArb } from "./gen.js";
import { graphOf, model, ops } from "./helpers.js";

const fuse = (src: string, passes = ["fuse-elementwise"]) => checkPassPreserves(passes, graphOf(src));

describe("fuse-elementwise", () => {
  test("a chain with broadcast constants becomes one node", () => {
    const after = fuse(model([2, 3, 4], "  output y = sigmoid(relu(x * 2.0 + 1.0) - (c: parameter([4], init=\"normal\")))"));
    expect(ops(after)).toEqual({ fused_elementwise: 1 });
    expect(fusedProgram(after.nodes[0]!.attrs).map((s) => s.op)).toEqual(["mul", "add", "relu", "sub", "sigmoid"]);
  });

  test("a diamond (one value read twice inside the region) fuses whole", () => {
    const after = fuse(model([5, 6], "  a = x * 3.0\n  output y = sigmoid(a) * tanh(a) + a"));
    expect(ops(after)).toEqual({ fused_elementwise: 1 });
  });

  test("an intermediate read outside the region is not swallowed", () => {
    const after = fuse(model([5, 6], "  a = exp(x * 2.0)\n  output y = tanh(a + 1.0) * 2.0\n  output z = a"));
    expect(ops(after)).toEqual({ fused_elementwise: 2 });
    expect(after.outputs.every((p) => after.nodes[after.values[p.value]!.producer!]!.op === "fused_elementwise")).toBe(true);
  });

  test("single ops, cast and non-elementwise ops are left alone", () => {
    const src = `model m() {
  input x: f32[2, 4]
  input i: i32[2, 4]
  output y = softmax(relu(x), axis=-1) + cast(i, "f32")
  output z = l: layernorm(x)
}`;
    expect(ops(fuse(src))).toEqual(ops(graphOf(src)));
  });

  test("data movement (injective ops) splits regions and is never fused", () => {
    const src = model([2, 3, 4], `
  a = pad(relu(x * 2.0), (1, 1), mode="reflect") + 1.0
  b = slice(tile(a, (1, 2, 1)), 2, none, none, step=-1) * 3.0
  output y = sigmoid(expand(b, [2, 2, 6, 6]) + gather(b, [1, -2], axis=0))`);
    const after = fuse(src);
    expect(ops(after)).toMatchObject({ pad: 1, tile: 1, slice: 1, expand: 1, gather: 1 });
    for (const n of after.nodes) if (n.op === "fused_elementwise") expect(fusedProgram(n.attrs).map((st) => getOp(st.op).cls)).not.toContain("injective");
  });

  test("after fuse-epilogue: the conv takes bias and relu, the rest of the chain fuses", () => {
    const src = model([1, 3, 6, 6], "  y = relu(c: conv2d(x, 4, 3, pad=1))\n  output y = tanh(y * 0.5) * 2.0 + 1.0");
    const after = fuse(src, ["fuse-epilogue", "fuse-elementwise"]);
    expect(ops(after)).toEqual({ conv2d: 1, fused_elementwise: 1 });
    expect(after.nodes[0]!.attrs).toMatchObject({ bias: true, act: "relu" });
  });

  test("running twice changes nothing more (fused nodes merge into their consumers' regions)", () => {
    const src = model([3, 3], "  a = exp(x) + 1.0\n  output y = a * a\n  output z = log(a) * 2.0");
    const once = fuse(src);
    const twice = checkPassPreserves(["fuse-elementwise"], once);
    expect(twice.nodes.map((n) => n.attrs.program)).toEqual(once.nodes.map((n) => n.attrs.program));
  });

  test("property: random models keep their results", () => {
    fc.assert(fc.property(graphArb(), ({ graph }) => void checkPassPreserves(["fuse-elementwise"], graph)), { numRuns: 60 });
  });
});
