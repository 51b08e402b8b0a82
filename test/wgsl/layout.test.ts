// A conv model through the whole standard pipeline, `layout` included, so its spatial ops come
// out channels-last. The WGSL target does not take NHWC nodes; decomposed (as the compile driver
// does) into transposes around NCHW ops, the graph runs on SwiftShader and matches the
// interpreter on the original NCHW graph.
//
// Tolerance: 1e-4 of each output's largest magnitude, as for the whole models of kernels.test.ts:
// the GPU accumulates in float in another order than the interpreter's double (transposes are
// exact, so the decomposition adds no error of its own).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wgslTarget } from "../../codegen/wgsl/target.js";
import { elaborateSource } from "../../src/frontend/index.js";
import { decompose } from "../../src/ir/decompose.js";
import { isNHWC } from "../../src/ir/ops.js";
import { bindWeights } from "../../src/ir/rewrite.js";
import { verify } from "../../src/ir/verify.js";
import { randomInputs } from "../../src/weights/calibrate.js";
import { interpret } from "../../src/interp/index.js";
import { defaultPipeline, runPipeline } from "../../src/passes/index.js";
import { loadWeights } from "../../src/weights/load.js";
import { closeness, swiftShaderDevice } from "./helpers.js";
import { runOnGpu } from "./gpu.js";

// Stem with folded batchnorm, a depthwise residual block with prelu, both pools, a channel
// concat, and both a 4-D output (transposed back at the edge) and a classifier head.
const source = `model layout_net() {
  input image: f32[1, 3, 12, 12]
  x = relu(bn: batchnorm(stem: conv2d(image, 8, 3, stride=2, pad=1, bias=false)))
  x = add(x, act: prelu(dw: conv2d(x, 8, 3, pad=1, groups=8), 8))
  x = avgpool(maxpool(x, 2), 3, stride=1, pad=1)
  x = concat([x, hard_swish(x)], 1)
  output features = x
  output logits = fc: linear(flatten(global_avgpool(x)), 5)
}
`;

let dev: Awaited<ReturnType<typeof swiftShaderDevice>>;
beforeAll(async () => void (dev = await swiftShaderDevice()));
afterAll(() => dev?.device.destroy());

describe("channels-last graphs on WebGPU", () => {
  it("decomposes the layout pass's NHWC nodes and matches the interpreter", async () => {
    const r = elaborateSource(source, "layout_net.nn");
    if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join("; "));
    const g = r.graph;
    const weights = loadWeights(g, { seed: 1 }).data;
    const compiled = runPipeline(bindWeights(structuredClone(g), weights), defaultPipeline, { verifyEach: true }).graph;
    expect(compiled.nodes.filter((n) => isNHWC(n.attrs)).length).toBeGreaterThan(0);

    const { graph, stuck } = decompose(compiled, (h, n) => wgslTarget.supports(h, n) !== true);
    expect(stuck).toEqual([]);
    expect(graph.nodes.filter((n) => isNHWC(n.attrs))).toEqual([]);
    verify(graph);

    const inputs = randomInputs(g, 3);
    const ref = interpret(g, weights, inputs);
    const out = await runOnGpu(graph, dev.device, inputs);
    for (const [name, want] of Object.entries(ref) as [string, Float32Array][]) {
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const { worst, at } = closeness(out[name] as Float32Array, want, 1e-4 * scale, 0);
      expect(worst, `${name}[${at}]: gpu ${(out[name] as Float32Array)[at]} vs ${want[at]}`).toBeLessThanOrEqual(1);
    }
  }, 240_000);
});
