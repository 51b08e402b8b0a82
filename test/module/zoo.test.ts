// The zoo models (specs/*.nn) at a reduced size, compiled through compile() to files in a temp
// directory, imported as a user would, run with both SIMD builds and compared to the reference
// interpreter on the same weights and inputs: max |wasm - interp| <= 1e-3 * max |interp| + 1e-4
// per output (the GEMM sums in another order, and relaxed SIMD fuses multiply-adds).
import { readdirSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../src/api.js";
import { elaborateFile, type ElaborateOptions } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import { inputsFor } from "../onnx/helpers.js";
import { reduced as reducedTransformers } from "../onnx/zoo.js";
import { enableRelaxedSimd, importModule, writeFiles } from "./helpers.js";
import { expectOutputsClose } from "./compare.js";
import { fastWeights } from "./weights.js";

beforeAll(enableRelaxedSimd);

// Deeper or wider repeats of a family run here below cost nothing new for the module path: their
// layers are the kept models' layers (onnx/zoo.test.ts still checks every model against onnxruntime).
const REPEATS = new Set(["resnet34", "resnet101", "resnet152", "wide_resnet50_2", "deeplabv3_resnet50", "bert_for_question_answering", "bert_for_token_classification"]);
const specs = readdirSync("specs").filter((f) => f.endsWith(".nn") && !REPEATS.has(f.slice(0, -3))).sort();

/** Small inputs: the token models and the segmentation models (image outputs) as the ONNX zoo test shrinks them, 48x48 images for the others. */
function reduced(file: string): ElaborateOptions {
  const g = elaborateFile(`specs/${file}`).graph!;
  if (g.inputs.some((p) => g.values[p.value]!.type.dtype !== "f32") || g.outputs.some((p) => g.values[p.value]!.type.shape.length === 4)) return reducedTransformers[g.name]!;
  const images = g.inputs.filter((p) => g.values[p.value]!.type.shape.length === 4);
  return { shapes: Object.fromEntries(images.map((p) => [p.name, [1, 3, 48, 48]])) };
}

describe("zoo models as generated ES modules", () => {
  for (const file of specs)
    it(file, async () => {
      const opts = reduced(file);
      const g = elaborateFile(`specs/${file}`, opts).graph!;
      const data = fastWeights(g, 1);
      const inputs = inputsFor(g, 7);
      const want = interpret(g, data, inputs);
      const { files, report } = await compile({ path: `specs/${file}` }, { ...opts, weights: data });
      expect(report.diagnostics).toEqual([]);
      const { load } = await importModule(writeFiles(files), `${g.name}.mjs`);
      for (const simd of ["baseline", "relaxed"] as const) {
        const model = await load({ simd });
        expectOutputsClose(await model.run(inputs), want, `${file} (${simd})`, 1e-3, 1e-4);
      }
    }, 180_000);
});
