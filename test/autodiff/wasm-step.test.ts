// The training step through the standard pass pipeline and the wasm backend, weights as inputs
// (weightsAsInputs), against the interpreter's step on the same graph.
import { join } from "node:path";
import { expect, it } from "vitest";
import { buildWasm, type PortLayout } from "../../codegen/wasm/module.js";
import { trainingGraph, weightsAsInputs, type TrainingOptions } from "../../src/autodiff/index.js";
import { elaborate, loadTarget, lower, modelWeights, optimise, pipelineFor } from "../../src/driver.js";
import { numel, type Graph, type TensorData } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { root } from "../support/cli.js";
import { inputsFor, runBuild } from "../wasm/helpers.js";
import { placeWeights } from "../wasm/place-weights.js";
import { bertClassifier as bertGraph } from "./models.js";
import { step, withState } from "./step.js";

/** The passes reassociate and fuse f32 arithmetic, and the kernels sum in other orders: each output within 1e-4 of its largest element. */
const REL_TO_MAX = 1e-4;

async function checkStep(model: Graph, options: TrainingOptions, data: Record<string, TensorData>): Promise<void> {
  const pure = weightsAsInputs(trainingGraph(model, options));
  const weights = modelWeights(model, { seed: 1 }).data;
  // Positive data for every input (running variances, Adam's second moments), then the model's weights and `data`.
  const inputs: Record<string, TensorData> = { ...inputsFor(pure, 3, [0.1, 1]), lr: Float32Array.of(1e-2), step: Float32Array.of(3), ...data };
  for (const [name, d] of weights) if (pure.inputs.some((p) => p.name === name)) inputs[name] = d;
  const want = interpret(pure, new Map(), inputs);
  const target = await loadTarget("wasm");
  const optimised = optimise(structuredClone(pure), new Map(), pipelineFor(target)).graph;
  const lowered = lower(optimised, target);
  for (const relaxed of [false, true]) {
    const got = await runBuild(buildWasm(lowered, { relaxed }), inputs);
    for (const [name, w] of Object.entries(want)) {
      const [a, b] = [got[name] as Float32Array, w as Float32Array];
      const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const worst = b.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), 0);
      expect(worst, `${relaxed ? "relaxed" : "baseline"} ${name}: wasm differs from the interpreter by ${worst} (largest element ${scale})`).toBeLessThanOrEqual(REL_TO_MAX * scale + 1e-7);
    }
  }
}

const bertData = {
  input_ids: Int32Array.of(1, 7, 3, 39, 2, 1, 5, 5, 0, 0),
  token_type_ids: Int32Array.of(0, 0, 0, 1, 1, 0, 0, 1, 0, 0),
  attention_mask: Int32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 0, 0),
  target: Float32Array.of(1, 0, 0, 0, 0, 1),
};

it("an AdamW step of a one-layer BERT classifier", { timeout: 120_000 }, async () => {
  await checkStep(bertGraph(), { optimizer: "adamw" }, bertData);
});

it("five SGD steps with momentum run in one wasm instance, its weights updated in place (carry)", { timeout: 120_000 }, async () => {
  const model = bertGraph();
  const tg = trainingGraph(model, { optimizer: "sgd", momentum: 0.9 });
  const weights = withState(tg, modelWeights(model, { seed: 2 }).data);
  const target = await loadTarget("wasm");
  const optimised = optimise(weightsAsInputs(tg), new Map(), pipelineFor(target)).graph;
  const build = buildWasm(lower(optimised, target), { relaxed: false, carry: tg.updates.map((u) => ({ output: u.output, input: u.weight })) });
  const { instance } = await WebAssembly.instantiate(build.wasm as Uint8Array<ArrayBuffer>);
  const mem = instance.exports.memory as WebAssembly.Memory;
  placeWeights(instance, build);
  const port = (p: PortLayout) => (p.dtype === "f32" ? new Float32Array(mem.buffer, p.offset, numel(p.shape)) : new Int32Array(mem.buffer, p.offset, numel(p.shape)));
  const write = (name: string, d: TensorData) => port(build.inputs.find((p) => p.name === name)!).set(d as Float32Array | Int32Array);
  // The weights and the optimizer state are written once; each step writes only the data, lr and step.
  for (const p of build.inputs) if (weights.has(p.name)) write(p.name, weights.get(p.name)!);
  let want = weights;
  for (let s = 1; s <= 5; s++) {
    const lr = 0.05 / s;
    for (const [name, d] of Object.entries({ ...bertData, lr: Float32Array.of(lr), step: Float32Array.of(s) })) write(name, d);
    (instance.exports.run as () => void)();
    const ref = step(tg, want, bertData, lr, s);
    want = ref.weights;
    const loss = port(build.outputs.find((p) => p.name === "loss")!)[0]!;
    expect(Math.abs(loss - (ref.outputs.loss as Float32Array)[0]!), `step ${s} loss`).toBeLessThanOrEqual(1e-4 * Math.abs(loss));
  }
  for (const name of tg.parameters) {
    const [a, b] = [port(build.inputs.find((p) => p.name === name)!), want.get(name) as Float32Array];
    const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = b.reduce((m, v, i) => Math.max(m, Math.abs(v - a[i]!)), 0);
    expect(worst, `${name} after 5 steps`).toBeLessThanOrEqual(REL_TO_MAX * scale + 1e-7);
  }
  // The parameters moved.
  expect(port(build.inputs.find((p) => p.name === "classifier.weight")!)).not.toEqual(weights.get("classifier.weight"));
});

it("an Adam step of siamese_contrastive, its convolutions as matmuls (im2col)", { timeout: 120_000 }, async () => {
  const B = 4;
  const shapes = { image_a: [B, 3, 8, 8], image_b: [B, 3, 8, 8], label: [B] };
  const { graph } = elaborate({ path: join(root, "specs/siamese_contrastive.nn") }, { set: { dim: 8 }, shapes });
  await checkStep(graph, { optimizer: "adam", convolutions: "matmul" }, { label: Float32Array.of(0, 1, 1, 0) });
});

it("a convolution with a weight computed at run time is a located diagnostic of the wasm target", async () => {
  const shapes = { image_a: [2, 3, 8, 8], image_b: [2, 3, 8, 8], label: [2] };
  const { graph } = elaborate({ path: join(root, "specs/siamese_contrastive.nn") }, { set: { dim: 8 }, shapes });
  const target = await loadTarget("wasm");
  const optimised = optimise(weightsAsInputs(trainingGraph(graph)), new Map(), pipelineFor(target)).graph;
  expect(() => lower(optimised, target)).toThrow(/error: the wasm target cannot run `conv2d` \(in `tower\.features\.0\.0`\): its weight is computed at run time \(a training graph\).*\n  --> .*common\.nn:23:10/);
});
