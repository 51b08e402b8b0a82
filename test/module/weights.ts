// Seeded weights for the module tests with the default initialisers' scales but uniform draws
// from a cheap generator: loadWeights' Box-Muller takes ~15 s for BERT-sized models, this ~1 s.
// BatchNorm statistics are calibrated as loadWeights does, so activations stay normalised.
import { numel, type Graph, type Weight } from "../../src/ir/graph.js";
import { calibrateBatchNorm } from "../../src/weights/calibrate.js";
import type { TensorData } from "../../src/weights/tensor.js";

/** Half-width of the uniform distribution with the initialiser's standard deviation (or bound). */
function halfWidth(w: Weight): number {
  const init = w.init;
  if (init.kind === "kaiming") return Math.sqrt(6 / init.fanIn);
  if (init.kind === "normal") return init.std * Math.sqrt(3);
  return init.kind === "uniform" ? init.bound : 0;
}

/** `calibrate: false` leaves BatchNorm's statistics at their initial values (for tests that only compare graphs). */
export function fastWeights(g: Graph, seed: number, { calibrate = true } = {}): Map<string, TensorData> {
  let s = seed * 0x9e3779b9 + 1;
  const data = new Map<string, TensorData>();
  for (const w of g.weights) {
    const n = numel(w.type.shape);
    if (w.type.dtype === "i64") {
      data.set(w.name, new BigInt64Array(n));
      continue;
    }
    const init = w.init;
    const out = new Float32Array(n).fill(init.kind === "ones" ? 1 : init.kind === "const" ? init.value : 0);
    const a = halfWidth(w);
    if (a > 0)
      for (let i = 0; i < n; i++) {
        // xorshift32
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        out[i] = ((s >>> 0) / 2 ** 31 - 1) * a;
      }
    data.set(w.name, out);
  }
  if (calibrate) calibrateBatchNorm(g, data, seed);
  return data;
}
