// The bench's TF.js peer (bench/peers/tfjs.ts) computes what the reference interpreter computes,
// on zoo models at reduced size that use every op it lowers (stride-2 and depthwise convolutions
// with PyTorch pads, residual epilogues, max pooling, attention, layernorm, gelu, embeddings),
// after the round trip through the graph file the bench hands it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readGraphFile, writeGraphFile } from "../../bench/peers/graph-file.js";
import { buildTfjs, initTfjsWasm, TFJS_PASSES } from "../../bench/peers/tfjs.js";
import { elaborate, optimise } from "../../src/driver.js";
import type { Graph, TensorData } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { randomInputs } from "../../src/weights/calibrate.js";
import { loadWeights } from "../../src/weights/load.js";

process.chdir(fileURLToPath(new URL("../..", import.meta.url))); // specs import their libraries relatively

/**
 * max |tfjs - interpreter| / max |interpreter| over every output: f32 sums (XNNPACK's order)
 * against the interpreter's float64 over up to 50 layers stay near 1e-6; a wrong pad, layout or
 * transposed weight is off by O(1).
 */
const TOLERANCE = 1e-4;

const dir = mkdtempSync(join(tmpdir(), "graphc-tfjs-"));
beforeAll(async () => {
  expect((await initTfjsWasm()).threads).toBe(1);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function relDiff(got: Record<string, ArrayLike<number>>, want: Record<string, TensorData>): number {
  let diff = 0;
  let scale = 0;
  for (const [name, ref] of Object.entries(want)) {
    const out = got[name]!;
    expect(out.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(out[i]! - Number(ref[i]!)));
      scale = Math.max(scale, Math.abs(Number(ref[i]!)));
    }
  }
  return diff / scale;
}

/** The model as the bench gives it to TF.js (consuming `g`): optimised, written and read back. */
function peerGraph(g: Graph, weights: Map<string, TensorData>, name: string): Graph {
  const file = join(dir, `${name}.graph.json`);
  writeGraphFile(optimise(g, weights, TFJS_PASSES).graph, file);
  return readGraphFile(file);
}

const image = (name: string, n: number) => ({ [name]: [1, 3, n, n] });
const zoo = {
  resnet50: { shapes: image("image", 64) },
  mobilenet_v2: { shapes: image("image", 64) },
  tinybert_4l_312: { set: { seq: 8 } },
};

describe("the TF.js peer agrees with the interpreter", () => {
  for (const [name, options] of Object.entries(zoo))
    test(name, () => {
      const { graph } = elaborate({ path: `specs/${name}.nn` }, options);
      const weights = loadWeights(graph, { seed: 0 }).data;
      const inputs = randomInputs(graph, 1);
      const want = interpret(graph, weights, inputs);
      const feeds = Object.fromEntries(
        graph.inputs.map((p) => [p.name, tf.tensor(inputs[p.name]! as Float32Array | Int32Array, graph.values[p.value]!.type.shape, inputs[p.name] instanceof Float32Array ? "float32" : "int32")]),
      );
      const model = buildTfjs(peerGraph(graph, weights, name));
      const before = tf.memory().numTensors;
      const first = model.run(feeds);
      expect(relDiff(first, want)).toBeLessThanOrEqual(TOLERANCE);
      // A second run gives the same outputs and leaves no tensor behind.
      expect(relDiff(model.run(feeds), want)).toBeLessThanOrEqual(TOLERANCE);
      expect(tf.memory().numTensors).toBe(before);
    });
});

test("an op with no TF.js lowering is an error naming it", () => {
  const src = "model m() {\n  input x: f32[1, 2, 8, 8]\n  output y = avgpool(x, 2)\n}\n";
  const { graph } = elaborate({ path: "specs/tfjs-test.nn", text: src });
  const g = peerGraph(graph, loadWeights(graph, { seed: 0 }).data, "avgpool");
  expect(() => buildTfjs(g)).toThrow(/no TF\.js lowering for avgpool/);
});
