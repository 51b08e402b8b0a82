// The training step as one graph: forward (BatchNorm in training mode), loss, backward and the
// optimizer update, a pure function
//   (inputs, weights, optimizer state, lr, step) -> (loss, outputs, new weights, new state, new running stats)
// that then goes through the usual passes. Optimizer formulas are PyTorch's (torch.optim.SGD,
// Adam, AdamW with their defaults); state starts at zero, as PyTorch's lazily created state does.
import type { Graph, Weight } from "../ir/graph.js";
import { attrsOf } from "../ir/ops.js";
import { compact, Rewriter } from "../ir/rewrite.js";
import { verify } from "../ir/verify.js";
import { Emit } from "./emit.js";
import { gradients, NotDifferentiable, toCoreForm } from "./gradients.js";
import { convolutionsAsMatmuls } from "./im2col.js";

export const OPTIMIZERS = ["sgd", "adam", "adamw"] as const;
export type Optimizer = (typeof OPTIMIZERS)[number];

export interface TrainingOptions {
  /** The output to minimise (a one-element f32 tensor); default "loss". */
  loss?: string;
  optimizer?: Optimizer;
  /** SGD's momentum (default 0: plain SGD). */
  momentum?: number;
  /** L2 penalty added to the gradient (sgd, adam) or decoupled weight decay (adamw; default 0.01 there, 0 otherwise). */
  weightDecay?: number;
  /** Adam's (beta1, beta2), default (0.9, 0.999). */
  betas?: [number, number];
  /** Adam's eps, default 1e-8. */
  eps?: number;
  /** BatchNorm's running-statistics momentum, default 0.1 (PyTorch's). */
  bnMomentum?: number;
  /**
   * "train" (default): BatchNorm normalises by the batch statistics and updates the running ones
   * (PyTorch's model.train()); "eval": by the running statistics, left as they are (model.eval(),
   * as when fine-tuning with frozen statistics).
   */
  mode?: "train" | "eval";
  /**
   * "matmul": every conv2d as a matmul over its windows (im2col), for targets whose convolution
   * kernels need constant weights (wasm); default "direct".
   */
  convolutions?: "direct" | "matmul";
  /**
   * Only trainable weights whose names match one of these patterns (`*` matches any run of
   * characters, e.g. "classifier.*") are updated; default: every trainable weight.
   */
  trainOnly?: readonly string[];
  /**
   * The seed of dropout's masks (default 0): each dropout draws random_uniform(step) with this
   * seed and its own stream, so every step gets a fresh mask and a rerun the same masks.
   */
  seed?: number;
}

/** A weight the step replaces with an output: a parameter, an optimizer state or a running statistic. */
export interface Update {
  weight: string;
  output: string;
}

export interface TrainingGraph {
  graph: Graph;
  /** The graph's inputs beside the model's: the learning rate and the 1-based step number, f32 scalars. */
  lrInput: string;
  stepInput: string;
  loss: string;
  /** The parameters the step trains, in order. */
  parameters: string[];
  /** Weights the optimizer added (zeros before the first step). */
  state: Weight[];
  updates: Update[];
  /** num_batches_tracked buffers: each step adds `increment`, the times the module ran (PyTorch's BatchNorm in training mode). */
  counters: { weight: string; increment: number }[];
}

export class TrainingError extends Error {}

const globToRegExp = (p: string) => new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);

/** The output name holding a weight's value after the step. */
export const nextName = (weight: string) => `next.${weight}`;

/** Rejects option values PyTorch's optimizers and BatchNorm reject (a TrainingError naming the option). */
export function checkTrainingOptions(o: TrainingOptions): void {
  const opt = o.optimizer ?? "sgd";
  if (!OPTIMIZERS.includes(opt)) throw new TrainingError(`unknown optimizer ${String(opt)} (one of ${OPTIMIZERS.join(", ")})`);
  const inRange = (name: string, v: number | undefined, ok: (v: number) => boolean, range: string) => {
    if (v !== undefined && !(typeof v === "number" && ok(v))) throw new TrainingError(`${name} must be ${range}, got ${String(v)}`);
  };
  // An option the optimizer does not read would be silently ignored.
  if (opt !== "sgd" && o.momentum !== undefined) throw new TrainingError(`momentum is for sgd; ${opt} has betas`);
  if (opt === "sgd" && (o.betas !== undefined || o.eps !== undefined)) throw new TrainingError(`${o.betas !== undefined ? "betas" : "eps"} is for adam and adamw, not sgd`);
  inRange("momentum", o.momentum, (v) => v >= 0, "a number >= 0");
  inRange("weightDecay", o.weightDecay, (v) => v >= 0, "a number >= 0");
  inRange("eps", o.eps, (v) => v > 0, "a number > 0");
  inRange("bnMomentum", o.bnMomentum, (v) => v >= 0 && v <= 1, "in [0, 1]");
  inRange("seed", o.seed, (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32, "an integer in [0, 2^32)");
  o.betas?.forEach((b, i) => inRange(`betas[${i}]`, b, (v) => v >= 0 && v < 1, "in [0, 1)"));
}

/**
 * The training step of `model` (weights unbound) as one graph: see the file's head and
 * docs/TRAINING.md. Errors in the options or the model are TrainingErrors.
 */
export function trainingGraph(model: Graph, options: TrainingOptions = {}): TrainingGraph {
  checkTrainingOptions(options);
  const opt = options.optimizer ?? "sgd";
  const lossName = options.loss ?? "loss";
  const lossPort = model.outputs.find((p) => p.name === lossName);
  if (!lossPort) throw new TrainingError(`no output ${lossName} to minimise (outputs: ${model.outputs.map((p) => p.name).join(", ")})`);
  const lossType = model.values[lossPort.value]!.type;
  if (lossType.dtype !== "f32" || lossType.shape.reduce((a, b) => a * b, 1) !== 1) throw new TrainingError(`the loss ${lossName} must be one f32 value, got ${lossType.dtype}[${lossType.shape.join(", ")}]`);
  if (model.weights.length === 0 && model.constants.some((c) => c.name !== undefined)) throw new TrainingError("the weights are bound as constants: build the training graph before binding weights");

  const [lrInput, stepInput] = [trainingInputName(model, "lr"), trainingInputName(model, "step")];
  const { graph: g, updates, counters, step: stepOfDropout } = trainingForward(model, options);
  const e = new Emit(g);
  const output = (weight: string, value: number) => {
    g.outputs.push({ name: nextName(weight), value });
    updates.push({ weight, output: nextName(weight) });
  };

  const patterns = options.trainOnly?.map(globToRegExp);
  const params = g.weights.filter((w) => w.trainable && w.type.dtype === "f32" && (!patterns || patterns.some((p) => p.test(w.name))));
  if (params.length === 0) throw new TrainingError(options.trainOnly ? `no trainable weight matches ${options.trainOnly.join(", ")}` : "the model has no trainable weights");
  const lossValue = g.outputs.find((p) => p.name === lossName)!.value;
  let grads: (number | undefined)[];
  try {
    grads = gradients(g, lossValue, params.map((p) => p.value));
  } catch (err) {
    throw err instanceof NotDifferentiable ? new TrainingError(err.message) : err;
  }

  const lr = scalarInput(g, lrInput);
  const step = stepOfDropout ?? scalarInput(g, stepInput);
  const state: Weight[] = [];
  const stateWeight = (param: Weight, kind: string) => {
    const v = g.values.length;
    const w: Weight = { name: `optimizer.${param.name}.${kind}`, value: v, type: { ...param.type, shape: [...param.type.shape] }, trainable: false, init: { kind: "zeros" } };
    g.values.push({ id: v, type: w.type, kind: "weight" });
    g.weights.push(w);
    state.push(w);
    return w;
  };

  const [beta1, beta2] = options.betas ?? [0.9, 0.999];
  const adamEps = options.eps ?? 1e-8;
  const decay = options.weightDecay ?? (opt === "adamw" ? 0.01 : 0);
  const trained: string[] = [];
  params.forEach((p, i) => {
    const grad = grads[i];
    // PyTorch skips a parameter without a gradient: no decay, no momentum, no step.
    if (grad === undefined) return;
    trained.push(p.name);
    let gr = decay !== 0 && opt !== "adamw" ? e.add(grad, e.mul(e.c(decay), p.value)) : grad;
    if (opt === "sgd") {
      if (options.momentum) {
        const buf = stateWeight(p, "momentum_buffer");
        gr = e.add(e.mul(e.c(options.momentum), buf.value), gr);
        output(buf.name, gr);
      }
      output(p.name, e.sub(p.value, e.mul(lr, gr)));
      return;
    }
    const [m, v] = [stateWeight(p, "exp_avg"), stateWeight(p, "exp_avg_sq")];
    const m1 = e.add(e.mul(e.c(beta1), m.value), e.mul(e.c(1 - beta1), gr));
    const v1 = e.add(e.mul(e.c(beta2), v.value), e.mul(e.c(1 - beta2), e.mul(gr, gr)));
    output(m.name, m1);
    output(v.name, v1);
    const correction = (beta: number) => e.oneMinus(e.node("pow", [e.c(beta), step]));
    const stepSize = e.div(lr, correction(beta1));
    const denom = e.add(e.div(e.un("sqrt", v1), e.un("sqrt", correction(beta2))), e.c(adamEps));
    const base = opt === "adamw" && decay !== 0 ? e.mul(p.value, e.oneMinus(e.mul(lr, e.c(decay)))) : p.value;
    output(p.name, e.sub(base, e.mul(stepSize, e.div(m1, denom))));
  });
  compact(g);
  verify(g);
  return { graph: g, lrInput, stepInput, loss: lossName, parameters: trained, state, updates, counters };
}

/** The name of the training graph's input `base` (lr, step): `train.<base>` if the model has an input of that name. */
const trainingInputName = (model: Graph, base: string) => (model.inputs.some((p) => p.name === base) ? `train.${base}` : base);

/** Adds an f32 scalar input to `g`; returns its value. */
function scalarInput(g: Graph, name: string): number {
  const v = g.values.length;
  g.values.push({ id: v, type: { dtype: "f32", shape: [] }, kind: "input" });
  g.inputs.push({ name, value: v });
  return v;
}

/**
 * Each dropout node of `g` in training mode, PyTorch's x * (mask / (1 - p)): the mask keeps an
 * element where random_uniform(step) > p (probability 1 - p, to 2^-24), each dropout its own
 * stream (its index in graph order), so a module applied twice draws two masks. The gradient is
 * then dy * mask / (1 - p), through the mul, with the same mask. Adds the step input `stepName`
 * to a graph with dropout; returns whether it did.
 */
function dropoutMasks(g: Graph, seed: number, stepName: string): boolean {
  const drops = g.nodes.filter((n) => n.op === "dropout");
  if (drops.length === 0) return false;
  const step = scalarInput(g, stepName);
  const e = new Emit(g);
  const rw = new Rewriter(g);
  drops.forEach((n, stream) => {
    const { p } = attrsOf(n, "dropout");
    const x = n.inputs[0]!;
    e.at(n);
    const u = e.node("random_uniform", [step], { shape: [...e.shape(x)], seed, stream });
    rw.replace(n.outputs[0]!, e.mul(x, e.div(e.positive(e.sub(u, e.c(p))), e.c(1 - p))));
  });
  return true;
}

/**
 * The model in core form with BatchNorm in training mode: each batchnorm normalises by its batch
 * statistics, and the running statistics after the step are outputs (`updates`). A module
 * applied twice (a shared Siamese tower) updates them twice, in order, as PyTorch does.
 */
export function trainingForward(
  model: Graph,
  options: Pick<TrainingOptions, "bnMomentum" | "convolutions" | "mode" | "seed"> = {},
): { graph: Graph; updates: Update[]; counters: TrainingGraph["counters"]; step?: number } {
  const copy = structuredClone(model);
  // Before the core form, where a dropout is the identity (its decomposition, and eval mode's).
  const stepName = trainingInputName(model, "step");
  const drawn = options.mode !== "eval" && dropoutMasks(copy, options.seed ?? 0, stepName);
  const core = toCoreForm(copy);
  const g = options.convolutions === "matmul" ? convolutionsAsMatmuls(core) : core;
  const e = new Emit(g);
  const weightName = new Map(g.weights.map((w) => [w.value, w.name]));
  const momentum = options.bnMomentum ?? 0.1;
  const running = new Map<string, number>();
  const applied = new Map<string, number>();
  const rw = new Rewriter(g);
  for (const n of [...g.nodes]) {
    if (n.op !== "batchnorm" || options.mode === "eval") continue;
    const { eps } = attrsOf(n, "batchnorm");
    const [x, gamma, beta, mean, variance] = n.inputs as [number, number, number, number, number];
    const shape = e.shape(x);
    const axes = shape.map((_, i) => i).filter((i) => i !== 1);
    const count = shape.reduce((a, b) => a * b, 1) / shape[1]!;
    if (count < 2) throw new TrainingError(`batchnorm${n.loc ? ` at ${n.loc.file}:${n.loc.line}:${n.loc.col}` : ""}: training needs more than one value per channel, got ${count}`);
    e.at(n);
    const bMean = e.node("reduce_mean", [x], { axes, keepdim: true });
    const centred = e.sub(x, bMean);
    const bVar = e.node("reduce_mean", [e.mul(centred, centred)], { axes, keepdim: true });
    const rank = shape.length;
    const y = e.add(e.mul(e.div(centred, e.un("sqrt", e.add(bVar, e.c(eps)))), e.alongAxis(gamma, 1, rank)), e.alongAxis(beta, 1, rank));
    rw.replace(n.outputs[0]!, y);
    const blend = (old: number, batch: number) => e.add(e.mul(e.c(1 - momentum), old), e.mul(e.c(momentum), e.reshape(batch, e.shape(old))));
    // The running variance is the unbiased one, as PyTorch keeps it.
    for (const [stat, batch] of [[mean, bMean], [variance, e.mul(bVar, e.c(count / (count - 1)))]] as const) {
      const name = weightName.get(stat);
      if (name === undefined) throw new TrainingError("batchnorm: its running statistics must be weights");
      running.set(name, blend(running.get(name) ?? stat, batch));
    }
    const counter = `${weightName.get(mean)!.replace(/running_mean$/, "")}num_batches_tracked`;
    applied.set(counter, (applied.get(counter) ?? 0) + 1);
  }
  const counters = [...applied].filter(([name]) => model.weights.some((w) => w.name === name)).map(([weight, increment]) => ({ weight, increment }));
  const updates = [...running].map(([weight, value]) => {
    g.outputs.push({ name: nextName(weight), value });
    return { weight, output: nextName(weight) };
  });
  // The new nodes were appended: back to topological order.
  compact(g);
  // Compaction renumbers values: the step input by its name.
  return { graph: g, updates, counters, ...(drawn ? { step: g.inputs.find((p) => p.name === stepName)!.value } : {}) };
}

/**
 * Every batchnorm of `g` (core form) in its inference form as elementwise core ops,
 * (x - mean) / sqrt(var + eps) * gamma + beta: for targets whose batchnorm kernel folds constant
 * statistics (wasm) running an eval forward whose weights are inputs.
 */
export function batchnormsAsElementwise(g: Graph): Graph {
  const e = new Emit(g);
  const rw = new Rewriter(g);
  for (const n of [...g.nodes]) {
    if (n.op !== "batchnorm") continue;
    const { eps } = attrsOf(n, "batchnorm");
    const [x, gamma, beta, mean, variance] = n.inputs as [number, number, number, number, number];
    const rank = e.shape(x).length;
    e.at(n);
    const along = (v: number) => e.alongAxis(v, 1, rank);
    const scale = e.div(along(gamma), e.un("sqrt", e.add(along(variance), e.c(eps))));
    rw.replace(n.outputs[0]!, e.add(e.mul(e.sub(x, along(mean)), scale), along(beta)));
  }
  compact(g);
  return g;
}

/**
 * The training graph with every weight it reads (parameters, optimizer state, running
 * statistics) turned into an input of the same name: a step any target runs as a pure
 * function, with nothing for constant folding to bake in.
 */
export function weightsAsInputs(tg: Pick<TrainingGraph, "graph">): Graph {
  const g = structuredClone(tg.graph);
  for (const w of g.weights) {
    g.values[w.value]!.kind = "input";
    g.inputs.push({ name: w.name, value: w.value });
  }
  g.weights = [];
  return g;
}
