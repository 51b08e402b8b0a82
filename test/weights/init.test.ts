import { describe, it, expect } from "vitest";
import type { InitKind, Weight } from "../../src/ir/graph.js";
import { initWeights } from "../../src/weights/init.js";
import { expectCode } from "./helpers.js";

const w = (name: string, shape: number[], init: InitKind, dtype: "f32" | "i64" | "bool" = "f32"): Weight => ({
  name,
  value: 0,
  type: { dtype, shape },
  trainable: true,
  init,
});

function stats(a: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const x of a) sum += x;
  const mean = sum / a.length;
  let sq = 0;
  for (const x of a) sq += (x - mean) ** 2;
  return { mean, std: Math.sqrt(sq / a.length) };
}

describe("initWeights", () => {
  const model = [
    w("conv.weight", [4, 1, 3, 3], { kind: "kaiming", fanIn: 9 }),
    w("fc.bias", [3], { kind: "uniform", bound: 0.25 }),
    w("emb.wé", [3], { kind: "normal", std: 0.02 }),
  ];

  it("matches the documented scheme (values from an independent Python implementation)", () => {
    const seed0 = initWeights(model);
    const expectClose = (got: Float32Array, want: number[]) => want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
    expectClose(
      seed0.get("conv.weight") as Float32Array,
      [0.6090716123580933, 0.2894180715084076, -0.616747260093689, -0.24081654846668243, 0.9439405202865601],
    );
    expectClose(
      seed0.get("emb.wé") as Float32Array,
      [-0.010097169317305088, 0.03640587627887726, 0.000907810521312058],
    );
    expectClose(
      initWeights(model, 7).get("fc.bias") as Float32Array,
      [-0.13676410913467407, -0.1906467080116272, -0.12641961872577667],
    );
  });

  it("is deterministic and depends on the seed", () => {
    expect(initWeights(model, 3)).toEqual(initWeights(model, 3));
    expect(initWeights(model, 3).get("conv.weight")).not.toEqual(initWeights(model, 4).get("conv.weight"));
  });

  it("gives each weight its own stream: adding or reordering weights changes nothing else", () => {
    const base = initWeights(model, 1);
    const more = initWeights([w("new.weight", [10], { kind: "kaiming", fanIn: 10 }), ...model].reverse(), 1);
    for (const [name, data] of base) expect(more.get(name)).toEqual(data);
    // Same init, different names: different values.
    const twins = initWeights([w("a", [8], { kind: "normal", std: 1 }), w("b", [8], { kind: "normal", std: 1 })]);
    expect(twins.get("a")).not.toEqual(twins.get("b"));
  });

  it("kaiming has mean 0 and std sqrt(2 / fanIn)", () => {
    const n = 1 << 20;
    const { mean, std } = stats(initWeights([w("k", [n], { kind: "kaiming", fanIn: 50 })]).get("k") as Float32Array);
    // Standard error of the mean is 0.2 / 1024; of the std about 0.2 / 1448. Allow > 5 sigma.
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(Math.abs(std - 0.2)).toBeLessThan(0.001);
  });

  it("normal(std) handles odd lengths", () => {
    const n = (1 << 20) + 1;
    const a = initWeights([w("e", [n], { kind: "normal", std: 3 })]).get("e") as Float32Array;
    const { mean, std } = stats(a);
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(std - 3)).toBeLessThan(0.015);
    expect(Number.isFinite(a[n - 1]!) && a[n - 1] !== 0).toBe(true);
  });

  it("uniform stays within the bound with variance bound^2 / 3", () => {
    const a = initWeights([w("u", [1 << 20], { kind: "uniform", bound: 0.5 })]).get("u") as Float32Array;
    expect(a.every((x) => x >= -0.5 && x <= 0.5)).toBe(true);
    const { mean, std } = stats(a);
    expect(Math.abs(mean)).toBeLessThan(0.003);
    expect(Math.abs(std - 0.5 / Math.sqrt(3))).toBeLessThan(0.002);
  });

  it("fills zeros, ones and constants; i64 weights are zeros", () => {
    const out = initWeights([
      w("z", [2], { kind: "zeros" }),
      w("o", [2], { kind: "ones" }),
      w("c", [2], { kind: "const", value: 0.5 }),
      w("n", [], { kind: "ones" }, "i64"),
    ]);
    expect(out.get("z")).toEqual(new Float32Array([0, 0]));
    expect(out.get("o")).toEqual(new Float32Array([1, 1]));
    expect(out.get("c")).toEqual(new Float32Array([0.5, 0.5]));
    expect(out.get("n")).toEqual(new BigInt64Array([0n]));
  });

  it("rejects invalid parameters, dtypes and seeds", () => {
    expectCode(() => initWeights([w("k", [1], { kind: "kaiming", fanIn: 0 })]), "invalid_init");
    expectCode(() => initWeights([w("u", [1], { kind: "uniform", bound: NaN })]), "invalid_init");
    expectCode(() => initWeights([w("s", [1], { kind: "normal", std: -1 })]), "invalid_init");
    expectCode(() => initWeights([w("b", [1], { kind: "zeros" }, "bool")]), "invalid_init");
    for (const seed of [-1, 0.5, 2 ** 32]) expectCode(() => initWeights([], seed), "invalid_init");
  });
});
