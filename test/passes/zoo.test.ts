// Every zoo model family, at reduced size, computes the same outputs before and after the default
// pipeline (deeper or wider repeats of a family, ResNet-34/101/152 and Wide ResNet-50, have no
// layer the kept models lack; onnx/zoo.test.ts runs every model); at full size (passes only, no interpreter) ResNet-50 keeps no batchnorm and no
// standalone relu or add, and bert_base has one packed Q/K/V linear per layer.
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { elaborateFile, type ElaborateOptions } from "../../src/frontend/index.js";
import type { Graph } from "../../src/ir/graph.js";
import { bindWeights } from "../../src/ir/rewrite.js";
import { defaultPipeline, runPipeline } from "../../src/passes/index.js";
import { initWeights } from "../../src/weights/init.js";
import { loadWeights } from "../../src/weights/load.js";
import { checkPassPreserves } from "./gen.js";

process.chdir(fileURLToPath(new URL("../..", import.meta.url))); // specs import their libraries relatively

const image = (name: string, n: number) => ({ [name]: [1, 3, n, n] });
/** Sizes that keep the reference interpreter to a few seconds per model. */
const zoo: Record<string, ElaborateOptions> = {
  resnet18: { shapes: image("image", 32) },
  resnet50: { shapes: image("image", 64) },
  resnet50d: { shapes: image("image", 32) },
  resnext50_32x4d: { shapes: image("image", 32) },
  mobilenet_v1: { set: { resolution: 96 } },
  mobilenet_v2: { shapes: image("image", 96) },
  mobilenet_v3_large: { shapes: image("image", 96) },
  mobilenet_v3_small: { shapes: image("image", 96) },
  // Its resizes run channels-last between the convolutions after the layout pass.
  lraspp_mobilenet_v3_large: { shapes: image("image", 33) },
  siamese_contrastive: { shapes: { ...image("image_a", 64), ...image("image_b", 64) } },
  siamese_triplet: { shapes: { ...image("anchor", 64), ...image("positive", 64), ...image("negative", 64) } },
  bert_base: { set: { seq: 8 } },
  bert_pretraining: { set: { seq: 8 } },
  distilbert_base: { set: { seq: 8 } },
};

function elaborate(name: string, opts: ElaborateOptions = {}): Graph {
  const r = elaborateFile(`specs/${name}.nn`, opts);
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graph;
}

const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;

describe("zoo: default pipeline preserves outputs", () => {
  for (const [name, opts] of Object.entries(zoo))
    test(name, () => {
      const g = elaborate(name, opts);
      checkPassPreserves(defaultPipeline, bindWeights(g, loadWeights(g, { seed: 0 }).data));
    });
});

/** Full size, passes only: seeded weights without BatchNorm calibration (no interpreter run). */
function compileFull(name: string, ops: string[]): { before: Record<string, number>; nodesBefore: number; after: Graph } {
  const g = elaborate(name);
  const before = Object.fromEntries(ops.map((op) => [op, count(g, op)]));
  const nodesBefore = g.nodes.length;
  const after = runPipeline(bindWeights(g, initWeights(g.weights, 0)), defaultPipeline, { verifyEach: true }).graph;
  return { before, nodesBefore, after };
}

test("target: ResNet-50 at 224x224 has no batchnorm, standalone relu or add left", () => {
  const { before, nodesBefore, after } = compileFull("resnet50", ["batchnorm", "relu", "add", "conv2d"]);
  expect(before).toEqual({ batchnorm: 53, relu: 49, add: 16, conv2d: 53 });
  for (const op of ["batchnorm", "relu", "add"]) expect(count(after, op), op).toBe(0);
  expect(count(after, "conv2d")).toBe(53);
  console.log(`resnet50: ${nodesBefore} nodes before, ${after.nodes.length} after`);
});

test("target: bert_base has one packed Q/K/V linear per layer", () => {
  const { before, nodesBefore, after } = compileFull("bert_base", ["linear"]);
  const packed = after.nodes.filter((n) => n.op === "linear" && after.values[n.outputs[0]!]!.type.shape.at(-1) === 3 * 768);
  expect(packed.map((n) => n.path)).toEqual(Array.from({ length: 12 }, (_, i) => `encoder.layer.${i}.attention.self`));
  expect(count(after, "linear")).toBe(before.linear! - 24);
  console.log(`bert_base: ${nodesBefore} nodes before, ${after.nodes.length} after`);
});
