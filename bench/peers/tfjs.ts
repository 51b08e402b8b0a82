// TensorFlow.js (tfjs-core + tfjs-backend-wasm, XNNPACK) running a graphc IR graph the way a
// competent TF.js user would write the network by hand: NHWC activations, tf.fused.conv2d /
// depthwiseConv2d with BatchNorm already folded into the weights and bias + ReLU/ReLU6 fused,
// PyTorch's explicit pads (TF's "same" pads stride-2 layers differently), linears as 2-D
// tf.fused.matMul against weights stored [in, out] (tfjs-backend-wasm 4.x sends only the
// non-transposed, batch-1 matmul to XNNPACK; transposed or batched ones run a scalar loop).
// The graph comes from bench.ts after graphc's fold-batchnorm, fuse-epilogue and layout passes,
// so the three models share this one builder; an op it has no TF.js form for is an error.
import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { getThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { Graph, Node } from "../../src/ir/graph.js";
import { activationOf, epilogueInputs, isNHWC } from "../../src/ir/ops.js";
import { sliceRange } from "../../src/ir/shape.js";

/**
 * The graphc passes the graph goes through first: the standard pipeline without pack-qkv and
 * fuse-elementwise (TF.js has no fused elementwise programs; a hand-written BERT keeps Q, K and V
 * apart). layout makes the convolutions NHWC, fuse-epilogue gives them their bias and activation.
 */
export const TFJS_PASSES = ["canonicalize", "constant-fold", "cse", "recognize-patterns", "fold-batchnorm", "fuse-epilogue", "layout", "dce"];

type Env = tf.Tensor[];
/** One node: its output tensors from the environment (run inside tf.tidy). */
type Step = (env: Env) => tf.Tensor[];

/** How a weight is stored for the op that reads it. */
type Role = "as-is" | "hwio" | "depthwise" | "in-out";
const ROLE_PERM: Record<Exclude<Role, "as-is">, number[]> = {
  hwio: [2, 3, 1, 0], // OIHW -> [kh, kw, in, out]
  depthwise: [2, 3, 0, 1], // [C, 1, kh, kw] -> [kh, kw, C, 1]
  "in-out": [1, 0], // [out, in] -> [in, out]
};

const FUSED: Partial<Record<string, tf.fused.Activation>> = { relu: "relu", relu6: "relu6", sigmoid: "sigmoid" };

const UNARY: Record<string, (x: tf.Tensor, attrs: Node["attrs"]) => tf.Tensor> = {
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  gelu: (x, a) =>
    a.approximate === "tanh"
      ? tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1))
      : tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)),
};

const BINARY: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: tf.add,
  sub: tf.sub,
  mul: tf.mul,
  div: tf.div,
};

/** Loads the wasm backend from the package's own dist/ (Node's build: SIMD, one thread). */
export async function initTfjsWasm(): Promise<{ threads: number }> {
  setWasmPaths(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm")) + "/");
  if (!(await tf.setBackend("wasm"))) throw new Error("tfjs-wasm: the wasm backend did not initialise");
  return { threads: getThreadsCount() };
}

export interface TfjsModel {
  run(feeds: Record<string, tf.Tensor>): Record<string, Float32Array | Int32Array>;
}

/** The model for graph `g` (consumed: its constants' data is dropped once it is in TF.js tensors). */
export function buildTfjs(g: Graph): TfjsModel {
  const base: Env = [];
  const data = new Map(g.constants.map((c) => [c.value, c.data]));
  const shapeOf = (v: number) => g.values[v]!.type.shape;
  const stored = new Map<string, tf.Tensor>();
  /** Constant `v` as `role` wants it, made once at load. */
  const weight = (v: number, role: Role): tf.Tensor => {
    const key = `${v}:${role}`;
    let t = stored.get(key);
    if (!t) {
      const d = data.get(v);
      if (!d) throw new Error(`tfjs-wasm: value ${v} is not a constant`);
      const plain = tf.tensor(d, shapeOf(v), d instanceof Float32Array ? "float32" : "int32");
      t = role === "as-is" ? plain : tf.transpose(plain, ROLE_PERM[role]);
      if (t !== plain) plain.dispose();
      stored.set(key, t);
    }
    return t;
  };
  for (const c of g.constants) base[c.value] = weight(c.value, "as-is");

  /** y = act(op(bias) + residual): the activation fuses into the op unless a residual comes first. */
  const epilogue = (n: Node, env: Env, op: (bias: tf.Tensor | undefined, act: tf.fused.Activation) => tf.Tensor, shape?: number[]): tf.Tensor => {
    const e = epilogueInputs(n.inputs, n.attrs);
    const act = activationOf(n.attrs);
    if (act === "prelu") throw new Error(`tfjs-wasm: no lowering for ${n.op} with a prelu epilogue`);
    const fused = act && e.residual === undefined ? FUSED[act.op] : undefined;
    let y = op(e.bias === undefined ? undefined : env[e.bias], fused ?? "linear");
    if (shape) y = tf.reshape(y, shape);
    if (e.residual !== undefined) y = tf.add(y, env[e.residual]!);
    if (act && !fused) {
      const f = UNARY[act.op];
      if (!f) throw new Error(`tfjs-wasm: no lowering for the ${act.op} activation`);
      y = f(y, act.attrs);
    }
    return y;
  };

  const lower = (n: Node): Step => {
    const [x, w] = n.inputs as [number, number];
    const a = n.attrs;
    const unary = UNARY[n.op];
    if (unary) return (env) => [unary(env[x]!, a)];
    const binary = BINARY[n.op];
    if (binary) return (env) => [binary(env[x]!, env[w]!)];
    switch (n.op) {
      case "conv2d": {
        if (!isNHWC(a)) throw new Error("tfjs-wasm: conv2d must run NHWC (the bench runs graphc's layout pass first)");
        const [k, cg] = shapeOf(w) as [number, number];
        const c = shapeOf(x)[3]!;
        const groups = a.groups as number;
        const depthwise = groups > 1 && groups === c && groups === k && cg === 1;
        if (groups !== 1 && !depthwise) throw new Error(`tfjs-wasm: no lowering for a conv2d with ${groups} groups that is not depthwise`);
        const [top, left, bottom, right] = a.pads as number[];
        const args = {
          filter: weight(w, depthwise ? "depthwise" : "hwio") as tf.Tensor4D,
          strides: a.stride as [number, number],
          pad: [[0, 0], [top!, bottom!], [left!, right!], [0, 0]] as tf.backend_util.ExplicitPadding,
          dilations: a.dilation as [number, number],
          dataFormat: "NHWC" as const,
        };
        // fused.depthwiseConv2d's declared type omits explicit pads, which its kernel takes as conv2d's does.
        const conv = depthwise ? (tf.fused.depthwiseConv2d as unknown as typeof tf.fused.conv2d) : tf.fused.conv2d;
        return (env) => [epilogue(n, env, (bias, activation) => conv({ x: env[x] as tf.Tensor4D, ...args, bias, activation }))];
      }
      case "linear": {
        const [out, inF] = shapeOf(w) as [number, number];
        const b = weight(w, "in-out") as tf.Tensor2D;
        const shape = [...shapeOf(x).slice(0, -1), out];
        return (env) => [epilogue(n, env, (bias, activation) => tf.fused.matMul({ a: tf.reshape(env[x]!, [-1, inF]), b, bias, activation }), shape)];
      }
      case "attention":
        return attention(n);
      case "maxpool": {
        if (!isNHWC(a) || a.ceil_mode || (a.dilation as number[]).some((d) => d !== 1)) throw new Error("tfjs-wasm: maxpool must be NHWC without ceil_mode or dilation");
        const [top, left, bottom, right] = a.pads as number[];
        const pad = [[0, 0], [top!, bottom!], [left!, right!], [0, 0]] as tf.backend_util.ExplicitPadding;
        return (env) => [tf.maxPool(env[x] as tf.Tensor4D, a.kernel as [number, number], a.stride as [number, number], pad)];
      }
      case "global_avgpool":
        return (env) => [tf.mean(env[x]!, isNHWC(a) ? [1, 2] : [2, 3], true)];
      case "layernorm":
        return (env) => {
          const { mean, variance } = tf.moments(env[x]!, -1, true);
          const normed = tf.mul(tf.sub(env[x]!, mean), tf.rsqrt(tf.add(variance, a.eps as number)));
          return [tf.add(tf.mul(normed, env[w]!), env[n.inputs[2]!]!)];
        };
      case "softmax":
        if (a.axis !== -1 && a.axis !== shapeOf(x).length - 1) throw new Error("tfjs-wasm: softmax over the last axis only");
        return (env) => [tf.softmax(env[x]!)];
      case "reshape":
        return (env) => [tf.reshape(env[x]!, a.shape as number[])];
      case "transpose":
        return (env) => [tf.transpose(env[x]!, a.perm as number[])];
      case "slice": {
        if ((a.step ?? 1) !== 1) throw new Error("tfjs-wasm: slice with a step");
        const shape = shapeOf(x);
        const axis = ((a.axis as number) + shape.length) % shape.length;
        const { first, count } = sliceRange(shape[axis]!, a.start as number, a.end as number, 1);
        const begin = shape.map((_, i) => (i === axis ? first : 0));
        const size = shape.map((d, i) => (i === axis ? count : d));
        return (env) => [tf.slice(env[x]!, begin, size)];
      }
      case "gather":
        return (env) => [tf.gather(env[x]!, env[w]!, (a.axis as number | undefined) ?? 0)];
      case "cast":
        return (env) => [tf.cast(env[x]!, a.to === "f32" ? "float32" : "int32")];
      default:
        throw new Error(`tfjs-wasm: no TF.js lowering for ${n.op}`);
    }
  };

  /** softmax(q kᵀ · scale + mask) v head by head: 2-D matmuls are the ones that reach XNNPACK. */
  const attention = (n: Node): Step => {
    const [q, k, v, mask] = n.inputs as [number, number, number, number | undefined];
    const [b, h, sq, d] = shapeOf(q) as [number, number, number, number];
    const [sk, dv] = [shapeOf(k)[2]!, shapeOf(v)[3]!];
    if (b !== 1) throw new Error("tfjs-wasm: attention with batch 1 only");
    if (mask !== undefined && shapeOf(mask).slice(0, -2).some((m) => m !== 1)) throw new Error("tfjs-wasm: attention with a mask shared by every head only");
    const scale = n.attrs.scale as number;
    return (env) => {
      const qs = tf.unstack(tf.mul(tf.reshape(env[q]!, [h, sq, d]), scale));
      const kts = tf.unstack(tf.transpose(tf.reshape(env[k]!, [h, sk, d]), [0, 2, 1]));
      const vs = tf.unstack(tf.reshape(env[v]!, [h, sk, dv]));
      const m = mask === undefined ? undefined : tf.reshape(env[mask]!, shapeOf(mask).slice(-2));
      const heads = qs.map((qh, i) => {
        const scores = tf.matMul(qh, kts[i]!);
        return tf.matMul(tf.softmax(m ? tf.add(scores, m) : scores), vs[i]!);
      });
      return [tf.reshape(tf.stack(heads), [b, h, sq, dv])];
    };
  };

  const steps = g.nodes.map(lower);
  // The weights live in the wasm heap now: the JavaScript copies can go.
  data.clear();
  g.constants = [];
  // Each intermediate goes as soon as its last reader has run, as TF.js's graph executor does.
  const keep = new Set([...g.inputs, ...g.outputs].map((p) => p.value));
  const lastUse = new Map<number, number>();
  g.nodes.forEach((n, i) => [...n.inputs, ...n.outputs].forEach((v) => lastUse.set(v, i)));
  const frees = g.nodes.map(() => [] as number[]);
  for (const [v, i] of lastUse) if (g.values[v]!.kind === "node" && !keep.has(v)) frees[i]!.push(v);

  return {
    run(feeds) {
      const env = base.slice();
      for (const p of g.inputs) env[p.value] = feeds[p.name]!;
      g.nodes.forEach((n, i) => {
        const outs = tf.tidy(() => steps[i]!(env));
        n.outputs.forEach((o, j) => (env[o] = outs[j]!));
        for (const v of frees[i]!) env[v]!.dispose();
      });
      const result = Object.fromEntries(g.outputs.map((p) => [p.name, env[p.value]!.dataSync() as Float32Array | Int32Array]));
      for (const p of g.outputs) if (!g.inputs.some((i) => i.value === p.value)) env[p.value]!.dispose();
      return result;
    },
  };
}
