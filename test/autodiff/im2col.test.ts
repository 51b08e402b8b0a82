// convolutionsAsMatmuls computes what conv2d computes, for every stride, pad, dilation, group
// count and bias; and a training step with it matches the direct one.
import { join } from "node:path";
import fc from "fast-check";
import { expect, it } from "vitest";
import { convolutionsAsMatmuls, trainingGraph } from "../../src/autodiff/index.js";
import { elaborate, modelWeights } from "../../src/driver.js";
import { emptyGraph, numel } from "../../src/ir/graph.js";
import { addConstant, addNode } from "../../src/ir/rewrite.js";
import { verify } from "../../src/ir/verify.js";
import { interpret } from "../../src/interp/index.js";
import { root } from "../support/cli.js";
import { rng } from "../support/source.js";
import { step, withState } from "./step.js";

/** Both sum the same f32 products in double and round once, in other orders: 1e-5 of the sum of |terms| at most, far less in practice. */
const TOL = 1e-5;
const random = (seed: number, n: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
};
const dim = (max: number) => fc.integer({ min: 1, max });

it("matches conv2d", () => {
  fc.assert(
    fc.property(
      fc.record({ n: dim(2), g: dim(3), cg: dim(2), kg: dim(2), kh: dim(3), kw: dim(3), sh: dim(3), sw: dim(2), dh: dim(2), dw: dim(2), pads: fc.array(fc.nat(2), { minLength: 4, maxLength: 4 }), eh: fc.nat(4), ew: fc.nat(4), bias: fc.boolean(), seed: fc.nat() }),
      ({ n, g: groups, cg, kg, kh, kw, sh, sw, dh, dw, pads, eh, ew, bias, seed }) => {
        const h = Math.max(1, dh * (kh - 1) + 1 - pads[0]! - pads[2]!) + eh;
        const w = Math.max(1, dw * (kw - 1) + 1 - pads[1]! - pads[3]!) + ew;
        const g = emptyGraph("conv");
        const xShape = [n, groups * cg, h, w];
        g.values.push({ id: 0, type: { dtype: "f32", shape: xShape }, kind: "input" });
        g.inputs.push({ name: "x", value: 0 });
        const wt = addConstant(g, [groups * kg, cg, kh, kw], random(seed, groups * kg * cg * kh * kw));
        const ins = [0, wt, ...(bias ? [addConstant(g, [groups * kg], random(seed + 1, groups * kg))] : [])];
        const [y] = addNode(g, "conv2d", ins, { stride: [sh, sw], pads, dilation: [dh, dw], groups, ...(bias ? { bias: true } : {}) });
        g.outputs.push({ name: "y", value: y! });
        const x = random(seed + 2, numel(xShape));
        const want = interpret(g, new Map(), { x }).y as Float32Array;
        const lowered = convolutionsAsMatmuls(structuredClone(g));
        verify(lowered);
        expect(lowered.nodes.some((m) => m.op === "conv2d")).toBe(false);
        const got = interpret(lowered, new Map(), { x }).y as Float32Array;
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(TOL * scale);
      },
    ),
    { numRuns: 40 },
  );
});

it("a siamese_contrastive training step with convolutions as matmuls matches the direct one", { timeout: 60_000 }, () => {
  const shapes = { image_a: [2, 3, 8, 8], image_b: [2, 3, 8, 8], label: [2] };
  const { graph } = elaborate({ path: join(root, "specs/siamese_contrastive.nn") }, { set: { dim: 8 }, shapes });
  const inputs = { image_a: random(1, 384), image_b: random(2, 384), label: Float32Array.of(0, 1) };
  const [direct, matmul] = (["direct", "matmul"] as const).map((convolutions) => {
    const tg = trainingGraph(graph, { optimizer: "sgd", momentum: 0.9, convolutions });
    return { tg, out: step(tg, withState(tg, modelWeights(graph, { seed: 5 }).data), inputs, 0.1, 1) };
  });
  expect(matmul!.tg.updates).toEqual(direct!.tg.updates);
  for (const [name, want] of Object.entries(direct!.out.outputs)) {
    const [a, b] = [matmul!.out.outputs[name] as Float32Array, want as Float32Array];
    const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = b.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), 0);
    // f32 storage between differently ordered ops, through the whole step: 1e-4 of the largest element.
    expect(worst, name).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
  }
});
