// The Siamese networks learn, through the training module (wasm, as graphc train runs them), on a
// synthetic two-class set of 8x8 images (each class a fixed random pattern plus noise), BatchNorm
// in training mode, Adam: the loss falls, and on held-out images never seen in training the
// embedding distances of the eval forward (run(): BatchNorm's running statistics) verify pairs
// (siamese_contrastive: similar below a threshold chosen on the training pairs) and rank triplets
// (siamese_triplet: d(anchor, positive) < d(anchor, negative)), each at least 90% of the time.
import { join } from "node:path";
import { expect, it } from "vitest";
import type { LoadedTrainer } from "../../codegen/module/runtime.js";
import { compileTraining, type CompiledTraining } from "../../src/driver.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { importModule, writeFiles } from "../module/helpers.js";
import { root } from "../support/cli.js";
import { rng } from "../support/source.js";

const [B, HW, PIXELS] = [8, 8, 3 * 8 * 8];
const STEPS = 60;
/** Noise of amplitude 1.5 on patterns in [-1, 1]: single pixels say little, the tower has to average. */
const NOISE = 1.5;
/** 90%: on 64 held-out pairs or triplets, at most 6 errors. */
const ACCURACY = 0.9;
const HELD_OUT = 64;
/** The untrained eval forward's accuracy stays below this. */
const UNTRAINED = 0.75;

const r = rng(7);
const patterns = [0, 1].map(() => Float32Array.from({ length: PIXELS }, () => 2 * r() - 1));
const image = (cls: number) => patterns[cls]!.map((v) => v + NOISE * (2 * r() - 1));
/** 32 images per class to train on, 32 others to test on. */
const pools = (count: number) => [0, 1].map((cls) => Array.from({ length: count }, () => image(cls)));
const [train, heldOut] = [pools(32), pools(32)];
const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;

/** Pairs (a, b) and their labels (0 = same class), half similar, as one batch per B pairs. */
function pairs(pool: Float32Array[][], n: number): { a: Float32Array[]; b: Float32Array[]; label: number[] } {
  const out = { a: [] as Float32Array[], b: [] as Float32Array[], label: [] as number[] };
  for (let i = 0; i < n; i++) {
    const [ca, cb] = i % 2 === 0 ? [i % 4 === 0 ? 0 : 1, i % 4 === 0 ? 0 : 1] : [(i >> 1) % 2, 1 - ((i >> 1) % 2)];
    out.a.push(pick(pool[ca]!));
    out.b.push(pick(pool[cb]!));
    out.label.push(ca === cb ? 0 : 1);
  }
  return out;
}

const stack = (images: Float32Array[]) => {
  const out = new Float32Array(images.length * PIXELS);
  images.forEach((im, i) => out.set(im, i * PIXELS));
  return out;
};

async function trainerFor(spec: string, inputs: string[]): Promise<{ compiled: CompiledTraining; trainer: LoadedTrainer }> {
  const shapes = Object.fromEntries(inputs.map((n) => [n, [1, 3, HW, HW]]));
  const compiled = await compileTraining({ path: join(root, spec) }, { set: { dim: 8 }, shapes, relaxedSimd: "off", train: { optimizer: "adam", lr: 1e-2, batch: B } });
  const trainer = (await (await importModule(writeFiles(compiled.files), compiled.files.find((f) => f.name.endsWith(".mjs"))!.name)).load()) as unknown as LoadedTrainer;
  return { compiled, trainer };
}

/** The eval forward's output `name` over `batches` (each a record of B examples), concatenated. */
async function evaluate(trainer: LoadedTrainer, batches: Record<string, Float32Array>[], name: string): Promise<number[]> {
  const out: number[] = [];
  for (const b of batches) out.push(...((await trainer.run(b))[name] as Float32Array));
  return out;
}

/** The first and last ten steps' mean losses: batches of B are noisy. */
function lossFalls(losses: number[]): void {
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q) / xs.length;
  const [first, last] = [mean(losses.slice(0, 10)), mean(losses.slice(-10))];
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(last, `loss ${first} over the first 10 steps, ${last} over the last 10`).toBeLessThan(first / 2);
}

/** The threshold that classifies the most `distances` right (similar: label 0, below it). */
function bestThreshold(distances: number[], labels: number[]): number {
  const sorted = [...distances].sort((a, b) => a - b);
  const candidates = [sorted[0]! - 1, ...sorted.slice(1).map((d, i) => (d + sorted[i]!) / 2), sorted.at(-1)! + 1];
  const accuracy = (t: number) => distances.filter((d, i) => (d < t ? 0 : 1) === labels[i]).length;
  return candidates.reduce((best, t) => (accuracy(t) > accuracy(best) ? t : best));
}

it("siamese_contrastive: the loss halves over 60 steps, and held-out pairs verify at >= 90% by a threshold chosen on training pairs", { timeout: 120_000 }, async () => {
  const { compiled, trainer } = await trainerFor("specs/siamese_contrastive.nn", ["image_a", "image_b"]);
  // Every parameter trains: 4 conv weights, 4 BatchNorm weights and biases, the projection's weight and bias.
  expect(compiled.training.parameters).toEqual(compiled.model.weights.filter((w) => w.trainable).map((w) => w.name));
  expect(compiled.training.parameters).toHaveLength(14);
  const batchOf = (p: ReturnType<typeof pairs>, k: number) => ({
    image_a: stack(p.a.slice(k * B, (k + 1) * B)), image_b: stack(p.b.slice(k * B, (k + 1) * B)), label: Float32Array.from(p.label.slice(k * B, (k + 1) * B)),
  });
  const batchesOf = (p: ReturnType<typeof pairs>) => Array.from({ length: p.label.length / B }, (_, k) => batchOf(p, k));
  const [fit, test] = [pairs(train, 64), pairs(heldOut, HELD_OUT)];
  const accuracyAt = async (threshold?: number) => {
    const d = await evaluate(trainer, batchesOf(fit), "distance");
    const t = threshold ?? bestThreshold(d, fit.label);
    const held = await evaluate(trainer, batchesOf(test), "distance");
    return held.filter((x, i) => (x < t ? 0 : 1) === test.label[i]).length / HELD_OUT;
  };
  const before = await accuracyAt();
  const losses: number[] = [];
  for (let s = 1; s <= STEPS; s++) losses.push(((await trainer.step(batchOf(pairs(train, B), 0))).loss as Float32Array)[0]!);
  lossFalls(losses);
  const after = await accuracyAt();
  expect(after, `held-out verification accuracy ${after} after training (${before} before)`).toBeGreaterThanOrEqual(ACCURACY);
  // The untrained tower is near chance (measured 0.56 and 0.58 here): the accuracy is learnt.
  expect(before).toBeLessThan(UNTRAINED);
  // Both towers' BatchNorms ran each step.
  expect((readSafetensors(trainer.saveWeights()).get("tower.features.0.1.num_batches_tracked")!.data as BigInt64Array)[0]).toBe(BigInt(2 * STEPS));
  trainer.dispose();
});

it("siamese_triplet: the loss halves over 60 steps, and held-out triplets rank d(a, p) < d(a, n) at >= 90%", { timeout: 120_000 }, async () => {
  const { trainer } = await trainerFor("specs/siamese_triplet.nn", ["anchor", "positive", "negative"]);
  /** B triplets: anchor and positive of one class (two draws), negative of the other. */
  const triplets = (pool: Float32Array[][]) => {
    const cls = Array.from({ length: B }, (_, i) => i % 2);
    const of = (f: (c: number) => number) => stack(cls.map((c) => pick(pool[f(c)]!)));
    return { anchor: of((c) => c), positive: of((c) => c), negative: of((c) => 1 - c) };
  };
  const test = Array.from({ length: HELD_OUT / B }, () => triplets(heldOut));
  const ranked = async () => {
    const [dp, dn] = [await evaluate(trainer, test, "distance_positive"), await evaluate(trainer, test, "distance_negative")];
    return dp.filter((d, i) => d < dn[i]!).length / HELD_OUT;
  };
  const before = await ranked();
  const losses: number[] = [];
  for (let s = 1; s <= STEPS; s++) losses.push(((await trainer.step(triplets(train))).loss as Float32Array)[0]!);
  lossFalls(losses);
  const after = await ranked();
  expect(after, `held-out triplet accuracy ${after} after training (${before} before)`).toBeGreaterThanOrEqual(ACCURACY);
  // The untrained tower is near chance (measured 0.56 and 0.58 here): the accuracy is learnt.
  expect(before).toBeLessThan(UNTRAINED);
  trainer.dispose();
});
