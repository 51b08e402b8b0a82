// A TinyBERT-shaped encoder (specs/tinybert_4l_312.nn's sizes: 4 layers, hidden 312, 12 heads,
// intermediate 1200) with a sequence-classification head fine-tunes through the training module
// (wasm), dropout on in the steps (p = 0.1 throughout, as BertModel's), on a synthetic token task:
// is token X anywhere in the sequence? Small vocabulary, sequence and batch keep it fast; every
// weight trains from the seeded initialisation (no checkpoint: the task needs no pretraining).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { LoadedTrainer } from "../../codegen/module/runtime.js";
import { compileTraining } from "../../src/driver.js";
import { importModule, writeFiles } from "../module/helpers.js";
import { root } from "../support/cli.js";
import { rng } from "../support/source.js";

const [B, S, VOCAB, STEPS] = [8, 8, 24, 40];
/** The token to find; 1 is [CLS], at position 0 of every sequence. */
const [X, CLS] = [5, 1];
/** Chance is 50% (the classes are balanced); 80% on 64 held-out sequences is 19 standard deviations of a coin above it. */
const ACCURACY = 0.8;
const HELD_OUT_BATCHES = 8;

// The encoder's sizes as the spec writes them, with this task's vocabulary and positions.
const sizes = /bert_model\(input_ids, token_type_ids, attention_mask, ([^)]*)\)/.exec(readFileSync(join(root, "specs/tinybert_4l_312.nn"), "utf8"))![1]!;
const SOURCE = `import "lib/bert.nn"
model tinybert_classifier() {
  input input_ids: i32[${B}, ${S}]
  input attention_mask: i32[${B}, ${S}]
  input target: f32[${B}, 2]
  hidden, pooled = bert: bert_model(input_ids, none, attention_mask, ${sizes}, vocab=${VOCAB}, max_positions=${S})
  logits = classifier: linear(dropout(pooled), 2)
  output logits = logits
  output loss = mean(sum(target * log(softmax(logits, axis=-1)), [1]), [0]) * -1.0
}`;

const r = rng(3);
/** B sequences, half holding X once at a random position after [CLS], and their one-hot labels (1: X is there). */
function batch(): { input_ids: Int32Array; attention_mask: Int32Array; target: Float32Array } {
  const ids = new Int32Array(B * S);
  const target = new Float32Array(B * 2);
  for (let b = 0; b < B; b++) {
    ids[b * S] = CLS;
    for (let s = 1; s < S; s++) {
      let token: number;
      do token = 2 + Math.floor(r() * (VOCAB - 2));
      while (token === X);
      ids[b * S + s] = token;
    }
    const holds = b % 2 === 0;
    if (holds) ids[b * S + 1 + Math.floor(r() * (S - 1))] = X;
    target[b * 2 + (holds ? 1 : 0)] = 1;
  }
  return { input_ids: ids, attention_mask: new Int32Array(B * S).fill(1), target };
}
const sequences = (ids: Int32Array) => Array.from({ length: B }, (_, b) => ids.subarray(b * S, (b + 1) * S).join());

it("tinybert_4l_312 with a classification head fine-tunes on 'is token X in the sequence': the loss falls, held-out accuracy >= 80%", { timeout: 180_000 }, async () => {
  expect(sizes).toBe("hidden=312, layers=4, heads=12, intermediate_size=1200");
  const compiled = await compileTraining({ path: join(root, "specs/tinybert_classifier.nn"), text: SOURCE }, { relaxedSimd: "off", train: { optimizer: "adamw", lr: 3e-4, seed: 1 } });
  // Dropout after the embeddings, in each layer's attention, attention output and feed-forward output, and before the classifier.
  expect(compiled.training.graph.nodes.filter((n) => n.op === "random_uniform")).toHaveLength(1 + 4 * 3 + 1);
  expect(compiled.training.parameters).toHaveLength(compiled.model.weights.filter((w) => w.trainable).length);
  const trainer = (await (await importModule(writeFiles(compiled.files), "tinybert_classifier.mjs")).load()) as unknown as LoadedTrainer;

  const seen = new Set<string>();
  const losses: number[] = [];
  for (let s = 1; s <= STEPS; s++) {
    const data = batch();
    for (const q of sequences(data.input_ids)) seen.add(q);
    losses.push(((await trainer.step(data)).loss as Float32Array)[0]!);
  }
  const mean = (xs: number[]) => xs.reduce((p, q) => p + q) / xs.length;
  const [first, last] = [mean(losses.slice(0, 10)), mean(losses.slice(-10))];
  expect(losses.every(Number.isFinite)).toBe(true);
  // Cross-entropy of two classes starts near ln 2 = 0.69.
  expect(last, `loss ${first} over the first 10 steps, ${last} over the last 10`).toBeLessThan(first / 2);

  let correct = 0;
  for (let k = 0; k < HELD_OUT_BATCHES; k++) {
    const data = batch();
    // Held out: sequences no step saw.
    expect(sequences(data.input_ids).some((q) => seen.has(q))).toBe(false);
    const logits = (await trainer.run(data)).logits as Float32Array;
    for (let b = 0; b < B; b++) if (logits[b * 2 + 1]! > logits[b * 2]! === (data.target[b * 2 + 1] === 1)) correct++;
  }
  const accuracy = correct / (HELD_OUT_BATCHES * B);
  expect(accuracy, `held-out accuracy ${accuracy}`).toBeGreaterThanOrEqual(ACCURACY);
  trainer.dispose();
});
