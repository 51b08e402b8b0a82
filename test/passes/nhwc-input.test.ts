// `input x: f32[N, H, W, C] nhwc`: the body sees NCHW through an elaborated transpose that the
// layout pass cancels against its own transpose to channels-last, so the NHWC model runs
// without the input transpose the NCHW model needs.
import { describe, expect, it } from "vitest";
import { compile, instantiate } from "../../src/api.js";
import { compileModel, elaborate, modelWeights } from "../../src/driver.js";
import { elaborateSource, renderDiagnostic } from "../../src/frontend/index.js";
import { permute, TO_NHWC, transposeOffsets } from "../../src/ir/shape.js";

const body = `
  y = relu(bn: batchnorm(c1: conv2d(x, 8, 3, pad=1)))
  y = maxpool(y, 2)
  y = c2: conv2d(y, 8, 3, pad=1) + y
  output logits = fc: linear(flatten(global_avgpool(y)), 5)`;
const nchw = `model m() {\n  input x: f32[2, 3, 12, 12]${body}\n}\n`;
const nhwc = `model m() {\n  input x: f32[2, 12, 12, 3] nhwc${body}\n}\n`;

describe("nhwc inputs", () => {
  it("cost no kernel: the NCHW model's one input transpose is gone, no transpose is left, outputs are equal", async () => {
    // One set of weights for both (seeded BatchNorm calibration draws an input of the declared shape, so it would differ).
    const weights = modelWeights(elaborate(nchw).graph, { seed: 4 }).data;
    const a = await compile(nchw, { weights });
    const b = await compile(nhwc, { weights });
    expect(b.report.inputs).toEqual([{ name: "x", dtype: "f32", shape: [2, 12, 12, 3] }]);
    // The NCHW model transposes its input to channels-last in one kernel; the NHWC one needs none.
    expect(b.report.stats.kernels).toBe(a.report.stats.kernels - 1);
    const { graph } = await compileModel(nhwc, { weights });
    expect(graph.nodes.filter((n) => n.op === "transpose")).toEqual([]);

    const x = Float32Array.from({ length: 2 * 3 * 12 * 12 }, (_, i) => Math.sin(i * 0.37));
    const xNhwc = Float32Array.from(transposeOffsets([2, 3, 12, 12], TO_NHWC), (o) => x[o]!);
    expect(permute([2, 3, 12, 12], TO_NHWC)).toEqual([2, 12, 12, 3]);
    const ya = (await (await instantiate(a)).run({ x })).logits as Float32Array;
    const yb = (await (await instantiate(b)).run({ x: xNhwc })).logits as Float32Array;
    // The same kernels on the same data in the same order (only the input transpose differs, and it moves values exactly): bit-equal.
    expect([...yb]).toEqual([...ya]);
  });

  it("nchw is the default and may be written; other words and ranks are located errors", () => {
    const errors = (src: string) => {
      const r = elaborateSource(src, "m.nn");
      return r.diagnostics.filter((d) => d.severity === "error").map((d) => renderDiagnostic(d, r.sources));
    };
    expect(errors("model m() {\n  input x: f32[1, 3, 4, 4] nchw\n  output y = relu(x)\n}\n")).toEqual([]);
    expect(errors("model m() {\n  input x: f32[1, 4, 4, 3] nwhc\n  output y = relu(x)\n}\n")[0]).toMatch(/^error: unknown input layout `nwhc`; expected nchw \(the default\) or nhwc\n  --> m.nn:2:28/);
    expect(errors("model m() {\n  input x: f32[1, 4, 3] nhwc\n  output y = relu(x)\n}\n")[0]).toContain("an nhwc input has 4 dimensions [N, H, W, C], `x` has 3");
  });

  it("a statement on the next line is not a layout", () => {
    expect(elaborateSource("model m() {\n  input x: f32[1, 3, 4, 4]\n  nhwc = relu(x)\n  output y = nhwc\n}\n", "m.nn").graph).toBeDefined();
    expect(elaborateSource("model m() {\n  input x: f32[1, 3, 4, 4] y = relu(x)\n  output o = y\n}\n", "m.nn").graph).toBeDefined();
  });
});
