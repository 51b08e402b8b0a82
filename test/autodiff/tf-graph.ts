// A core-form IR graph run op by op as TensorFlow.js ops (tfjs-core only: the caller registers
// the backend), so that TensorFlow's own gradient functions differentiate it. The gradient oracle
// (tf.ts, CPU backend) and the training benchmark (bench/train.ts, wasm and CPU) share it.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients.js";
import type { Attrs, Graph, TensorData } from "../../src/ir/graph.js";
import { normAxis, sliceRange } from "../../src/ir/shape.js";

export type Op = (xs: tf.Tensor[], a: Attrs, g: Graph, outShapes: number[][]) => tf.Tensor | tf.Tensor[];

const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));

export const tfOps: Record<string, Op> = {
  relu: ([x]) => tf.relu(x!), tanh: ([x]) => tf.tanh(x!), sigmoid: ([x]) => tf.sigmoid(x!), exp: ([x]) => tf.exp(x!), log: ([x]) => tf.log(x!),
  sqrt: ([x]) => tf.sqrt(x!), relu6: ([x]) => tf.relu6(x!),
  hard_sigmoid: ([x]) => tf.div(tf.relu6(tf.add(x!, 3)), 6), hard_swish: ([x]) => tf.mul(x!, tf.div(tf.relu6(tf.add(x!, 3)), 6)), erf: ([x]) => tf.erf(x!), neg: ([x]) => tf.neg(x!), abs: ([x]) => tf.abs(x!),
  gelu: ([x], a) => {
    if (a.approximate === "tanh") throw new Error("tf oracle: gelu tanh not mapped");
    return gelu(x!);
  },
  add: ([a, b]) => tf.add(a!, b!), sub: ([a, b]) => tf.sub(a!, b!), mul: ([a, b]) => tf.mul(a!, b!), div: ([a, b]) => tf.div(a!, b!),
  pow: ([a, b]) => tf.pow(a!, b!), maximum: ([a, b]) => tf.maximum(a!, b!), minimum: ([a, b]) => tf.minimum(a!, b!),
  cast: ([x], a) => tf.cast(x!, a.to === "f32" ? "float32" : "int32"),
  // Groups as separate convolutions of the channel groups, concatenated.
  conv2d: ([x, w, b], a) => {
    const [pt, pl, pb, pr] = a.pads as number[];
    const groups = a.groups as number;
    const nhwc = tf.transpose(x!, [0, 2, 3, 1]) as tf.Tensor4D;
    const hwio = tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D;
    const [xs, ws] = groups === 1 ? [[nhwc], [hwio]] : [tf.split(nhwc, groups, 3), tf.split(hwio, groups, 3)];
    const parts = xs.map((xg, i) => tf.conv2d(xg as tf.Tensor4D, ws[i] as tf.Tensor4D, a.stride as [number, number], [[0, 0], [pt!, pb!], [pl!, pr!], [0, 0]], "NHWC", a.dilation as [number, number]));
    let y: tf.Tensor = parts.length === 1 ? parts[0]! : tf.concat(parts, 3);
    if (b) y = tf.add(y, b);
    return tf.transpose(y, [0, 3, 1, 2]);
  },
  global_avgpool: ([x]) => tf.mean(x!, [2, 3], true),
  linear: ([x, w, b]) => {
    const shape = x!.shape;
    const rows = tf.reshape(x!, [-1, shape[shape.length - 1]!]);
    let y: tf.Tensor = tf.matMul(rows as tf.Tensor2D, w as tf.Tensor2D, false, true);
    if (b) y = tf.add(y, b);
    return tf.reshape(y, [...shape.slice(0, -1), w!.shape[0]!]);
  },
  matmul: ([a, b]) => tf.matMul(a!, b!),
  softmax: ([x], a) => {
    const axis = normAxis(a.axis as number, x!.shape.length);
    const z = tf.exp(tf.sub(x!, tf.max(x!, axis, true)));
    return tf.div(z, tf.sum(z, axis, true));
  },
  layernorm: ([x, gm, bt], a) => {
    const { mean, variance } = tf.moments(x!, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x!, mean), tf.sqrt(tf.add(variance, a.eps as number))), gm!), bt!);
  },
  reduce_sum: ([x], a) => tf.sum(x!, a.axes as number[], a.keepdim === true),
  reduce_mean: ([x], a) => tf.mean(x!, a.axes as number[], a.keepdim === true),
  reduce_max: ([x], a) => tf.max(x!, a.axes as number[], a.keepdim === true),
  reshape: ([x], a) => tf.reshape(x!, a.shape as number[]),
  transpose: ([x], a) => tf.transpose(x!, a.perm as number[]),
  concat: (xs, a) => tf.concat(xs, a.axis as number),
  split: ([x], a) => tf.split(x!, a.sizes as number[], a.axis as number),
  slice: ([x], a) => {
    const r = x!.shape.length;
    const axis = normAxis(a.axis as number, r);
    const step = (a.step as number | undefined) ?? 1;
    const { first, count } = sliceRange(x!.shape[axis]!, a.start as number, a.end as number, step);
    const begin = x!.shape.map((_, i) => (i === axis ? first : 0));
    // tf has no gradient for stridedSlice: unit steps go through slice.
    if (step === 1) return tf.slice(x!, begin, x!.shape.map((d, i) => (i === axis ? count : d)));
    const end = x!.shape.map((d, i) => (i === axis ? first + count * step : d));
    const strides = x!.shape.map((_, i) => (i === axis ? step : 1));
    return tf.stridedSlice(x!, begin, end, strides);
  },
  gather: ([x, ids], a) => tf.gather(x!, ids!, (a.axis as number | undefined) ?? 0),
  expand: ([x], _a, _g, [shape]) => tf.broadcastTo(x!, shape!),
  pad: ([x], a) => {
    const p = a.pads as number[];
    const r = x!.shape.length;
    if (p.some((v) => v < 0) || (a.mode ?? "constant") !== "constant") throw new Error("tf oracle: only non-negative constant pads are mapped");
    return tf.pad(x!, x!.shape.map((_, i) => [p[i]!, p[i + r]!] as [number, number]), (a.value as number | undefined) ?? 0);
  },
};

export const toTf = (data: TensorData, shape: number[]) => (data instanceof Float32Array ? tf.tensor(data, shape, "float32") : tf.tensor(Int32Array.from(data as Int32Array, Number), shape, "int32"));

/**
 * Runs every node of `g` as tf ops on `vals` (each input, weight and constant of `g` by value id),
 * adding each node's outputs; `overrides` replace the ops they name.
 */
export function runTfGraph(g: Graph, vals: Map<number, tf.Tensor>, overrides: Partial<Record<string, Op>> = {}): Map<number, tf.Tensor> {
  for (const n of g.nodes) {
    const op = overrides[n.op] ?? tfOps[n.op];
    if (!op) throw new Error(`tf oracle: ${n.op} is not mapped`);
    const out = op(n.inputs.map((i) => vals.get(i)!), n.attrs, g, n.outputs.map((o) => g.values[o]!.type.shape));
    (Array.isArray(out) ? out : [out]).forEach((t, i) => vals.set(n.outputs[i]!, t));
  }
  return vals;
}
