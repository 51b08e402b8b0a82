// One engine training one model, in its own process so that its peak RSS is its own. Reads a JSON
// TrainJob from argv[2]; runs one step and writes the weights after it (the parent checks both
// engines computed the same step), then warm-up steps and timed steps on the same batch; prints
// a JSON TrainResult as its last stdout line. A kernel the backend lacks ends the run with
// { ok: false, error }: TF.js throws "Kernel 'X' not registered for backend 'wasm'" (no fallback).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import type * as Tf from "@tensorflow/tfjs-core";
import type { LoadedTrainer } from "../codegen/module/runtime.js";
import type { Graph } from "../src/ir/graph.js";
import { readSafetensors } from "../src/weights/safetensors.js";
import type { InputFile } from "./engine.js";
import { readGraphFile } from "./peers/graph-file.js";
import { peakRss } from "./measure.js";

export type TrainEngine = "graphc-baseline" | "graphc-relaxed" | "tfjs-wasm" | "tfjs-wasm-convgrad" | "tfjs-cpu";

export interface TrainJob {
  engine: TrainEngine;
  model: string;
  /** graphc: the training module's NAME.mjs. */
  module: string;
  /** TF.js: the training forward graph (core form, BatchNorm in training mode) as JSON, its weights unbound. */
  graph: string;
  /** TF.js: the model's weights (safetensors); graphc's module holds the same ones. */
  weights: string;
  inputs: string;
  /** The weights the step trains; every other weight is frozen. */
  parameters: string[];
  /** Running statistics: the weight and the forward graph's output holding its value after the step. */
  running: { weight: string; output: string }[];
  lr: number;
  momentum: number;
  warmup: number;
  steps: number;
  /** Where the weights after the first step go (safetensors). */
  firstStep: string;
}

export interface TrainResult {
  ok: boolean;
  error?: string;
  loadMs?: number;
  firstLoss?: number;
  lastLoss?: number;
  medianMs?: number;
  minMs?: number;
  steps?: number;
  peakRssBytes?: number;
  /** graphc: the step and eval builds' linear memories (fixed sizes); TF.js wasm: the backend's wasm heap after the steps (it only grows). */
  wasmMemoryBytes?: number;
  /** TF.js: tf.memory().numBytes after the steps (weights, optimizer state), and tf.profile()'s peakBytes of one step. */
  tfLiveBytes?: number;
  tfPeakBytes?: number;
  /** TF.js: one profiled step's kernel time by kernel name (ms), largest first. */
  kernels?: [string, number][];
  /** TF.js: the backends registered in the process (a tfjs-wasm process registers no CPU backend to fall back on). */
  backends?: string[];
  /** tfjs-cpu: the kernels of that step tfjs-backend-wasm does not register. */
  missingOnWasm?: string[];
}

interface Trainer {
  step(): Promise<number>;
  /** The model's trained weights and running statistics, as stored by the model (OIHW, [out, in]). */
  weights(): { name: string; shape: number[]; data: Float32Array }[];
  memory(): Partial<TrainResult>;
  /** One more step, profiled (TF.js: tf.profile's peak bytes and kernel times). */
  profile?(): Promise<Partial<TrainResult>>;
}

type Feeds = Record<string, Float32Array | Int32Array>;

const feedsOf = (inputs: InputFile): Feeds => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.dtype === "f32" ? Float32Array.from(v.data) : Int32Array.from(v.data)]));

async function graphc(job: TrainJob, inputs: InputFile): Promise<Trainer> {
  const { load } = (await import(pathToFileURL(job.module).href)) as { load(o: { simd: "baseline" | "relaxed" }): Promise<LoadedTrainer> };
  const trainer = await load({ simd: job.engine === "graphc-baseline" ? "baseline" : "relaxed" });
  const feeds = feedsOf(inputs);
  // The module embeds its manifest: each build's memory is allocated once, at its full size.
  const manifest = JSON.parse(/^const MODEL = (.*);$/m.exec(readFileSync(job.module, "utf8"))![1]!) as { train: { builds: Record<string, { memoryBytes: number }> }; eval: { builds: Record<string, { memoryBytes: number }> } };
  const simd = trainer.simd;
  const names = new Set([...job.parameters, ...job.running.map((r) => r.weight)]);
  return {
    step: async () => ((await trainer.step(feeds)).loss as Float32Array)[0]!,
    weights: () => [...readSafetensors(trainer.saveWeights())].filter(([name]) => names.has(name)).map(([name, t]) => ({ name, shape: t.shape, data: t.data as Float32Array })),
    memory: () => ({ wasmMemoryBytes: manifest.train.builds[simd]!.memoryBytes + manifest.eval.builds[simd]!.memoryBytes }),
  };
}

async function tfjs(job: TrainJob, inputs: InputFile): Promise<Trainer> {
  const tf = await import("@tensorflow/tfjs-core");
  const onWasm = job.engine !== "tfjs-cpu";
  if (onWasm) {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    wasm.setWasmPaths(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm")) + "/");
  } else await import("@tensorflow/tfjs-backend-cpu");
  const backend = onWasm ? "wasm" : "cpu";
  if (!(await tf.setBackend(backend))) throw new Error(`${job.engine}: the ${backend} backend did not initialise`);
  register(new URL("./tfjs-esm-resolve.js", import.meta.url));
  const { runTfGraph, toTf } = await import("../test/autodiff/tf-graph.js");
  const g = readGraphFile(job.graph);
  const stored = readSafetensors(new Uint8Array(readFileSync(job.weights)));
  const shapeOf = (v: number) => g.values[v]!.type.shape;

  // Written as a TF.js user would. As tf.layers.dense keeps its kernel: a weight only linears read as their weight is stored
  // [in, out], so the forward matmul is the plain one TF.js's wasm backend sends to XNNPACK.
  const readers = new Map<number, { op: string; slot: number }[]>();
  for (const n of g.nodes) n.inputs.forEach((v, slot) => readers.set(v, [...(readers.get(v) ?? []), { op: n.op, slot }]));
  const inOut = new Set<Tf.Tensor>();
  const trainable = new Set(job.parameters);
  const vars = new Map<string, Tf.Variable>();
  const vals = new Map<number, Tf.Tensor>();
  for (const w of g.weights) {
    if (!readers.has(w.value)) continue;
    const data = stored.get(w.name)!.data;
    const plain = toTf(data as Float32Array | Int32Array, w.type.shape);
    const transposed = w.type.shape.length === 2 && readers.get(w.value)?.every((r) => r.op === "linear" && r.slot === 1);
    const t = transposed ? tf.transpose(plain) : plain;
    if (t !== plain) plain.dispose();
    const isRunning = job.running.some((r) => r.weight === w.name);
    const value = trainable.has(w.name) || isRunning ? tf.variable(t, trainable.has(w.name), w.name) : t;
    if (value !== t) t.dispose();
    if (transposed) inOut.add(value);
    if (value instanceof tf.Variable) vars.set(w.name, value);
    vals.set(w.value, value);
  }
  for (const c of g.constants) vals.set(c.value, toTf(c.data, shapeOf(c.value)));
  for (const p of g.inputs) {
    const d = inputs[p.name]!;
    vals.set(p.value, tf.tensor(d.data, d.shape, d.dtype === "f32" ? "float32" : "int32"));
  }
  const linear = ([x, w, b]: Tf.Tensor[]) => {
    if (!inOut.has(w!)) throw new Error(`${job.engine}: a linear's weight is not stored [in, out]`);
    const shape = x!.shape;
    let y: Tf.Tensor = tf.matMul(tf.reshape(x!, [-1, shape[shape.length - 1]!]) as Tf.Tensor2D, w as Tf.Tensor2D);
    if (b) y = tf.add(y, b);
    return tf.reshape(y, [...shape.slice(0, -1), w!.shape[1]!]);
  };
  // tf.softmax over the last axis, whose gradient is its closed form (the oracle's table composes exp, max and sum).
  const softmax = ([x]: Tf.Tensor[], a: Graph["nodes"][number]["attrs"]) => {
    const axis = a.axis as number;
    if (axis !== -1 && axis !== x!.rank - 1) throw new Error(`${job.engine}: softmax over the last axis only`);
    return tf.softmax(x!);
  };
  /**
   * tfjs-wasm-convgrad: a conv2d whose gradient the user writes with tf.customGrad, in kernels
   * tfjs-backend-wasm has: the input's as conv2dTranspose (Conv2DBackpropInput), the filter's
   * (Conv2DBackpropFilter, which it lacks) as a conv2d of the padded input, batch and channels
   * swapped, with dy as the filter and the stride as its dilation, cropped to the kernel.
   */
  const conv2d = ([x, w, b]: Tf.Tensor[], a: Graph["nodes"][number]["attrs"]) => {
    const [pt, pl, pb, pr] = a.pads as number[];
    const stride = a.stride as [number, number];
    if (a.groups !== 1 || (a.dilation as number[]).some((d) => d !== 1)) throw new Error(`${job.engine}: the user's conv2d gradient covers groups 1, dilation 1`);
    const [n, c, h, wd] = x!.shape as [number, number, number, number];
    const [k, , kh, kw] = w!.shape as [number, number, number, number];
    const conv = tf.customGrad((...args) => {
      const [xs, ws, save] = args as [Tf.Tensor, Tf.Tensor, (saved: Tf.Tensor[]) => void];
      const padded = tf.pad(tf.transpose(xs, [0, 2, 3, 1]), [[0, 0], [pt!, pb!], [pl!, pr!], [0, 0]]) as Tf.Tensor4D;
      const hwio = tf.transpose(ws, [2, 3, 1, 0]) as Tf.Tensor4D;
      save([padded, hwio]);
      return {
        value: tf.transpose(tf.conv2d(padded, hwio, stride, "valid"), [0, 3, 1, 2]),
        gradFunc: (dy: Tf.Tensor, [p, f]: Tf.Tensor[]) => {
          const dyNhwc = tf.transpose(dy, [0, 2, 3, 1]) as Tf.Tensor4D;
          const dPadded = tf.conv2dTranspose(dyNhwc, f as Tf.Tensor4D, p!.shape as [number, number, number, number], stride, "valid");
          const dx = tf.transpose(tf.slice(dPadded, [0, pt!, pl!, 0], [n, h, wd, c]), [0, 3, 1, 2]);
          const taps = tf.conv2d(tf.transpose(p!, [3, 1, 2, 0]) as Tf.Tensor4D, tf.transpose(dyNhwc, [1, 2, 0, 3]) as Tf.Tensor4D, 1, "valid", "NHWC", stride);
          const dw = tf.transpose(tf.slice(taps, [0, 0, 0, 0], [c, kh, kw, k]), [3, 0, 1, 2]);
          return [dx, dw];
        },
      };
    });
    const y = conv(x!, w!);
    return b ? tf.add(y, tf.reshape(b, [k, 1, 1])) : y;
  };
  const overrides = { linear, softmax, ...(job.engine === "tfjs-wasm-convgrad" ? { conv2d } : {}) };
  const lossValue = g.outputs.find((p) => p.name === "loss")!.value;
  const runningOut = job.running.map((r) => ({ v: vars.get(r.weight)!, out: g.outputs.find((p) => p.name === r.output)!.value }));
  const params = job.parameters.map((name) => vars.get(name)!);
  // PyTorch's SGD with momentum (no dampening, no Nesterov) is TF.js's MomentumOptimizer: buf = m buf + g, p -= lr buf.
  const optimizer = tf.train.momentum(job.lr, job.momentum);
  const step = () => {
    const next: Tf.Tensor[] = [];
    const cost = optimizer.minimize(() => {
      const env = runTfGraph(g, new Map(vals), overrides);
      for (const r of runningOut) next.push(tf.keep(env.get(r.out)!));
      return tf.sum(env.get(lossValue)!) as Tf.Scalar;
    }, true, params)!;
    runningOut.forEach((r, i) => r.v.assign(tf.reshape(next[i]!, r.v.shape)));
    for (const t of next) t.dispose();
    const loss = cost.dataSync()[0]!;
    cost.dispose();
    return loss;
  };
  return {
    step: async () => step(),
    weights: () =>
      [...job.parameters, ...job.running.map((r) => r.weight)].map((name) => {
        const v = vars.get(name)!;
        const t = inOut.has(v) ? tf.transpose(v) : v;
        const data = t.dataSync() as Float32Array;
        if (t !== v) t.dispose();
        return { name, shape: g.weights.find((w) => w.name === name)!.type.shape, data };
      }),
    memory: () => {
      const live = tf.memory().numBytes;
      const heap = onWasm ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength : undefined;
      return { tfLiveBytes: live, backends: Object.keys(tf.engine().registryFactory), ...(heap !== undefined ? { wasmMemoryBytes: heap } : {}) };
    },
    // One more step under tf.profile: its peak bytes and its kernels' times.
    profile: async () => {
      const info = await tf.profile(() => {
        step();
      });
      const byKernel = new Map<string, number>();
      for (const k of info.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0));
      // Importing the wasm backend registers its kernels (without initialising it): which would this step miss?
      const missingOnWasm = job.engine === "tfjs-cpu" ? await import("@tensorflow/tfjs-backend-wasm").then(() => [...byKernel.keys()].filter((k) => tf.getKernel(k, "wasm") == null).sort()) : undefined;
      return { tfPeakBytes: info.peakBytes, kernels: [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 12), ...(missingOnWasm ? { missingOnWasm } : {}) };
    },
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as TrainJob;
  const inputs = JSON.parse(readFileSync(job.inputs, "utf8")) as InputFile;
  let result: TrainResult;
  try {
    const t0 = performance.now();
    const trainer = await (job.engine.startsWith("graphc") ? graphc : tfjs)(job, inputs);
    const loadMs = performance.now() - t0;
    const s0 = performance.now();
    const firstLoss = await trainer.step();
    process.stderr.write(`${job.engine}: loaded in ${loadMs.toFixed(0)} ms, first step ${(performance.now() - s0).toFixed(0)} ms\n`);
    const { writeSafetensors } = await import("../src/weights/safetensors.js");
    writeFileSync(job.firstStep, writeSafetensors(trainer.weights()));
    for (let i = 0; i < job.warmup; i++) await trainer.step();
    const times: number[] = [];
    let lastLoss = firstLoss;
    for (let i = 0; i < job.steps; i++) {
      const s = performance.now();
      lastLoss = await trainer.step();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const measured = { peakRssBytes: peakRss(), ...trainer.memory() };
    result = { ok: true, loadMs, firstLoss, lastLoss, medianMs: times[times.length >> 1]!, minMs: times[0]!, steps: times.length, ...measured, ...(await trainer.profile?.()) };
  } catch (e) {
    process.stderr.write(`${job.engine}: ${e instanceof Error ? e.stack : String(e)}\n`);
    result = { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

await main();
