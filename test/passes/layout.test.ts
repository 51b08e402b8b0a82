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

  test("property: random models keep their results", () => {
    fc.assert(fc.property(graphArb(), ({ graph }) => void checkPassPreserves(["layout"], graph)), { numRuns: 60 });
  });
});
