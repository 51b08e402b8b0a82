// The outside oracle for whole-model gradients: a core-form IR graph run op by op as
// TensorFlow.js ops (tf-graph.ts) on the CPU backend, float32, so that tf.variableGrads
// differentiates it with TensorFlow's own gradient functions, none of ours.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Graph, TensorData } from "../../src/ir/graph.js";
import { runTfGraph, toTf } from "./tf-graph.js";

/**
 * d(output `loss`)/d(each weight named in `wrt`) by tf.variableGrads on the graph run as tf ops,
 * with `weights` and `inputs` as the data.
 */
export function tfGradients(g: Graph, weights: ReadonlyMap<string, TensorData>, inputs: Record<string, TensorData>, wrt: readonly string[]): Map<string, Float32Array> {
  const result = new Map<string, Float32Array>();
  tf.tidy(() => {
    const vars = new Map(wrt.map((name) => {
      const w = g.weights.find((x) => x.name === name)!;
      return [name, tf.variable(toTf(weights.get(name)!, w.type.shape), true, `v${w.value}`)] as const;
    }));
    const loss = () => {
      const vals = new Map<number, tf.Tensor>();
      for (const w of g.weights) vals.set(w.value, vars.get(w.name) ?? toTf(weights.get(w.name)!, w.type.shape));
      for (const c of g.constants) vals.set(c.value, toTf(c.data, g.values[c.value]!.type.shape));
      for (const p of g.inputs) vals.set(p.value, toTf(inputs[p.name]!, g.values[p.value]!.type.shape));
      runTfGraph(g, vals);
      return tf.sum(vals.get(g.outputs.find((p) => p.name === "loss")!.value)!) as tf.Scalar;
    };
    const { grads } = tf.variableGrads(loss, [...vars.values()]);
    for (const [name, v] of vars) result.set(name, grads[v.name]!.dataSync() as Float32Array);
    for (const v of vars.values()) v.dispose();
  });
  return result;
}
