// The optimisation pipeline against an outside oracle: zoo models (reduced) with bound weights
// through the default passes, exported to ONNX and run in onnxruntime, against the reference
// interpreter on the original, unoptimised graph.
import { describe, it } from "vitest";
import { elaborate, modelWeights, optimise } from "../../src/driver.js";
import type { ElaborateOptions } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { expectClose, inputsFor, runOrt } from "./helpers.js";

const cases: [string, ElaborateOptions][] = [
  ["resnet18", { shapes: { image: [1, 3, 48, 48] } }],
  ["mobilenet_v3_small", { shapes: { image: [1, 3, 48, 48] } }],
  ["mobilenet_v2", { shapes: { image: [1, 3, 48, 48] } }],
  ["distilbert_base", { set: { seq: 8 } }],
  ["siamese_triplet", { shapes: { anchor: [1, 3, 32, 32], positive: [1, 3, 32, 32], negative: [1, 3, 32, 32] } }],
];

describe("optimised graphs in onnxruntime vs the interpreter on the original", () => {
  for (const [name, opts] of cases) {
    it(name, async () => {
      const source = { path: `specs/${name}.nn` };
      const original = elaborate(source, opts).graph;
      const { data } = modelWeights(original, { seed: 2 });
      const inputs = inputsFor(original, 5);
      const want = interpret(original, data, inputs);
      // optimise() consumes its graph: a second elaboration keeps the original for the interpreter.
      const { graph } = optimise(elaborate(source, opts).graph, data, defaultPipeline, { verifyEach: true });
      expectClose(original, await runOrt(exportOnnx(graph, data), graph, inputs), want, `${name} after ${defaultPipeline.join(",")}`);
    });
  }
});
