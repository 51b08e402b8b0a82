// layout: spatial ops and the elementwise ops between them go channels-last, transposes stay
// at the edges, and results are unchanged.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { checkPassPreserves, graphArb } from "./gen.js";
import { graphOf, model, ops } from "./helpers.js";

const spatial = new Set(["conv2d", "maxpool", "avgpool", "global_avgpool", "batchnorm", "prelu", "resize"]);

describe("layout", () => {
  test("a small CNN: everything NHWC, one transpose at the input, the head a reshape", () => {
    const src = model([2, 3, 12, 12], `
  y = relu(bn: batchnorm(c1: conv2d(x, 8, 3, pad=1)))
  y = maxpool(y, 2)
  s = hard_sigmoid(fc: conv2d(global_avgpool(y), 8, 1))
  y = y * s + (b: parameter([8, 1, 1], init="normal"))
  y = p: prelu(c2: conv2d(y, 8, 3, pad=1), num_parameters=8) + y
  y = avgpool(bn2: batchnorm(y), 2)
  y = resize(y, size=(6, 3), mode="bilinear") + resize(y, scale=(2.0, 1.0))
  output y = fc2: linear(flatten(global_avgpool(y)), 5)`);
    const after = checkPassPreserves(["layout"], graphOf(src));
    for (const n of after.nodes) if (spatial.has(n.op)) expect(n.attrs.layout, n.op).toBe("NHWC");
    const transposes = after.nodes.filter((n) => n.op === "transpose");
    expect(transposes.map((t) => t.inputs[0])).toEqual([after.inputs[0]!.value]);
    // The per-channel constant was permuted, not transposed at run time.
    expect(after.values.filter((v) => v.kind === "const").some((v) => v.type.shape.join() === "1,1,1,8")).toBe(true);
  });

  test("a 4-D output and a reshape in the middle get transposes back to NCHW", () => {
    const src = model([1, 2, 4, 4], `
  y = relu(c: conv2d(x, 4, 3, pad=1))
  z = reshape(y, [1, 4, 16])
  output y = y
  output z = softmax(z, axis=-1)`);
    const after = checkPassPreserves(["layout"], graphOf(src));
    expect(ops(after).transpose).toBe(2); // the input in, the conv result out (shared by y and z)
  });

  test("tensors that never meet a spatial op keep their layout", () => {
    const src = model([2, 3, 4, 5], "  output y = softmax(x * 2.0 + 1.0, axis=1)");
    expect(ops(checkPassPreserves(["layout"], graphOf(src)))).toEqual(ops(graphOf(src)));
  });

  test("idempotent", () => {
    const g = graphOf(model([1, 3, 8, 8], "  output y = flatten(global_avgpool(relu(c: conv2d(x, 4, 3) + 1.0)))"));
    const once = checkPassPreserves(["layout"], g);
    expect(ops(checkPassPreserves(["layout"], once))).toEqual(ops(once));
  });

  test("data movement between convs runs channels-last, its attributes permuted; results unchanged", () => {
    const src = model([1, 3, 9, 9], `
  y = relu(c1: conv2d(x, 4, 3))
  y = pad(y, (1, 2, 0, 1), mode="reflect")
  y = relu(c2: conv2d(y, 4, 3))
  y = slice(y, 2, none, none, step=-2) + 1.0
  y = tile(c3: conv2d(y, 4, 1), (1, 1, 2, 1))
  y = index_select(y, 1, [3, 0, -1])
  y = y + expand(global_avgpool(y), [1, 3, 6, 8])
  output y = c4: conv2d(pad(y, (1, 1, 1, 1), mode="replicate"), 2, 3)`);
    const after = checkPassPreserves(["layout"], graphOf(src));
    for (const n of after.nodes) if (n.op === "conv2d") expect(n.attrs.layout).toBe("NHWC");
    // Transposes only at the edges: the input in, the output back.
    expect(after.nodes.filter((n) => n.op === "transpose").map((t) => t.inputs[0] === after.inputs[0]!.value || after.outputs.some((p) => p.value === t.outputs[0]))).toEqual([true, true]);
    const attrs = (op: string) => after.nodes.filter((n) => n.op === op).map((n) => n.attrs);
    expect(attrs("pad")).toEqual([{ pads: [0, 0, 1, 0, 0, 1, 2, 0], mode: "reflect", value: 0 }, { pads: [0, 1, 1, 0, 0, 1, 1, 0], mode: "replicate", value: 0 }]);
    expect(attrs("slice")).toEqual([{ axis: 1, start: 5, end: -7, step: -2 }]);
    expect(attrs("tile")).toEqual([{ repeats: [1, 2, 1, 1] }]);
    expect(attrs("gather")).toEqual([{ axis: 3 }]);
    expect(attrs("expand")).toEqual([{ shape: [1, 6, 8, 3] }]);
  });

  test("a gather with 2-D ids stays NCHW, between transposes", () => {
    const src = model([1, 3, 6, 6], `
  input ids: i32[2, 2]
  y = gather(relu(c1: conv2d(x, 4, 3)), ids, axis=2)
  output y = sum(y, [2])`);
    const after = checkPassPreserves(["layout"], graphOf(src));
    expect(after.nodes.find((n) => n.op === "gather")!.attrs).toEqual({ axis: 2 });
    expect(ops(after).transpose).toBe(2);
  });

  test("property: a random pad and slice step between convs keep their results", () => {
    const pad = fc.record({ pads: fc.array(fc.integer({ min: -2, max: 3 }), { minLength: 4, maxLength: 4 }), mode: fc.constantFrom("constant", "reflect", "replicate") });
    const slice = fc.record({ axis: fc.integer({ min: 1, max: 3 }), start: fc.integer({ min: -4, max: 3 }), step: fc.constantFrom(-2, -1, 1, 2, 3) });
    fc.assert(
      fc.property(pad, slice, ({ pads, mode }, { axis, start, step }) => {
        const src = model([2, 3, 10, 10], `
  y = relu(c1: conv2d(x, 4, 3))
  y = pad(y, (${pads.join(", ")}), mode="${mode}")
  y = slice(c2: conv2d(y, 4, 3), ${axis}, ${start}, none, step=${step})
  output y = relu(c3: conv2d(y, 3, 1)) * 2.0`);
        void checkPassPreserves(["layout"], graphOf(src));
      }),
      { numRuns: 25 },
    );
  });

  test("property: random models keep their results", () => {
    fc.assert(fc.property(graphArb(), ({ graph }) => void checkPassPreserves(["layout"], graph)), { numRuns: 60 });
  });
});
