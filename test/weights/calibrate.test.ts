// The seeded weights' BatchNorm calibration (src/weights/calibrate.ts): which batchnorms end a
// residual branch, and the statistics every batchnorm gets.
import { describe, expect, it } from "vitest";
import { elaborateFile } from "../../src/frontend/index.js";
import { elaborate } from "../../src/driver.js";
import { numel } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { calibrateBatchNorm, randomInputs, residualBranchEnds } from "../../src/weights/calibrate.js";
import { initWeights } from "../../src/weights/init.js";

describe("BatchNorm calibration of seeded weights", () => {
  it("finds the batchnorm that ends each residual branch, not the projections on the skips", () => {
    const ends = (model: string) => [...residualBranchEnds(elaborateFile(`specs/${model}.nn`).graph!)].map((n) => n.path);
    const blocks = (stages: number[], bn: string) => stages.flatMap((n, s) => Array.from({ length: n }, (_, b) => `layer${s + 1}.${b}.${bn}`));
    expect(ends("resnet18")).toEqual(blocks([2, 2, 2, 2], "bn2"));
    expect(ends("resnet50")).toEqual(blocks([3, 4, 6, 3], "bn3"));
    // ResNet-D's skips are an average pool, a 1x1 conv and a batchnorm: shorter than the branch.
    expect(ends("resnet50d")).toEqual(blocks([3, 4, 6, 3], "bn3"));
    // MobileNetV2: the stride-1 blocks whose input and output widths agree, ending in the projection's batchnorm.
    expect(ends("mobilenet_v2")).toEqual([3, 5, 6, 8, 9, 10, 12, 13, 15, 16].map((i) => `features.${i}.conv.3`));
    expect(ends("bert_base")).toEqual([]);
  });

  it("sets every batchnorm's statistics from its input on the seeded input: unit variance out, 1/K^2 at the K branch ends", () => {
    const g = elaborateFile("specs/resnet18.nn", { shapes: { image: [1, 3, 32, 32] } }).graph!;
    const weights = initWeights(g.weights, 3);
    calibrateBatchNorm(g, weights, 3);
    const ends = residualBranchEnds(g);
    const variances: { end: boolean; variance: number; mean: number }[] = [];
    interpret(g, weights, randomInputs(g, 3), (node, [x, gamma, beta, mean, variance]) => {
      if (node.op !== "batchnorm") return;
      // The layer's output, per channel: (x - mean) / sqrt(var + eps) * gamma + beta, with gamma 1 and beta 0 as initialised.
      const shape = g.values[node.inputs[0]!]!.type.shape;
      const [c, inner] = [shape[1]!, numel(shape.slice(2))];
      if (inner < 8) return; // layer statistics there (calibrate.ts's MIN_SAMPLES)
      expect(Array.from(gamma!).every((v) => v === 1) && Array.from(beta!).every((v) => v === 0)).toBe(true);
      let [sum, square] = [0, 0];
      for (let ci = 0; ci < c; ci++)
        for (let i = 0; i < inner; i++) {
          const y = (x![ci * inner + i]! - mean![ci]!) / Math.sqrt(variance![ci]! + 1e-5);
          sum += y;
          square += y * y;
        }
      variances.push({ end: ends.has(node), mean: sum / (c * inner), variance: square / (c * inner) });
    });
    const k = ends.size;
    expect(k).toBe(8);
    for (const v of variances) {
      expect(Math.abs(v.mean)).toBeLessThan(1e-4);
      // Below the target only where near-constant channels were floored (calibrate.ts's VARIANCE_FLOOR) or eps counts.
      expect(v.variance).toBeGreaterThan((v.end ? 1 / k ** 2 : 1) * 0.9);
      expect(v.variance).toBeLessThanOrEqual((v.end ? 1 / k ** 2 : 1) * 1.0001);
    }
    // layer1's and layer2's (8x8 and 4x4 maps at 32x32); layer3's and layer4's have too few samples.
    expect(variances.filter((v) => v.end)).toHaveLength(4);
  });
});

describe("randomInputs", () => {
  it("draws token ids over the table they index, masks and computed-with ids as 0 or 1", () => {
    const inputs = randomInputs(elaborateFile("specs/bert_base.nn", { set: { seq: 64 } }).graph!, 2);
    const ids = Array.from(inputs.input_ids as BigInt64Array, Number);
    // 64 draws over 30522 rows: all in range, spread over it (no two-valued set as before).
    expect(ids.every((v) => Number.isInteger(v) && v >= 0 && v < 30522)).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(60);
    expect(Math.max(...ids)).toBeGreaterThan(15000);
    // Two token types; the mask feeds arithmetic, not a table.
    for (const name of ["token_type_ids", "attention_mask"]) expect(new Set(Array.from(inputs[name] as BigInt64Array, Number))).toEqual(new Set([0, 1]));
    // An id that is also computed with (`other + other` may leave the table): 0 or 1, valid wherever it goes.
    const g = elaborate(`model ids() {
  input ids: i64[1, 64]
  input other: i64[1, 64]
  output y = emb: embedding(ids, 50, 4)
  output z = emb2: embedding(other, 3000, 4) + emb3: embedding(other + other, 3000, 4)
}
`).graph;
    const drawn = randomInputs(g, 2);
    const values = (name: string) => new Set(Array.from(drawn[name] as BigInt64Array, Number));
    expect([...values("ids")].every((v) => v >= 0 && v < 50) && values("ids").size > 20).toBe(true);
    expect(values("other")).toEqual(new Set([0, 1]));
    // The same seed, the same draws.
    expect(randomInputs(elaborateFile("specs/bert_base.nn", { set: { seq: 64 } }).graph!, 2)).toEqual(inputs);
  });
});
