// Dropout in training mode: elaborated for training, dropout() is a node; the training graph
// draws its mask from random_uniform(step) (src/ir/random.ts), eval mode and inference keep the
// identity. On the interpreter: the mask's statistics, determinism, the train/eval switch and
// the gradient through a fixed mask; on the training module (wasm): its step against the
// interpreter's with dropout on. Thread counts: test/wasm/threads.test.ts.
import { join } from "node:path";
import { expect, it } from "vitest";
import type { LoadedTrainer } from "../../codegen/module/runtime.js";
import { gradients, trainingForward, trainingGraph } from "../../src/autodiff/index.js";
import { compile, UsageError } from "../../src/api.js";
import { compileTraining, elaborate, modelWeights } from "../../src/driver.js";
import type { Graph, TensorData } from "../../src/ir/graph.js";
import { compact } from "../../src/ir/rewrite.js";
import { interpret, interpretFloat64 } from "../../src/interp/index.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { importModule, writeFiles } from "../module/helpers.js";
import { root } from "../support/cli.js";
import { values } from "./check.js";
import { BERT_CLASSIFIER } from "./models.js";
import { step, withState } from "./step.js";

const [ROWS, COLS] = [64, 64];
const N = ROWS * COLS;
/** Two dropouts of one input, so that their streams can be compared. */
const source = (p: number) => ({
  path: "drop.nn",
  text: `model drop() {
  input x: f32[${ROWS}, ${COLS}]
  w = scale: parameter([${COLS}], init="ones")
  h = x * w
  y = dropout(h, p=${p})
  output y = y
  output z = dropout(h, p=${p})
  output loss = mean(y * y, [0, 1])
}`,
});
const modelOf = (p: number, training = true) => elaborate(source(p), { training }).graph;
const ones = () => new Float32Array(N).fill(1);
const weightsOf = (g: Graph) => modelWeights(g).data;

/** The forward outputs of the training forward at `step`. */
function forward(p: number, stepCount: number, seed = 0, x = ones()) {
  const g = modelOf(p);
  const { graph } = trainingForward(g, { seed });
  return interpret(graph, weightsOf(g), { x, step: Float32Array.of(stepCount) }) as Record<string, Float32Array>;
}

/** Five standard deviations of a fraction of N Bernoulli(q) draws: a fixed seed either passes or not, and a fair mask fails with probability < 1e-6. */
const fiveSigma = (q: number) => 5 * Math.sqrt((q * (1 - q)) / N);
const kept = (y: Float32Array) => y.filter((v) => v !== 0).length / N;

it.each([0.1, 0.5, 0.9])("p = %s keeps 1 - p of the elements (within 5 sigma), scaled by 1 / (1 - p); a fresh mask each step and each dropout", (p) => {
  const [s1, s2] = [forward(p, 1), forward(p, 2)];
  const keep = 1 - p;
  expect(Math.abs(kept(s1.y!) - keep), `kept ${kept(s1.y!)}`).toBeLessThanOrEqual(fiveSigma(keep));
  // x * (mask / (1 - p)) with 1 - p an f32 constant, rounded once to f32.
  const scale = Math.fround(1 / Math.fround(1 - p));
  expect(new Set(s1.y!)).toEqual(new Set([0, scale]));
  // Independent masks: step 1 and step 2, and the two dropouts of one step, keep an element in both with probability (1 - p)^2.
  const both = (a: Float32Array, b: Float32Array) => a.filter((v, i) => v !== 0 && b[i] !== 0).length / N;
  for (const [a, b, what] of [[s1.y!, s2.y!, "steps 1 and 2"], [s1.y!, s1.z!, "the two dropouts"]] as const) {
    expect(a, what).not.toEqual(b);
    expect(Math.abs(both(a, b) - keep * keep), `${what} both keep ${both(a, b)}`).toBeLessThanOrEqual(fiveSigma(keep * keep));
  }
});

it("the masks are a function of the seed and the step: a rerun gives the same bits, another seed other masks", () => {
  expect(forward(0.5, 3).y).toEqual(forward(0.5, 3).y);
  expect(forward(0.5, 3, 1).y).not.toEqual(forward(0.5, 3, 0).y);
  // A graph for each of two seeds: the seed is the only attribute that differs.
  const seeds = [0, 9].map((seed) => trainingForward(modelOf(0.5), { seed }).graph.nodes.filter((n) => n.op === "random_uniform").map((n) => n.attrs));
  expect(seeds[0]!.map((a) => a.stream)).toEqual([0, 1]);
  expect(seeds[1]!.map((a) => a.seed)).toEqual([9, 9]);
});

it("train vs eval: eval mode and the inference graph are the identity; train mode drops", () => {
  const x = Float32Array.from(values(4, N), Math.fround);
  const train = forward(0.3, 1, 0, x);
  const g = modelOf(0.3);
  const evaluation = interpret(trainingForward(g, { mode: "eval" }).graph, weightsOf(g), { x });
  const inference = modelOf(0.3, false);
  expect(inference.nodes.some((n) => n.op === "dropout")).toBe(false);
  const plain = interpret(inference, weightsOf(inference), { x });
  for (const name of ["y", "z", "loss"]) expect(evaluation[name], name).toEqual(plain[name]);
  expect(evaluation.y).toEqual(x);
  expect(train.y).not.toEqual(x);
  // The eval forward takes no step input: it draws nothing.
  expect(trainingForward(g, { mode: "eval" }).graph.inputs.map((p) => p.name)).toEqual(["x"]);
});

it("the gradient through a fixed mask: d loss / d w against central differences in float64, and dx = dy * mask / (1 - p)", () => {
  const p = 0.4;
  const g = modelOf(p);
  const fwd = trainingForward(g, { seed: 5 }).graph;
  const withGrads = structuredClone(fwd);
  const [x, w, y, loss] = [withGrads.inputs[0]!.value, withGrads.weights[0]!.value, withGrads.outputs[0]!.value, withGrads.outputs[2]!.value];
  const [dx, dw] = gradients(withGrads, loss, [x, w]);
  // y's gradient, to check dx against: loss = mean(y^2), so dy = 2 y / N.
  withGrads.outputs.push({ name: "dx", value: dx! }, { name: "dw", value: dw! }, { name: "y_again", value: y });
  compact(withGrads);
  const xs = values(11, N);
  const w0 = values(12, COLS, [0.5, 1.5]);
  const inputs = { x: xs, step: Float64Array.of(7) };
  const run = (gr: Graph, wv: Float64Array) => interpretFloat64(gr, new Map([["scale", wv]]), inputs) as Record<string, Float64Array>;
  const got = run(withGrads, w0);
  // Central differences, h = 1e-6: as check.ts, |ad - fd| <= 1e-6 |fd| + 1e-7 (f32 scalar constants, ~1e-9 truncation).
  const H = 1e-6;
  for (let j = 0; j < COLS; j++) {
    const at = (d: number) => run(fwd, w0.map((v, k) => (k === j ? v + d : v))).loss![0]!;
    const fd = (at(H) - at(-H)) / (2 * H);
    expect(Math.abs(got.dw![j]! - fd), `dw[${j}]: ${got.dw![j]} by autodiff, ${fd} by differences`).toBeLessThanOrEqual(1e-6 * Math.abs(fd) + 1e-7);
  }
  // dx = dy * mask / (1 - p) * w, with dy = 2 y / N: zero exactly where the mask dropped.
  const scale = Math.fround(1 / Math.fround(1 - p));
  got.dx!.forEach((d, i) => {
    const keep = got.y_again![i] !== 0 ? 1 : 0;
    const want = ((2 * got.y_again![i]!) / N) * keep * scale * w0[i % COLS]!;
    expect(Math.abs(d - want), `dx[${i}]`).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-12);
  });
  expect(got.dx!.filter((d) => d === 0).length).toBe(got.y_again!.filter((v) => v === 0).length);
});

it("trainingGraph: the dropout's step is the step input, and seed is checked", () => {
  const tg = trainingGraph(modelOf(0.5), { optimizer: "adam", seed: 2 });
  expect(tg.graph.inputs.filter((i) => i.name === tg.stepInput)).toHaveLength(1);
  const steps = tg.graph.nodes.filter((n) => n.op === "random_uniform").map((n) => n.inputs[0]);
  expect(new Set(steps)).toEqual(new Set([tg.graph.inputs.find((i) => i.name === tg.stepInput)!.value]));
  expect(() => trainingGraph(modelOf(0.5), { seed: -1 })).toThrow("seed must be an integer in [0, 2^32), got -1");
  expect(() => trainingGraph(modelOf(0.5), { seed: 1.5 })).toThrow("seed must be an integer in [0, 2^32)");
});

/** The module's tensors against the interpreter's: the passes reassociate and fuse, the kernels sum in other orders; each within 1e-4 of the tensor's largest element. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const scale = Array.from(want).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = Array.from(want).reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
  expect(worst, `${what}: differs by ${worst} (largest element ${scale})`).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
}

// SGD: Adam's first steps are about lr * sign(grad), which turns the rounding noise of a gradient
// that is zero in exact arithmetic (attention's key bias) into whole steps.
const LR = 0.05;
it("the training module (wasm) of a BERT classifier with dropout: three SGD steps match the interpreter's, a fresh load steps the same; run() is the eval forward", async () => {
  const src = { path: join(root, "specs/bert_classifier.nn"), text: BERT_CLASSIFIER };
  const compiled = await compileTraining(src, { relaxedSimd: "off", train: { optimizer: "sgd", momentum: 0.9, lr: LR, seed: 7 } });
  const tg = compiled.training;
  // Embeddings, attention probabilities, attention output, feed-forward output, the classifier's input.
  expect(tg.graph.nodes.filter((n) => n.op === "random_uniform")).toHaveLength(5);
  const trainer = (await (await importModule(writeFiles(compiled.files), "bert_classifier.mjs")).load()) as unknown as LoadedTrainer;
  const data = (s: number): Record<string, TensorData> => ({
    input_ids: Int32Array.from({ length: 10 }, (_, i) => (i * 7 + s * 3) % 40),
    token_type_ids: new Int32Array(10),
    attention_mask: Int32Array.from({ length: 10 }, (_, i) => (i % 5 < 4 ? 1 : 0)),
    target: Float32Array.from({ length: 6 }, (_, i) => (i % 3 === s % 3 ? 1 : 0)),
  });
  let want: Map<string, TensorData> = withState(tg, modelWeights(compiled.model).data);
  const evalLogits = (await trainer.run(data(1))).logits as Float32Array;
  // run() before any step is the model with the identity for dropout.
  const inference = elaborate(src).graph;
  expectClose(evalLogits, interpret(inference, modelWeights(inference).data, data(1)).logits as Float32Array, "run() logits");
  let firstLoss: Float32Array | undefined;
  for (let s = 1; s <= 3; s++) {
    const got = await trainer.step(data(s));
    firstLoss ??= got.loss as Float32Array;
    const ref = step(tg, want, data(s), LR, s);
    if (s === 1) {
      expectClose(got.logits as Float32Array, ref.outputs.logits as Float32Array, "step 1 logits");
      // The same weights, dropout on: the step's forward is not the eval forward.
      expect(Math.max(...Array.from(got.logits as Float32Array, (v, i) => Math.abs(v - evalLogits[i]!)))).toBeGreaterThan(1e-3);
    }
    expectClose(got.loss as Float32Array, ref.outputs.loss as Float32Array, `step ${s} loss`);
    want = ref.weights;
  }
  // A fresh load steps the same: the masks are the seed's and the step's, not the instance's.
  const again = (await (await importModule(writeFiles(compiled.files), "bert_classifier.mjs")).load()) as unknown as LoadedTrainer;
  expect((await again.step(data(1))).loss).toEqual(firstLoss);
  again.dispose();
  await expect(compile(src, { train: { seed: -1 } })).rejects.toThrow(new UsageError("train.seed must be an integer in [0, 2^32), got -1"));
  const saved = trainer.saveWeights();
  for (const [name, t] of readSafetensors(saved)) if (t.data instanceof Float32Array) expectClose(t.data, want.get(name) as Float32Array, `${name} after 3 steps`);
  trainer.dispose();
}, 120_000);
