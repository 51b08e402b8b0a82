// siamese_contrastive at a small size learns: 50 training steps on the interpreter (BatchNorm in
// training mode, Adam) on a synthetic two-class set of 8x8 images bring the contrastive loss down.
import { join } from "node:path";
import { expect, it } from "vitest";
import { trainingGraph } from "../../src/autodiff/index.js";
import { elaborate, modelWeights } from "../../src/driver.js";
import type { TensorData } from "../../src/interp/index.js";
import { root } from "../support/cli.js";
import { rng } from "../support/source.js";
import { step, withState } from "./step.js";

const [B, HW, PIXELS] = [4, 8, 3 * 8 * 8];

it("siamese_contrastive's loss falls over 50 steps on a two-class set", { timeout: 120_000 }, () => {
  const shapes = { image_a: [B, 3, HW, HW], image_b: [B, 3, HW, HW], label: [B] };
  const { graph } = elaborate({ path: join(root, "specs/siamese_contrastive.nn") }, { set: { dim: 8 }, shapes });
  const tg = trainingGraph(graph, { optimizer: "adam" });
  // Every parameter trains: 4 conv weights, 4 BatchNorm weights and biases, the projection's weight and bias.
  expect(tg.parameters).toEqual(graph.weights.filter((w) => w.trainable).map((w) => w.name));
  expect(tg.parameters).toHaveLength(14);
  let weights: Map<string, TensorData> = withState(tg, modelWeights(graph, { seed: 1 }).data);

  // Each class is a fixed random pattern plus noise.
  const r = rng(7);
  const patterns = [0, 1].map(() => Float32Array.from({ length: PIXELS }, () => 2 * r() - 1));
  const image = (cls: number) => patterns[cls]!.map((v) => v + 0.5 * (2 * r() - 1));
  const losses: number[] = [];
  for (let s = 1; s <= 50; s++) {
    const [a, b, label] = [new Float32Array(B * PIXELS), new Float32Array(B * PIXELS), new Float32Array(B)];
    for (let i = 0; i < B; i++) {
      // Alternate similar (label 0) and dissimilar (label 1) pairs.
      const [ca, cb] = i % 2 === 0 ? [i % 4 === 0 ? 0 : 1, i % 4 === 0 ? 0 : 1] : [0, 1];
      a.set(image(ca), i * PIXELS);
      b.set(image(cb), i * PIXELS);
      label[i] = ca === cb ? 0 : 1;
    }
    const out = step(tg, weights, { image_a: a, image_b: b, label }, 1e-2, s);
    losses.push((out.outputs.loss as Float32Array)[0]!);
    weights = out.weights;
  }
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q) / xs.length;
  // Batches of 4 pairs are noisy: ten-step means, and a halving.
  const [first, last] = [mean(losses.slice(0, 10)), mean(losses.slice(-10))];
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(last, `loss ${first} over the first 10 steps, ${last} over the last 10`).toBeLessThan(first / 2);
  expect(weights.get("tower.features.0.1.num_batches_tracked")).toEqual(BigInt64Array.of(100n));
});
