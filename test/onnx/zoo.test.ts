// Every zoo model (specs/*.nn), at a reduced input size, exported to ONNX and run in
// onnxruntime: it loads, its outputs have the declared shapes and are finite, and they match
// the reference interpreter on the same seeded weights and a deterministic input.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { elaborateFile, UsageError, type ElaborateOptions, type ElaborateResult } from "../../src/frontend/index.js";
import { interpret } from "../../src/interp/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { loadWeights } from "../../src/weights/load.js";
import { expectClose, inputsFor, runOrt } from "./helpers.js";

const img = (...names: string[]) => Object.fromEntries(names.map((n) => [n, [1, 3, 48, 48]]));

/** How each zoo model is shrunk for the test. */
const reduced: Record<string, ElaborateOptions> = {
  resnet18: { shapes: img("image") },
  resnet34: { shapes: img("image") },
  resnet50: { shapes: img("image") },
  resnet50d: { shapes: img("image") },
  resnet101: { shapes: img("image") },
  resnet152: { shapes: img("image") },
  resnext50_32x4d: { shapes: img("image") },
  wide_resnet50_2: { shapes: img("image") },
  mobilenet_v1: { set: { resolution: 128 } },
  mobilenet_v2: { shapes: img("image") },
  mobilenet_v3_large: { shapes: img("image") },
  mobilenet_v3_small: { shapes: img("image") },
  bert_base: { set: { seq_len: 16 } },
  bert_pretraining: { set: { seq_len: 16 } },
  distilbert_base: { set: { seq_len: 16 } },
  siamese_contrastive: { shapes: img("image_a", "image_b") },
  siamese_triplet: { shapes: img("anchor", "positive", "negative") },
};

/** The BERT specs' sequence-length parameter is `seq_len` (older specs: `seq`). */
function elaborateReduced(name: string): ElaborateResult {
  const opts = reduced[name]!;
  try {
    return elaborateFile(`specs/${name}.nn`, opts);
  } catch (e) {
    if (!(e instanceof UsageError) || opts.set?.seq_len === undefined) throw e;
    const { seq_len, ...rest } = opts.set;
    return elaborateFile(`specs/${name}.nn`, { ...opts, set: { ...rest, seq: seq_len } });
  }
}

const specs = readdirSync("specs").filter((f) => f.endsWith(".nn")).map((f) => f.slice(0, -3)).sort();

describe("zoo models in onnxruntime", () => {
  it("every spec has a reduced configuration here", () => {
    expect(specs.filter((s) => !(s in reduced))).toEqual([]);
  });

  for (const name of specs) {
    it.runIf(name in reduced)(name, async () => {
      const r = elaborateReduced(name);
      expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => d.message)).toEqual([]);
      const g = r.graph!;
      const { data: weights } = loadWeights(g, { seed: 1 });
      const bytes = exportOnnx(g, weights);
      const inputs = inputsFor(g, 7);
      const got = await runOrt(bytes, g, inputs);
      for (const p of g.outputs) {
        const o = got[p.name]!;
        expect([...o.dims], p.name).toEqual(g.values[p.value]!.type.shape);
        for (const v of o.data) if (!Number.isFinite(Number(v))) expect.fail(`${name}: output ${p.name} has a non-finite value ${v}`);
      }
      expectClose(g, got, interpret(g, weights, inputs), name);
    }, 60_000);
  }
});
