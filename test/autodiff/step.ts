// One training step on the interpreter: the training graph's updates written back into the weights.
import type { TrainingGraph } from "../../src/autodiff/index.js";
import { numel } from "../../src/ir/graph.js";
import { interpret, type TensorData } from "../../src/interp/index.js";

/** The model's weights with the optimizer state at zero, as before the first step. */
export function withState(tg: TrainingGraph, weights: ReadonlyMap<string, TensorData>): Map<string, TensorData> {
  const all = new Map(weights);
  for (const w of tg.state) all.set(w.name, new Float32Array(numel(w.type.shape)));
  return all;
}

/** Runs step `t` (1-based) at learning rate `lr`; returns the outputs and the weights after it. */
export function step(tg: TrainingGraph, weights: ReadonlyMap<string, TensorData>, inputs: Record<string, TensorData>, lr: number, t: number) {
  const out = interpret(tg.graph, weights, { ...inputs, [tg.lrInput]: Float32Array.of(lr), [tg.stepInput]: Float32Array.of(t) });
  const next = new Map(weights);
  for (const u of tg.updates) next.set(u.weight, out[u.output]!);
  for (const c of tg.counters) next.set(c.weight, BigInt64Array.of(((weights.get(c.weight) as BigInt64Array | undefined)?.[0] ?? 0n) + BigInt(c.increment)));
  return { outputs: out, weights: next };
}
