// --weights-dtype on every zoo model (reduced as in zoo.test.ts, seeded weights), optimised once
// and emitted for f16 and int8 (baseline SIMD), loaded in memory, against the interpreter on the
// float32 weights: max |out - f32 out| / max |f32 out| <= 1e-3 for f16 and 5e-2 for int8 (the
// issue's bounds), except where a model's seeded weights make its outputs more sensitive than
// that to any perturbation of the weights of that size (LOOSER, each with its measured value).
// That the decoders and transforms are exact is test/wasm/weights.test.ts's and the kernel
// tests' (they run through prepare()). Top-1 agreement of the classifiers is logged, not
// asserted: seeded weights leave near-ties among logits.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadParts, type ModuleParts } from "../../codegen/module/index.js";
import { wasmTarget } from "../../codegen/wasm/target.js";
import { generate, lower, optimise } from "../../src/driver.js";
import { defaultPipeline } from "../../src/passes/index.js";
import { elaborateFile, type ElaborateOptions } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import type { TensorData } from "../../src/weights/tensor.js";
import { inputsFor } from "../onnx/helpers.js";
import { reduced as reducedTransformers } from "../onnx/zoo.js";
import { fastWeights } from "./weights.js";

const specs = readdirSync("specs").filter((f) => f.endsWith(".nn")).sort();
const BOUND = { f16: 1e-3, int8: 5e-2 } as const;
/**
 * Bounds above the issue's, from the figures measured here (x1.3, rounded up): the models whose
 * seeded weights (BatchNorm calibrated, nothing trained) amplify any perturbation of the weights
 * that much. Not the decoding: the interpreter with the f16-rounded weights gives the same
 * figures (mobilenet_v2 1.12e-2, mobilenet_v3_large 7.94e-2), and uniform relative noise of
 * half f16's largest rounding (±2^-12) moves mobilenet_v2's logits by 5.6e-3 and
 * mobilenet_v3_large's by 0.9e-2 .. 2.2e-2 (two seeds). A pooler (tanh of the CLS row) is the
 * most sensitive output of the encoders.
 */
const LOOSER: Record<string, Partial<Record<keyof typeof BOUND, number>>> = {
  albert_base_v2: { f16: 4.6e-3, int8: 9.4e-2 }, // measured 3.47e-3, 7.18e-2 (pooler_output)
  bert_base: { f16: 9.1e-3, int8: 1.5e-1 }, // 7.00e-3, 1.13e-1 (pooler_output)
  bert_pretraining: { f16: 5.3e-3 }, // 4.07e-3 (seq_relationship_logits)
  mobilenet_v1: { f16: 4.6e-3, int8: 8.8e-2 }, // 3.51e-3, 6.73e-2
  mobilenet_v2: { f16: 1.5e-2, int8: 1.2e-1 }, // 1.12e-2, 8.86e-2
  mobilenet_v3_large: { f16: 1.1e-1, int8: 3.3e-1 }, // 7.94e-2, 2.52e-1
  mobilenet_v3_small: { f16: 2.6e-2, int8: 2.5e-1 }, // 1.93e-2, 1.90e-1
  resnet34: { f16: 1.7e-3 }, // 1.24e-3
  resnet50: { f16: 8e-3, int8: 1.2e-1 }, // 6.13e-3, 8.59e-2
  resnet50d: { f16: 1.2e-2, int8: 1.5e-1 }, // 8.70e-3, 1.09e-1
  resnet101: { f16: 6.9e-3 }, // 5.27e-3
  resnet152: { f16: 4e-3, int8: 1e-1 }, // 3.06e-3, 7.60e-2
  resnext50_32x4d: { f16: 7.8e-3, int8: 8.9e-2 }, // 5.97e-3, 6.79e-2
  roberta_base: { f16: 3e-3 }, // 2.26e-3 (pooler_output)
  tinybert_4l_312: { f16: 5.1e-3, int8: 9.5e-2 }, // 3.91e-3, 7.25e-2 (pooler_output)
  wide_resnet50_2: { f16: 7.9e-3, int8: 1.1e-1 }, // 6.04e-3, 8.26e-2
};

function reduced(file: string): ElaborateOptions {
  const g = elaborateFile(`specs/${file}`).graph!;
  if (g.inputs.some((p) => g.values[p.value]!.type.dtype !== "f32")) return reducedTransformers[g.name]!;
  const images = g.inputs.filter((p) => g.values[p.value]!.type.shape.length === 4);
  return { shapes: Object.fromEntries(images.map((p) => [p.name, [1, 3, 48, 48]])) };
}

function relDiff(got: ArrayLike<number | bigint>, want: TensorData): number {
  let [diff, scale] = [0, 0];
  for (let i = 0; i < got.length; i++) {
    diff = Math.max(diff, Math.abs(Number(got[i]!) - Number(want[i]!)));
    scale = Math.max(scale, Math.abs(Number(want[i]!)));
  }
  return diff / scale;
}

const argmax = (v: ArrayLike<number | bigint>) => Array.from(v, Number).reduce((best, x, i, a) => (x > a[best]! ? i : best), 0);

describe("f16 and int8 weights on the zoo models", () => {
  for (const file of specs)
    it(file, async () => {
      const opts = reduced(file);
      const g0 = elaborateFile(`specs/${file}`, opts).graph!;
      const data = fastWeights(g0, 1);
      const inputs = inputsFor(g0, 7);
      const want = interpret(g0, data, inputs);
      const g = lower(optimise(g0, data, wasmTarget.pipeline(defaultPipeline)).graph, wasmTarget);
      const failures: string[] = [];
      for (const dtype of ["f16", "int8"] as const) {
        const parts = generate(g, wasmTarget, { weightsDtype: dtype, relaxedSimd: "off" }).parts as ModuleParts;
        const model = await loadParts(parts);
        const got = await model.run(inputs);
        model.dispose();
        const diffs = Object.entries(want).map(([name, w]) => [name, relDiff(got[name]!, w), argmax(got[name]!) === argmax(w)] as const);
        const classifier = g0.outputs.length === 1 && g0.values[g0.outputs[0]!.value]!.type.shape.length === 2;
        console.log(`weights-dtype ${file} ${dtype}: ${diffs.map(([name, d, top1]) => `${name} ${d.toExponential(2)}${classifier ? ` (top-1 ${top1 ? "agrees" : "differs"})` : ""}`).join(", ")}`);
        const bound = LOOSER[file.slice(0, -3)]?.[dtype] ?? BOUND[dtype];
        for (const [name, d] of diffs) if (!(d <= bound)) failures.push(`${dtype} ${name}: ${d.toExponential(2)} > ${bound}`);
      }
      expect(failures).toEqual([]);
    }, 300_000);
});
