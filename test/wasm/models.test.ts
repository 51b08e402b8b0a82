// Whole small models through the default pipeline, both builds vs the interpreter.
// Tolerance: dot products of a few hundred terms in f32, then normalisations.
import { describe, it } from "vitest";
import { defaultPipeline } from "../../src/passes/index.js";
import { checkModel, inputsFor, model } from "./helpers.js";

const models: Record<string, string> = {
  convnet: `  input x: f32[1, 3, 12, 12]
  a = relu(bn1: batchnorm(c1: conv2d(x, 8, 3, pad=1, bias=false)))
  b = maxpool(a, 3, stride=2, pad=1)
  d = hard_swish(bn2: batchnorm(c2: conv2d(b, 8, 3, pad=1, groups=8, bias=false)))
  c = d + b
  output y = fc: linear(flatten(global_avgpool(c)), 5)`,
  // PaddleOCR's DB detection head: 2x upsamplings (k 2 and k 4, pad 1) with batchnorm and relu.
  dbhead: `  input x: f32[1, 16, 10, 9]
  y = relu(bn0: batchnorm(c0: conv2d(x, 8, 3, pad=1, bias=false)))
  y = relu(bn1: batchnorm(up1: conv_transpose2d(y, 8, 2, stride=2)))
  y = up2: conv_transpose2d(y, 4, 4, stride=2, pad=1, groups=2)
  output y = sigmoid(up3: conv_transpose2d(y, 1, 3, stride=2, pad=1, output_padding=1, dilation=2))`,
  encoder: `  input x: f32[2, 7, 16]
  h = ln1: layernorm(x)
  q = transpose(reshape(wq: linear(h, 16), [2, 7, 2, 8]), [0, 2, 1, 3])
  k = transpose(reshape(wk: linear(h, 16), [2, 7, 2, 8]), [0, 2, 3, 1])
  v = transpose(reshape(wv: linear(h, 16), [2, 7, 2, 8]), [0, 2, 1, 3])
  p = softmax(matmul(q, k) / 2.8284271247461903, axis=-1)
  att = wo: linear(reshape(transpose(matmul(p, v), [0, 2, 1, 3]), [2, 7, 16]), 16)
  o = x + att
  ff = f2: linear(gelu(f1: linear(ln2: layernorm(o), 32)), 16)
  output y = o + ff`,
  // Data movement between convs runs channels-last after layout (its attributes permuted).
  movement: `  input x: f32[1, 3, 9, 9]
  y = relu(c1: conv2d(x, 4, 3))
  y = pad(y, (1, 2, -1, 1), mode="reflect")
  y = relu(c2: conv2d(y, 6, 3))
  y = slice(y, 2, none, none, step=-2) + 1.0
  y = tile(c3: conv2d(y, 4, 1), (1, 1, 2, 1))
  y = index_select(y, 1, [3, 0, -1])
  y = y + expand(global_avgpool(y), [1, 3, 6, 8])
  output y = c4: conv2d(pad(y, (1, 1, 2, 0), mode="replicate", value=0.5), 2, 3)`,
};

describe("wasm end to end", () => {
  for (const [name, body] of Object.entries(models)) {
    it(name, () => {
      const g = model(body, 7, defaultPipeline);
      return checkModel(g, inputsFor(g, 1), { rel: 1e-4, abs: 1e-5 });
    });
  }
});
