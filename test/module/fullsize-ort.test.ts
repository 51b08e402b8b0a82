// Full-size checks against onnxruntime-node (one thread) with the same weights and inputs:
// ResNet-50 at 224x224 and BERT-base at sequence length 128, one run each through compile() and
// instantiate(); max |wasm - ort| <= 1e-3 * max |ort| + 1e-4 per output. The models' only run at
// full size in the suite: the interpreter meets onnxruntime on every zoo model at reduced size
// (onnx/zoo.test.ts), whose layers full size repeats.
import { beforeAll, describe, it } from "vitest";
import { compile, instantiate } from "../../src/api.js";
import { elaborateFile } from "../../src/frontend/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { inputsFor, runOrt } from "../onnx/helpers.js";
import { expectOutputsClose } from "./compare.js";
import { enableRelaxedSimd } from "./helpers.js";
import { fastWeights } from "./weights.js";

beforeAll(enableRelaxedSimd);

describe("full-size models against onnxruntime-node", () => {
  for (const file of ["specs/resnet50.nn", "specs/bert_base.nn"])
    it(file, async () => {
      const g = elaborateFile(file).graph!;
      const data = fastWeights(g, 1);
      const inputs = inputsFor(g, 7);
      const ort = await runOrt(exportOnnx(g, data), g, inputs);
      const model = await instantiate(await compile({ path: file }, { weights: data }));
      const want = Object.fromEntries(Object.entries(ort).map(([name, t]) => [name, t.data]));
      expectOutputsClose(await model.run(inputs), want, `${file} (${model.simd})`, 1e-3, 1e-4);
    }, 300_000);
});
