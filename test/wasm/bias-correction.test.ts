// Bias correction for f16 / int8 weights (codegen/wasm/bias-correction.ts, on the means that
// src/weights/calibrate.ts's fanInMeans measures): on the calibration input, each corrected
// layer's output has the float32 layer's mean per output channel (over batch and positions), for
// convolutions of every stride, padding, dilation, group count and layout, and for linear layers
// of any rank; a bias two layers share is corrected once, for the mean over both. Tolerance:
// 2e-5 of max |y|, the float32 rounding of the outputs and of the corrected bias (sums of up to
// ~2000 products); the shift corrected is up to ~1e-2 of max |y| (int8) and asserted to be 10x
// the tolerance or more, so a correction that does nothing fails.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { correctBiases } from "../../codegen/wasm/bias-correction.js";
import { decodedWeights, quantisable } from "../../codegen/wasm/weights.js";
import type { Attrs, Graph } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { fanInMeans } from "../../src/weights/calibrate.js";
import { rng } from "../support/source.js";
import { oneNode, inputsOf, type Operand } from "./gemm-harness.js";

const TOLERANCE = 2e-5;

/** Inputs with a mean of their own per channel (channel axis `axis` of `shape`), as after a ReLU. */
function shifted(shape: number[], axis: number, seed: number): Float32Array {
  const r = rng(seed);
  const channels = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const base = Array.from({ length: channels }, () => 3 * r());
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => base[Math.floor(i / inner) % channels]! + r() - 0.5);
}

/** `g` with its encoded weights as the module decodes them (biases as given). */
function decoded(g: Graph, dtype: "f16" | "int8"): Graph {
  const encoded = quantisable(g, dtype);
  return { ...g, constants: g.constants.map((c) => (encoded.has(c.value) ? { ...c, data: decodedWeights(dtype, c.data as Float32Array, encoded.get(c.value)!, "w") } : c)) };
}

/** Per output channel (axis `axis`), the mean of got - want over every other axis, divided by max |want|. */
function meanShifts(got: Float32Array, want: Float32Array, shape: number[], axis: number): number[] {
  const channels = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const sums = new Float64Array(channels);
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    sums[Math.floor(i / inner) % channels]! += got[i]! - want[i]!;
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return Array.from(sums, (s) => Math.abs(s / (want.length / channels)) / scale);
}

/** The largest per-channel mean shift of `g`'s outputs with uncorrected and corrected decoded weights, on its calibration input. */
function shifts(g: Graph, inputs: Record<string, Float32Array>, dtype: "f16" | "int8", axis: number): { before: number; after: number } {
  const want = interpret(g, new Map(), inputs);
  const worst = (h: Graph) => Math.max(...g.outputs.flatMap((p) => meanShifts(interpret(h, new Map(), inputs)[p.name] as Float32Array, want[p.name] as Float32Array, g.values[p.value]!.type.shape, axis)));
  return { before: worst(decoded(g, dtype)), after: worst(decoded(correctBiases(g, dtype, fanInMeans(g, [inputs])), dtype)) };
}

function expectCorrected({ before, after }: { before: number; after: number }, dtype: string): void {
  expect(after, `${dtype}: the mean shift left`).toBeLessThanOrEqual(TOLERANCE);
  if (dtype === "int8") expect(before, "int8: the shift to correct").toBeGreaterThanOrEqual(10 * TOLERANCE);
}

describe("bias correction of f16 / int8 weights", () => {
  it("convolutions: the output means per channel are float32's on the calibration input", () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 2 }),
          groups: fc.constantFrom(1, 2, 4),
          h: fc.integer({ min: 3, max: 7 }),
          w: fc.integer({ min: 3, max: 7 }),
          k: fc.constantFrom(1, 3),
          stride: fc.integer({ min: 1, max: 2 }),
          pad: fc.integer({ min: 0, max: 1 }),
          dilation: fc.integer({ min: 1, max: 2 }),
          nhwc: fc.boolean(),
          seed: fc.nat(1000),
        }),
        (c) => {
          // 64 output channels of 288 or 32 inputs per group: more than int8's float32 rule keeps (16384 elements) with 3x3 kernels.
          const [K, C] = [64, (c.k === 3 ? 32 : 288) * c.groups];
          if ((c.k - 1) * c.dilation + 1 > Math.min(c.h, c.w) + 2 * c.pad) return;
          const xs = c.nhwc ? [c.n, c.h, c.w, C] : [c.n, C, c.h, c.w];
          const r = rng(c.seed);
          const ws = [K, C / c.groups, c.k, c.k];
          const operands: Operand[] = [
            { shape: xs, data: shifted(xs, c.nhwc ? 3 : 1, c.seed) },
            { shape: ws, data: Float32Array.from({ length: ws.reduce((a, b) => a * b, 1) }, () => r() - 0.5), constant: true },
            { shape: [K], data: Float32Array.from({ length: K }, () => r() - 0.5), constant: true },
          ];
          const attrs: Attrs = { stride: [c.stride, c.stride], pads: [c.pad, c.pad, c.pad, c.pad], dilation: [c.dilation, c.dilation], groups: c.groups, bias: true, ...(c.nhwc ? { layout: "NHWC" } : {}) };
          const g = oneNode("conv2d", operands, attrs);
          for (const dtype of ["f16", "int8"] as const) expectCorrected(shifts(g, inputsOf(operands), dtype, c.nhwc ? 3 : 1), dtype);
        },
      ),
      { numRuns: 24, seed: 7 },
    );
  });

  it("linear layers of rank 2 and 3: the output means per feature are float32's", () => {
    for (const xs of [[5, 160], [2, 3, 160]]) {
      const r = rng(xs.length);
      const operands: Operand[] = [
        { shape: xs, data: shifted(xs, xs.length - 1, 3) },
        { shape: [128, 160], data: Float32Array.from({ length: 128 * 160 }, () => r() - 0.5), constant: true },
        { shape: [128], data: Float32Array.from({ length: 128 }, () => r() - 0.5), constant: true },
      ];
      const g = oneNode("linear", operands, { bias: true });
      for (const dtype of ["f16", "int8"] as const) expectCorrected(shifts(g, inputsOf(operands), dtype, xs.length - 1), dtype);
    }
  });

  it("a weight and bias two layers share are corrected once, for the mean over both", () => {
    const r = rng(5);
    const operands: Operand[] = [
      { shape: [4, 160], data: shifted([4, 160], 1, 1) },
      { shape: [128, 160], data: Float32Array.from({ length: 128 * 160 }, () => r() - 0.5), constant: true },
      { shape: [128], data: Float32Array.from({ length: 128 }, () => r() - 0.5), constant: true },
    ];
    const one = oneNode("linear", operands, { bias: true });
    // A second linear layer on its own input, reading the same weight and bias values.
    const g: Graph = structuredClone(one);
    const [x2, y2] = [g.values.length, g.values.length + 1];
    g.values.push({ id: x2, type: { dtype: "f32", shape: [4, 160] }, kind: "input" }, { id: y2, type: { dtype: "f32", shape: [4, 128] }, kind: "node", producer: 1 });
    g.inputs.push({ name: "x2", value: x2 });
    g.nodes.push({ ...g.nodes[0]!, id: 1, inputs: [x2, ...g.nodes[0]!.inputs.slice(1)], outputs: [y2] });
    g.outputs.push({ name: "y2", value: y2 });
    const inputs = { ...inputsOf(operands), x2: shifted([4, 160], 1, 2) };
    const want = interpret(g, new Map(), inputs);
    const got = interpret(decoded(correctBiases(g, "int8", fanInMeans(g, [inputs])), "int8"), new Map(), inputs);
    // Each layer keeps its own shift; their average is zero.
    const both = (o: Record<string, unknown>) => Float32Array.from({ length: 8 * 128 }, (_, i) => (o[i < 512 ? "y" : "y2"] as Float32Array)[i % 512]!);
    expect(Math.max(...meanShifts(both(got), both(want), [8, 128], 1))).toBeLessThanOrEqual(TOLERANCE);
  });

  it("over several samples, each layer's mean input is the average of the samples' own", () => {
    const r = rng(6);
    const weight = Float32Array.from({ length: 32 * 160 }, () => r() - 0.5);
    const g = oneNode("linear", [{ shape: [4, 160], data: shifted([4, 160], 1, 1) }, { shape: [32, 160], data: weight, constant: true }], { bias: false });
    const [a, b] = [1, 2].map((seed) => Object.fromEntries(g.inputs.map((p) => [p.name, shifted([4, 160], 1, seed + 10)])));
    const [one, other, both] = [fanInMeans(g, [a!]), fanInMeans(g, [b!]), fanInMeans(g, [a!, b!])];
    expect([...both.keys()]).toEqual([...one.keys()]);
    for (const [id, m] of both) m.forEach((v, i) => expect(v).toBeCloseTo((one.get(id)![i]! + other.get(id)![i]!) / 2, 12));
    expect(Math.max(...Array.from(one.values().next().value!, (v, i) => Math.abs(v - other.values().next().value![i]!)))).toBeGreaterThan(0.1);
  });
});
