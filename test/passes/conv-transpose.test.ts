// conv_transpose2d through the passes: batchnorm folds into its [in, out/groups, kh, kw]
// weights, bias, residual and activations fuse into its epilogue, and the layout pass keeps it
// channels-last between convolutions; results unchanged (interpreter before and after).
import { describe, expect, test } from "vitest";
import { defaultPipeline } from "../../src/passes/index.js";
import { checkPassPreserves } from "./gen.js";
import { graphOf, model, ops } from "./helpers.js";

// PaddleOCR's DB head: conv, then two 2x upsamplings, each followed by batchnorm and relu.
const DB_HEAD = `
  y = relu(bn0: batchnorm(c0: conv2d(x, 8, 3, pad=1, bias=false)))
  y = relu(bn1: batchnorm(up1: conv_transpose2d(y, 6, 2, stride=2, groups=2)))
  output y = sigmoid(up2: conv_transpose2d(y, 1, 4, stride=2, pad=1))`;

describe("conv_transpose2d in the passes", () => {
  test("batchnorm folds into grouped weights; bias and activation fuse", () => {
    const after = checkPassPreserves(["fold-batchnorm", "fuse-epilogue", "dce"], graphOf(model([2, 4, 5, 6], DB_HEAD)));
    expect(ops(after)).toEqual({ conv2d: 1, conv_transpose2d: 2 });
    const [up1, up2] = after.nodes.filter((n) => n.op === "conv_transpose2d");
    expect([up1!.attrs.bias, up1!.attrs.act, up2!.attrs.act]).toEqual([true, "relu", "sigmoid"]);
  });

  test("a residual add and prelu fuse", () => {
    const after = checkPassPreserves(["fuse-epilogue"], graphOf(model([1, 3, 4, 4], `
  u = up: conv_transpose2d(x, 4, 3, stride=2, pad=1, output_padding=1)
  output y = p: prelu(u + (r: conv_transpose2d(x, 4, 2, stride=2)), num_parameters=4)`)));
    expect(ops(after)).toEqual({ conv_transpose2d: 2 });
    expect(after.nodes.filter((n) => n.attrs.residual === true && n.attrs.act === "prelu")).toHaveLength(1);
  });

  test("layout: NHWC from the first conv to the last, transposes only at the edges", () => {
    const after = checkPassPreserves(defaultPipeline, graphOf(model([1, 4, 5, 6], DB_HEAD)));
    for (const n of after.nodes) if (n.op === "conv_transpose2d" || n.op === "conv2d") expect(n.attrs.layout, n.op).toBe("NHWC");
    // The input in, and the 1-channel output back (a reshape: only a size-1 axis moves).
    expect(ops(after).transpose ?? 0).toBe(1);
  });
});
