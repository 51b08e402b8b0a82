// Training graphs of zoo models at small sizes, classifiers with a cross-entropy loss: they
// build, every trainable weight is a parameter, and one SGD step on the interpreter gives a
// finite loss and moves every parameter.
import { join } from "node:path";
import { expect, it } from "vitest";
import { trainingGraph } from "../../src/autodiff/index.js";
import { elaborate, modelWeights } from "../../src/driver.js";
import { root } from "../support/cli.js";
import { inputsFor } from "../wasm/helpers.js";
import { step, withState } from "./step.js";

const crossEntropy = "mean(sum(target * log(softmax(logits, axis=-1)), [1]), [0]) * -1.0";
const classifier = (lib: string, logits: string, size: number) => `import "lib/${lib}.nn"
model m() {
  input image: f32[2, 3, ${size}, ${size}]
  input target: f32[2, 10]
  logits = ${logits}
  output loss = ${crossEntropy}
}`;

const models: [name: string, source: string][] = [
  // resnet18 with one basic block a stage: the maxpool stem, the strided 1x1 downsample shortcuts.
  ["resnet (1 block a stage)", classifier("resnet", "resnet(image, resnet_stem, basic_block, [1, 1, 1, 1], 10)", 16)],
  // mobilenet_v3_small's first, a plain and a squeeze-excite hard_swish block: depthwise convolutions, hard_sigmoid gates.
  ["mobilenet_v3 (3 blocks)", classifier("mobilenet", "mobilenet_v3(image, [(3, 16, 16, true, relu, 2), (3, 72, 24, false, relu, 2), (5, 96, 40, true, hard_swish, 2)], 64, 10)", 32)],
];

it.each(models)("%s", { timeout: 120_000 }, (_name, text) => {
  const { graph } = elaborate({ path: join(root, "specs/zoo_training.nn"), text });
  const tg = trainingGraph(graph, { optimizer: "sgd", momentum: 0.9 });
  expect(tg.parameters).toEqual(graph.weights.filter((w) => w.trainable).map((w) => w.name));
  const weights = withState(tg, modelWeights(graph, { seed: 1 }).data);
  const inputs = inputsFor(graph, 2);
  inputs.target = Float32Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0);
  const r = step(tg, weights, inputs, 0.01, 1);
  expect(Number.isFinite((r.outputs.loss as Float32Array)[0])).toBe(true);
  const still = tg.parameters.filter((p) => (r.weights.get(p) as Float32Array).every((v, i) => v === (weights.get(p) as Float32Array)[i]));
  expect(still).toEqual([]);
});
