// `npm run bench:train`: graphc's training module (compile(src, { train })) against TensorFlow.js
// training the same model (tfjs-wasm; tfjs-cpu as a labelled extra) with the same weights, batch
// and optimizer (SGD with momentum 0.9: PyTorch's formula is TF.js's MomentumOptimizer's). TF.js
// runs graphc's training forward graph (core form, BatchNorm in training mode) op by op
// (test/autodiff/tf-graph.ts, the gradient oracle's builder) and differentiates it with its own
// gradients. Each engine trains in its own child process (bench/train-engine.ts); this one checks
// that the first step gave the same loss and weights on every engine, then writes the report.
//   --models siamese_contrastive,tinybert_cls,tinybert_cls_full
//   --engines graphc-baseline,graphc-relaxed,tfjs-wasm,tfjs-cpu   --warmup 2 --steps 10 --cpu-steps 1 --repeat 2 --lr 0.001
//   --out bench/results/2026-12-01-training
//   --profile: also where graphc's step time goes, kernel by kernel (the wasm built with its function
//     names, each graphc engine under node --cpu-prof: self time by kernel function), in the report
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import binaryen from "binaryen";
import { trainingForward } from "../src/autodiff/index.js";
import { compileTraining, elaborate, modelWeights } from "../src/driver.js";
import type { Graph } from "../src/ir/graph.js";
import { compact } from "../src/ir/rewrite.js";
import { readSafetensors, writeSafetensors } from "../src/weights/safetensors.js";
import type { TensorData } from "../src/weights/tensor.js";
import type { InputFile } from "./engine.js";
import { writeGraphFile } from "./peers/graph-file.js";
import type { TrainEngine, TrainJob, TrainResult } from "./train-engine.js";
import { median } from "./measure.js";

const ENGINES: Record<TrainEngine, string> = {
  "graphc-baseline": "graphc's training module, SIMD128, one thread (training modules run on one thread)",
  "graphc-relaxed": "graphc's training module, relaxed SIMD, one thread",
  "tfjs-wasm": "TensorFlow.js 4.22, tfjs-core + tfjs-backend-wasm (XNNPACK, SIMD; one thread under Node), tf.train.momentum(...).minimize",
  "tfjs-wasm-convgrad":
    "tfjs-wasm with a conv2d gradient the user writes (tf.customGrad) from kernels the wasm backend has, since it lacks Conv2DBackpropFilter: the input gradient as conv2dTranspose, the filter gradient as a conv2d of the padded input (batch and channels swapped) with dy as the filter, dilated by the stride; not stock TF.js, a labelled variant",
  "tfjs-cpu": "TensorFlow.js 4.22, tfjs-core + tfjs-backend-cpu (plain JavaScript): a labelled extra, never the wasm figure",
};
const engines = Object.keys(ENGINES) as TrainEngine[];

interface ModelCase {
  what: string;
  source: { path: string; text?: string };
  set?: Record<string, number>;
  shapes?: Record<string, number[]>;
  /** Engines not run on this model, and why. */
  skip?: Partial<Record<TrainEngine, string>>;
  /** Weights the step trains (trainOnly patterns); default all. */
  trainOnly?: string[];
  inputs(g: Graph): InputFile;
}

/** A deterministic generator of uniform [0, 1) values. */
function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const portShape = (g: Graph, name: string) => g.values[g.inputs.find((p) => p.name === name)!.value]!.type.shape;

const BATCH = 8;
const IMAGE = 64;
const SEQ = 32;

/** TinyBERT 4L-312 (specs/tinybert_4l_312.nn's sizes) with a 3-way classification head and a cross-entropy loss. */
const TINYBERT_CLS = `import "lib/bert.nn"
model tinybert_cls(batch: int = ${BATCH}, seq: int = ${SEQ}) {
  input input_ids: i32[batch, seq]
  input token_type_ids: i32[batch, seq]
  input attention_mask: i32[batch, seq]
  input target: f32[batch, 3]
  hidden, pooled = bert: bert_model(input_ids, token_type_ids, attention_mask, hidden=312, layers=4, heads=12, intermediate_size=1200)
  logits = classifier: linear(dropout(pooled), 3)
  output logits = logits
  output loss = mean(sum(target * log(softmax(logits, axis=-1)), [1]), [0]) * -1.0
}`;

function bertInputs(g: Graph): InputFile {
  const r = uniform(7);
  const [b, s] = portShape(g, "input_ids") as [number, number];
  const ints = (f: (i: number) => number) => Array.from({ length: b * s }, (_, i) => f(i));
  const target = Array.from({ length: b * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));
  return {
    input_ids: { dtype: "i32", shape: [b, s], data: ints(() => Math.floor(r() * 30522)) },
    token_type_ids: { dtype: "i32", shape: [b, s], data: ints((i) => (i % s >= s / 2 ? 1 : 0)) },
    // Each sequence ends in a few padding positions.
    attention_mask: { dtype: "i32", shape: [b, s], data: ints((i) => (i % s < s - 1 - (Math.floor(i / s) % 4) ? 1 : 0)) },
    target: { dtype: "f32", shape: [b, 3], data: target },
  };
}

const MODELS: Record<string, ModelCase> = {
  siamese_contrastive: {
    what: `specs/siamese_contrastive.nn (dim 128): two ${IMAGE}x${IMAGE} images a pair through the shared 4-stage conv(3x3/2)-BatchNorm-ReLU tower, contrastive loss; batch ${BATCH} pairs; every weight trained`,
    source: { path: "specs/siamese_contrastive.nn" },
    set: { dim: 128 },
    shapes: { image_a: [BATCH, 3, IMAGE, IMAGE], image_b: [BATCH, 3, IMAGE, IMAGE], label: [BATCH] },
    inputs: (g) => {
      const r = uniform(5);
      const image = (name: string) => ({ dtype: "f32" as const, shape: portShape(g, name), data: Array.from({ length: BATCH * 3 * IMAGE * IMAGE }, () => 2 * r() - 1) });
      return { image_a: image("image_a"), image_b: image("image_b"), label: { dtype: "f32", shape: [BATCH], data: Array.from({ length: BATCH }, (_, i) => i % 2) } };
    },
  },
  tinybert_cls: {
    what: `TinyBERT 4L-312 (12 heads, intermediate 1200, vocab 30522) + a 3-way linear head, cross-entropy; batch ${BATCH}, seq ${SEQ}; the embedding tables frozen (fine-tuning the encoder, its LayerNorms, the pooler and the head)`,
    source: { path: "specs/tinybert_cls.nn", text: TINYBERT_CLS },
    trainOnly: ["bert.encoder.*", "bert.pooler.*", "bert.embeddings.LayerNorm.*", "classifier.*"],
    inputs: bertInputs,
  },
  tinybert_cls_full: {
    what: `the same TinyBERT classifier with every weight trained, the embedding tables too`,
    source: { path: "specs/tinybert_cls.nn", text: TINYBERT_CLS },
    skip: { "tfjs-cpu": "tfjs-cpu's UnsortedSegmentSum (the embedding tables' gradient) runs one tensor op per segment, 30522 of them: a first step was stopped after 4 minutes at 4.2 GiB RSS" },
    inputs: bertInputs,
  },
};

const { values } = parseArgs({
  options: {
    models: { type: "string", default: Object.keys(MODELS).join(",") },
    engines: { type: "string", default: engines.join(",") },
    warmup: { type: "string", default: "2" },
    steps: { type: "string", default: "10" },
    // tfjs-cpu's naive Conv2DBackpropFilter takes about a minute a step on the Siamese tower.
    "cpu-steps": { type: "string", default: "1" },
    lr: { type: "string", default: "0.001" },
    // Each engine's runs alternate with the others' (the machine is shared and noisy); ratios are per run, then their median.
    repeat: { type: "string", default: "2" },
    profile: { type: "boolean", default: false },
    out: { type: "string", default: "bench/results/2026-12-01-training" },
  },
});
const picked = values.engines.split(",") as TrainEngine[];
for (const e of picked) if (!engines.includes(e)) throw new Error(`unknown engine ${e} (engines: ${engines.join(", ")})`);
const models = values.models.split(",");
for (const m of models) if (!MODELS[m]) throw new Error(`unknown model ${m} (models: ${Object.keys(MODELS).join(", ")})`);
const [warmup, steps, cpuSteps, lr, repeat] = (["warmup", "steps", "cpu-steps", "lr", "repeat"] as const).map((k) => {
  const n = Number(values[k]);
  if (!(n > 0)) throw new Error(`--${k} must be a number > 0`);
  return n;
}) as [number, number, number, number, number];
const MOMENTUM = 0.9;
const tmp = join("bench/results/tmp", "train");
// The kernels' function names in the wasm (a name section), for the CPU profile.
if (values.profile) binaryen.setDebugInfo(true);
const log = (s: string) => process.stderr.write(`bench:train: ${s}\n`);

/** The model's files for every engine: graphc's training module, TF.js's forward graph and weights, the batch. */
async function prepare(name: string) {
  const m = MODELS[name]!;
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const opts = { ...(m.set ? { set: m.set } : {}), ...(m.shapes ? { shapes: m.shapes } : {}) };
  const { graph } = elaborate(m.source, opts);
  const weights = modelWeights(graph, { seed: 0 }).data;
  log(`${name}: compiling the training module`);
  const t0 = performance.now();
  const compiled = await compileTraining(m.source, { ...opts, weights, train: { optimizer: "sgd", momentum: MOMENTUM, lr, ...(m.trainOnly ? { trainOnly: m.trainOnly } : {}) } });
  const compileMs = performance.now() - t0;
  for (const f of compiled.files) writeFileSync(join(dir, f.name), f.contents);
  const tg = compiled.training;
  // The running statistics and the parameters the training graph updates.
  const running = tg.updates.filter((u) => !tg.parameters.includes(u.weight) && !tg.state.some((s) => s.name === u.weight));
  const forward = compact(trainingForward(graph).graph);
  const graphFile = join(dir, `${name}.forward.graph.json`);
  writeGraphFile(forward, graphFile);
  const weightsFile = join(dir, `${name}.safetensors`);
  writeFileSync(weightsFile, writeSafetensors(graph.weights.map((w) => ({ name: w.name, shape: w.type.shape, data: weights.get(w.name)! }))));
  const inputsFile = join(dir, `${name}.inputs.json`);
  writeFileSync(inputsFile, JSON.stringify(m.inputs(graph)));
  const job = (engine: TrainEngine): TrainJob => ({
    engine,
    model: name,
    module: join(dir, `${graph.name}.mjs`),
    graph: graphFile,
    weights: weightsFile,
    inputs: inputsFile,
    parameters: tg.parameters,
    running,
    lr,
    momentum: MOMENTUM,
    // The labelled extra: no warm-up beyond the checked step, fewer timed steps.
    warmup: engine === "tfjs-cpu" ? 0 : warmup,
    steps: engine === "tfjs-cpu" ? cpuSteps : steps,
    firstStep: join(dir, `${engine}.first-step.safetensors`),
  });
  const params = tg.parameters.reduce((n, p) => n + weights.get(p)!.length, 0);
  return { job, weights, compileMs, params, hasConv: forward.nodes.some((n) => n.op === "conv2d"), trained: tg.parameters.length, all: graph.weights.filter((w) => w.trainable).length };
}

function runEngine(job: TrainJob): TrainResult {
  const skipped = MODELS[job.model]!.skip?.[job.engine];
  if (skipped) return { ok: false, error: `not run: ${skipped}` };
  const flags = job.engine === "graphc-relaxed" && Number(process.versions.node.split(".")[0]) < 22 ? ["--experimental-wasm-relaxed-simd"] : [];
  if (values.profile && job.engine.startsWith("graphc")) rmSync(profileDir(job), { recursive: true, force: true });
  if (values.profile && job.engine.startsWith("graphc")) flags.push("--cpu-prof", `--cpu-prof-dir=${profileDir(job)}`);
  let out: string;
  try {
    out = execFileSync(process.execPath, [...flags, new URL("./train-engine.js", import.meta.url).pathname, JSON.stringify(job)], { encoding: "utf8", maxBuffer: 2 ** 30, stdio: ["ignore", "pipe", "inherit"] });
  } catch (e) {
    return { ok: false, error: `the engine's process failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` };
  }
  return JSON.parse(out.trim().split("\n").pop()!) as TrainResult;
}

/**
 * The first step, engine against reference: the parameters' implied gradients (w0 - w1) / lr (one
 * SGD step from zero momentum is w1 = w0 - lr g) within REL of the tensor's largest plus ABS, and
 * the running statistics within REL of their largest. Both sides sum in float32 in other orders
 * through a dozen normalisations (the gradient oracle test sees 1e-4); ABS covers gradients that
 * are 0 in exact arithmetic (the attention key's bias) and w1's rounding (an ulp of w / lr).
 */
const REL = 1e-3;
const ABS = 1e-5;
function stepAgreement(w0: ReadonlyMap<string, TensorData>, a: string, b: string, parameters: readonly string[]): { worst: number; tensor: string } {
  const [ta, tb] = [a, b].map((f) => readSafetensors(new Uint8Array(readFileSync(f))));
  let worst = { worst: 0, tensor: "" };
  for (const [name, x] of ta!) {
    const y = tb!.get(name)!.data as Float32Array;
    const p = x.data as Float32Array;
    const base = w0.get(name) as Float32Array;
    const isParam = parameters.includes(name);
    const implied = (w: Float32Array) => (isParam ? Float64Array.from(w, (v, i) => (base[i]! - v) / lr) : Float64Array.from(w));
    const [ga, gb] = [implied(p), implied(y)];
    const scale = gb.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const ulp = isParam ? (base.reduce((m, v) => Math.max(m, Math.abs(v)), 0) * 2 ** -23) / lr : 0;
    const limit = REL * scale + (isParam ? ABS + 2 * ulp : 1e-7);
    const diff = ga.reduce((m, v, i) => Math.max(m, Math.abs(v - gb[i]!)), 0);
    if (diff / limit > worst.worst) worst = { worst: diff / limit, tensor: name };
  }
  return worst;
}

const profileDir = (job: TrainJob) => join(tmp, job.model, `profile-${job.engine}`);

/**
 * Self time by wasm kernel in the engine's newest CPU profile (every step, the checked one
 * included): a kernel function is named NAME_N (codegen/wasm/module.ts), N its place in the run.
 */
function kernelProfile(job: TrainJob): { kernel: string; ms: number; share: number }[] {
  const dir = profileDir(job);
  const file = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  const p = JSON.parse(readFileSync(file, "utf8")) as { nodes: { callFrame: { functionName: string; url: string }; hitCount: number }[]; startTime: number; endTime: number; samples: number[] };
  const msPerSample = (p.endTime - p.startTime) / 1000 / p.samples.length;
  const self = new Map<string, number>();
  for (const n of p.nodes) {
    const name = n.callFrame.url.startsWith("wasm://") ? n.callFrame.functionName : "(JavaScript, load, idle and the rest)";
    self.set(name, (self.get(name) ?? 0) + n.hitCount * msPerSample);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return [...self].map(([kernel, ms]) => ({ kernel, ms, share: ms / total })).sort((a, b) => b.ms - a.ms);
}

interface Row {
  model: string;
  engine: TrainEngine;
  /** The first run's result (the memory figures, the profile). */
  result: TrainResult;
  /** Each run's median step time. */
  runsMs: number[];
  /** The wasm figure: tfjs-wasm, or tfjs-wasm-convgrad where stock tfjs-wasm cannot train the model. */
  wasmRef?: TrainEngine;
  /** Each run's median step time / that run's wasm figure (below 1 is faster), and their median. */
  vsWasmRuns?: number[];
  vsWasm?: number;
  /** The labelled extra: the median over runs / tfjs-cpu's (one run). */
  vsCpu?: number;
  /** The first step against the reference engine: worst difference / its limit (<= 1 agrees). */
  agreement?: { reference: TrainEngine; worst: number; tensor: string };
}

const TARGET = 0.5;
const mib = (b: number | undefined) => (b === undefined ? "-" : (b / 2 ** 20).toFixed(0));
const fixed = (x: number | undefined, d = 2) => (x === undefined ? "-" : x.toFixed(d));
/** A time ratio: two decimals, or two significant digits below 0.1. */
const ratio = (x: number | undefined) => (x === undefined ? "-" : x < 0.1 ? x.toPrecision(2) : x.toFixed(2));

const rows: Row[] = [];
const notes: string[] = [];
const profiles: { model: string; engine: TrainEngine; kernels: ReturnType<typeof kernelProfile> }[] = [];
for (const model of models) {
  const prep = await prepare(model);
  notes.push(`- ${model}: ${MODELS[model]!.what}. ${prep.trained} of ${prep.all} trainable tensors trained (${(prep.params / 1e6).toFixed(2)} M parameters); graphc compile ${(prep.compileMs / 1000).toFixed(1)} s.`);
  // The user-written conv gradient only differs from stock tfjs-wasm on a model with convolutions.
  const used = picked.filter((e) => e !== "tfjs-wasm-convgrad" || prep.hasConv);
  const runs = new Map<TrainEngine, TrainResult[]>(used.map((e) => [e, []]));
  for (let run = 0; run < repeat; run++)
    for (const engine of used) {
      // The labelled extra, and an engine that cannot train the model, run once.
      if (run > 0 && (engine === "tfjs-cpu" || !runs.get(engine)![0]!.ok)) continue;
      log(`${model}: ${engine}, run ${run + 1} of ${repeat}`);
      const r = runEngine(prep.job(engine));
      if (!r.ok) log(`${model}: ${engine} failed: ${r.error}`);
      runs.get(engine)!.push(r);
      if (values.profile && run === 0 && r.ok && engine.startsWith("graphc")) profiles.push({ model, engine, kernels: kernelProfile(prep.job(engine)) });
    }
  const first = (e: TrainEngine) => (runs.get(e)?.[0]?.ok ? e : undefined);
  // The wasm figure: stock tfjs-wasm, else (labelled) the user-written conv gradient variant.
  const wasmRef = first("tfjs-wasm") ?? first("tfjs-wasm-convgrad");
  const cpu = runs.get("tfjs-cpu")?.[0];
  const reference = wasmRef ?? first("tfjs-cpu");
  for (const [engine, rs] of runs) {
    const r = rs[0]!;
    const row: Row = { model, engine, result: r, runsMs: r.ok ? rs.map((x) => x.medianMs!) : [] };
    if (r.ok && wasmRef) {
      row.wasmRef = wasmRef;
      row.vsWasmRuns = rs.map((x, i) => x.medianMs! / runs.get(wasmRef)![i]!.medianMs!);
      row.vsWasm = median(row.vsWasmRuns);
    }
    if (r.ok && cpu?.ok) row.vsCpu = median(row.runsMs) / cpu.medianMs!;
    if (r.ok && reference && engine !== reference) row.agreement = { reference, ...stepAgreement(prep.weights, prep.job(engine).firstStep, prep.job(reference).firstStep, prep.job(engine).parameters) };
    rows.push(row);
  }
}

function markdown(): string {
  const head = "| model | engine | median step ms, each run | min ms | steps | TF.js wasm figure | / it, each run | / it, median | / tfjs-cpu (extra) | first loss | loss after | first step vs reference | peak RSS MiB | wasm memory MiB | TF.js live / peak tensor MiB |";
  const line = (r: Row) => {
    const x = r.result;
    if (!x.ok) return `| ${r.model} | ${r.engine} | ${x.error!.startsWith("not run") ? "" : "cannot train: "}${x.error!.replace(/\|/g, "\\|").split("\n")[0]} | | | | | | | | | | | | | |`;
    const agree = r.agreement ? `${fixed(r.agreement.worst)} of the limit vs ${r.agreement.reference} (${r.agreement.tensor})${r.agreement.worst <= 1 ? "" : " **differs**"}` : "reference";
    const tfMem = x.tfLiveBytes === undefined ? "-" : `${mib(x.tfLiveBytes)} / ${mib(x.tfPeakBytes)}`;
    return `| ${r.model} | ${r.engine} | ${r.runsMs.map((ms) => ms.toFixed(1)).join(", ")} | ${fixed(x.minMs, 1)} | ${x.steps} | ${r.wasmRef ?? "-"} | ${r.vsWasmRuns?.map(ratio).join(", ") ?? "-"} | ${ratio(r.vsWasm)} | ${ratio(r.vsCpu)} | ${x.firstLoss!.toPrecision(6)} | ${x.lastLoss!.toPrecision(6)} | ${agree} | ${mib(x.peakRssBytes)} | ${mib(x.wasmMemoryBytes)} | ${tfMem} |`;
  };
  const verdicts = rows
    .filter((r) => r.engine.startsWith("graphc") && r.result.ok)
    .map((r) => {
      const stock = rows.find((w) => w.model === r.model && w.engine === "tfjs-wasm");
      const cpuExtra = r.vsCpu !== undefined ? `; against tfjs-cpu (extra) ${ratio(r.vsCpu)}` : "";
      if (r.vsWasm === undefined) return `- ${r.model} ${r.engine}: no TF.js wasm figure (${stock ? "TF.js wasm cannot train it" : "not run"})${cpuExtra}`;
      const label = r.wasmRef === "tfjs-wasm" ? "tfjs-wasm" : `${r.wasmRef} (stock tfjs-wasm cannot train it: ${stock?.result.error ?? "not run"})`;
      return `- ${r.model} ${r.engine} / ${label}: ${ratio(r.vsWasm)} (target <= ${TARGET}): ${r.vsWasm <= TARGET ? "met" : "**not met**"}${cpuExtra}`;
    });
  const kernels = rows
    .filter((r) => r.result.kernels)
    .map((r) => `- ${r.model} ${r.engine}: ${r.result.kernels!.map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(", ")}`);
  // Kernel functions are NAME_N: by NAME, and the costliest single kernels.
  const byFamily = (ks: ReturnType<typeof kernelProfile>) => {
    const m = new Map<string, number>();
    for (const k of ks) m.set(k.kernel.replace(/_\d+$/, ""), (m.get(k.kernel.replace(/_\d+$/, "")) ?? 0) + k.share);
    return [...m].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, share]) => `${k} ${(100 * share).toFixed(1)}%`).join(", ");
  };
  const profileLines = profiles.map((p) => `- ${p.model} ${p.engine}: by kernel kind: ${byFamily(p.kernels)}. Costliest kernels: ${p.kernels.slice(0, 8).map((k) => `${k.kernel} ${(100 * k.share).toFixed(1)}%`).join(", ")}`);
  const missing = rows.filter((r) => r.result.missingOnWasm).map((r) => `- ${r.model}: ${r.result.missingOnWasm!.join(", ") || "none"}`);
  const machine = `${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} at the end), Node ${process.version}, ${new Date().toISOString()}`;
  return [
    `# Training-step benchmark\n\n${machine}; ${repeat} runs per engine, alternating; per run one step checked, ${warmup} warm-up steps, then ${steps} timed steps (median; tfjs-cpu: no warm-up, ${cpuSteps} timed); SGD, lr ${lr}, momentum ${MOMENTUM}; the same batch every step.\n`,
    ...picked.map((e) => `- ${e}: ${ENGINES[e]}`),
    "",
    ...notes,
    "",
    `How TF.js runs the model: graphc's training forward graph (core form: BatchNorm in training mode as means and elementwise ops, attention as batched matmuls and softmax) op by op through test/autodiff/tf-graph.ts, the gradient oracle's table, with two ops as a TF.js user writes them: linears against weights stored [in, out] (tf.layers.dense's kernel; the forward matmul is the plain 2-D one XNNPACK runs) and tf.softmax (its closed-form gradient). Convolutions run NHWC between transposes from and to graphc's NCHW. The gradients are TF.js's own (tf.train.momentum(lr, 0.9).minimize); tfjs-backend-wasm 4.22 sends only plain 2-D matmuls to XNNPACK, so the backward's transposed and the attention's batched matmuls take its scalar BatchMatMul loop (see the kernel profile). No CPU backend is loaded in a tfjs-wasm process (the backends it registered: ${[...new Set(rows.filter((r) => r.engine.startsWith("tfjs-wasm") && r.result.backends).map((r) => r.result.backends!.join(" + ")))].join("; ") || "-"}): a kernel the wasm backend lacks is an error (tfjs-core's runKernel throws), not a fallback.\n`,
    `Step time: wall time of one step() (graphc: the trainer's step, its loss read back; TF.js: optimizer.minimize on the graph run as tf ops, the running statistics assigned, the loss read with dataSync). TF.js wasm figure: the engine the ratio is against, stock tfjs-wasm where it trains the model, else the labelled tfjs-wasm-convgrad variant. first step vs reference: the weights after the first step against the reference engine's (that wasm figure, else tfjs-cpu), as implied gradients (w0 - w1) / lr, worst tensor's difference / (${REL} x its largest + ${ABS} + 2 ulp(w) / lr); running statistics within ${REL} of their largest (<= 1 agrees). Peak RSS: the engine process's VmHWM after the timed steps (the process loads only its engine; TF.js's also reads the graph JSON). wasm memory: graphc's step and eval builds' linear memories (allocated once at their full size); TF.js wasm's heap after the steps (emscripten's heap only grows). TF.js live / peak: tf.memory().numBytes after the steps (weights, optimizer state) / tf.profile()'s peakBytes over one step.\n`,
    head,
    head.replace(/[^|]+/g, " --- "),
    ...rows.map(line),
    "\n## Target (graphc / TF.js wasm <= 0.5; median of the runs' ratios)\n",
    ...verdicts,
    ...(kernels.length ? ["\n## TF.js kernel time of one profiled step (ms, top 12)\n", ...kernels] : []),
    ...(profileLines.length ? ["\n## graphc: self time by wasm kernel (node --cpu-prof over the whole process, every step; the wasm built with its names section; this run's step times include the profiler's sampling)\n", ...profileLines] : []),
    ...(missing.length ? ["\n## Kernels of the TF.js step (tfjs-cpu's profile) that tfjs-backend-wasm 4.22 does not register\n", ...missing] : []),
    "",
  ].join("\n");
}

const md = markdown();
mkdirSync(join(values.out, ".."), { recursive: true });
writeFileSync(`${values.out}.json`, JSON.stringify({ options: values, rows: rows.map((r) => ({ ...r, result: { ...r.result } })) }, null, 2) + "\n");
writeFileSync(`${values.out}.md`, md);
process.stdout.write(md);
if (rows.some((r) => r.agreement && r.agreement.worst > 1)) {
  log("a first step differs from the reference engine's beyond the tolerance");
  process.exitCode = 1;
}
