// The training module (compile --train, compile(source, { train })): its step against the
// interpreter's step on the same training graph, saveWeights() against an inference compile of
// the saved file, and setLearningRate(0).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import type { LoadedTrainer } from "../../codegen/module/runtime.js";
import { compile, UsageError } from "../../src/api.js";
import { compileTraining, compileModel, modelWeights, type CompiledTraining } from "../../src/driver.js";
import type { TensorData } from "../../src/ir/graph.js";
import { readSafetensors } from "../../src/weights/safetensors.js";
import { importModule, writeFiles } from "../module/helpers.js";
import { root } from "../support/cli.js";
import { step, withState } from "./step.js";

/** The passes reassociate and fuse f32 arithmetic, and the kernels sum in other orders: each tensor within 1e-4 of its largest element. */
const REL_TO_MAX = 1e-4;

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const scale = Array.from(want).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = Array.from(want).reduce((m, v, i) => Math.max(m, Math.abs(v - got[i]!)), 0);
  expect(worst, `${what}: differs by ${worst} (largest element ${scale})`).toBeLessThanOrEqual(REL_TO_MAX * scale + 1e-7);
}

const B = 4;
const source = { path: join(root, "specs/siamese_contrastive.nn") };
const options = { set: { dim: 8 }, shapes: { image_a: [B, 3, 8, 8], image_b: [B, 3, 8, 8], label: [B] }, relaxedSimd: "off" as const };
const LR = 0.05;
/** Deterministic data in [-1, 1): the pair and its label. */
function batch(seed: number): Record<string, Float32Array> {
  const images = (k: number) => Float32Array.from({ length: B * 3 * 64 }, (_, i) => Math.sin(seed * 7.1 + k * 3.3 + i * 0.37));
  return { image_a: images(1), image_b: images(2), label: Float32Array.from({ length: B }, (_, i) => (i + seed) % 2) };
}

let compiled: CompiledTraining;
let trainer: LoadedTrainer;
beforeAll(async () => {
  // --batch gives label its leading dimension; the images' shapes are given.
  const { label: _, ...shapes } = options.shapes;
  compiled = await compileTraining(source, { ...options, shapes, train: { optimizer: "sgd", momentum: 0.9, lr: LR, batch: B } });
  const dir = writeFiles(compiled.files);
  trainer = (await importModule(dir, "siamese_contrastive.mjs")).load() as unknown as LoadedTrainer;
  trainer = await trainer;
}, 120_000);

it("writes the module, its types and the two builds' files", () => {
  expect(compiled.files.map((f) => f.name).sort()).toEqual(
    ["siamese_contrastive.d.mts", "siamese_contrastive.d.ts", "siamese_contrastive.mjs", ...["train", "eval"].flatMap((b) => [`siamese_contrastive.${b}.wasm`, `siamese_contrastive.${b}.weights.bin`, `siamese_contrastive.${b}.state.bin`])].sort(),
  );
  const types = compiled.files.find((f) => f.name === "siamese_contrastive.d.ts")!.contents as string;
  expect(types).toContain("step(inputs: StepInputs): Promise<StepOutputs>;");
  expect(types).toContain("saveWeights(): Uint8Array;");
  // step() and run() take the data only: the weights live in the module.
  expect(types).not.toMatch(/"tower\.|"lr"|"step"/);
});

it("three SGD steps with momentum match the interpreter's steps on the training graph, and saveWeights() holds the weights after them", async () => {
  const tg = compiled.training;
  let want: Map<string, TensorData> = withState(tg, modelWeights(compiled.model).data);
  for (let s = 1; s <= 3; s++) {
    const data = batch(s);
    const got = await trainer.step(data);
    const ref = step(tg, want, data, LR, s);
    want = ref.weights;
    expectClose(got.loss as Float32Array, ref.outputs.loss as Float32Array, `step ${s} loss`);
    expect(Object.keys(got).some((k) => k.startsWith("next."))).toBe(false);
  }
  const saved = readSafetensors(trainer.saveWeights());
  expect([...saved.keys()].sort()).toEqual(compiled.model.weights.map((w) => w.name).sort());
  for (const w of compiled.model.weights) {
    const t = saved.get(w.name)!;
    if (w.type.dtype === "i64") expect(t.data, w.name).toEqual(want.get(w.name));
    else expectClose(t.data as Float32Array, want.get(w.name) as Float32Array, `${w.name} after 3 steps`);
  }
  // Both towers' BatchNorms ran each step: num_batches_tracked counts 2 a step.
  const counter = tg.counters[0]!;
  expect(counter.increment).toBe(2);
  expect((saved.get(counter.weight)!.data as BigInt64Array)[0]).toBe(6n);
}, 120_000);

it("the saved weights compile with --weights and give run()'s outputs", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "graphc-train-")), "trained.safetensors");
  writeFileSync(file, trainer.saveWeights());
  const inference = await compileModel(source, { ...options, weights: file });
  const model = await (await importModule(writeFiles(inference.files), "siamese_contrastive.mjs")).load();
  const data = batch(9);
  const [want, got] = [await model.run(data), await trainer.run(data)];
  for (const name of ["embedding_a", "distance", "loss"]) expectClose(got[name] as Float32Array, want[name] as Float32Array, name);
}, 120_000);

it("setLearningRate(0) leaves the parameters as they are", async () => {
  const before = readSafetensors(trainer.saveWeights());
  trainer.setLearningRate(0);
  await trainer.step(batch(4));
  const after = readSafetensors(trainer.saveWeights());
  for (const name of compiled.training.parameters) expect(after.get(name)!.data, name).toEqual(before.get(name)!.data);
  // The running statistics still move (they are not parameters).
  const mean = compiled.model.weights.find((w) => w.name.endsWith("running_mean"))!.name;
  expect(after.get(mean)!.data).not.toEqual(before.get(mean)!.data);
  expect(() => trainer.setLearningRate(-1)).toThrow(RangeError);
  trainer.setLearningRate(LR);
}, 120_000);

it("compile(source, { train, embedWeights }) gives one module whose run() before any step is the model's; its options are checked", async () => {
  const { label: _, ...shapes } = options.shapes;
  const result = await compile(source, { ...options, shapes, embedWeights: true, train: { optimizer: "adam", batch: B } });
  expect(result.files.map((f) => f.name).sort()).toEqual(["siamese_contrastive.d.mts", "siamese_contrastive.d.ts", "siamese_contrastive.mjs"]);
  expect(result.report.inputs.map((p) => [p.name, p.shape])).toEqual([["image_a", [B, 3, 8, 8]], ["image_b", [B, 3, 8, 8]], ["label", [B]]]);
  const fresh = (await importModule(writeFiles(result.files), "siamese_contrastive.mjs")).load() as unknown as Promise<LoadedTrainer>;
  const inference = await compileModel(source, options);
  const model = await (await importModule(writeFiles(inference.files), "siamese_contrastive.mjs")).load();
  const data = batch(5);
  const [want, got] = [await model.run(data), await (await fresh).run(data)];
  for (const name of ["embedding_b", "distance", "loss"]) expectClose(got[name] as Float32Array, want[name] as Float32Array, name);
  await expect(compile(source, { train: { lr: -1 } })).rejects.toThrow(new UsageError("train.lr must be >= 0, got -1"));
  await expect(compile(source, { train: { optimizer: "lbfgs" as "sgd" } })).rejects.toThrow(UsageError);
  await expect(compile(source, { train: { optimizer: "adam", momentum: 0.9 } })).rejects.toThrow(new UsageError("momentum is for sgd; adam has betas"));
  await expect(compile(source, { train: { steps: 3 } as object })).rejects.toThrow(/unknown option train\.steps \(options: loss, optimizer, lr, batch, trainOnly/);
  await expect(compile(source, { ...options, train: { loss: "distance" } })).rejects.toThrow(/cannot train siamese_contrastive: the loss distance must be one f32 value/);
}, 120_000);
