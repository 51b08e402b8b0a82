// The compile driver, the one place the stages meet (for the CLI, the API and the tests):
// source -> elaborate -> weights -> bind -> passes -> lower for the target -> emit. Each stage is
// a function of its own, so a caller can stop early (compile --stats, run --backend interp) or
// look in between (--print-after); compileModel() runs them all and times them.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { describeNode, TargetLimitError, type ConstantsRunner, type Emitted, type EmitOptions, type Target, type TargetFile, type TargetOptions } from "../codegen/target.js";
import type { TargetName } from "../codegen/targets.js";
import { batchnormsAsElementwise, checkTrainingOptions, OPTIMIZERS, trainingForward, trainingGraph, TrainingError, weightsAsInputs, type TrainingGraph, type TrainingOptions } from "./autodiff/index.js";
import { EnvironmentError, isSystemError, systemErrorReason, UsageError } from "./base/errors.js";
import { elaborateFile, elaborateSource, renderDiagnostic, SOURCE_TEXT, type Diagnostic, type ElaborateOptions } from "./frontend/index.js";
import { decompose } from "./ir/decompose.js";
import { numel, type Graph, type Node } from "./ir/graph.js";
import { bindWeights } from "./ir/rewrite.js";
import { InterpError } from "./interp/index.js";
import { importOnnx, OnnxImportError, type Imported } from "./onnx/import.js";
import { defaultPipeline, getPass, runPipeline, type PassStat, type PipelineOptions } from "./passes/index.js";
import { compileStats, type CompileStats } from "./passes/stats.js";
import { matchCheckpoint, renamedName, unreadBuffers, type Renames } from "./weights/bind.js";
import { fanInMeans, randomInputs } from "./weights/calibrate.js";
import { DEFAULT_TOLERANCE, keepWithinTolerance, type PrecisionReport } from "./precision.js";
import { loadWeights } from "./weights/load.js";
import { WeightsError, type TensorData } from "./weights/tensor.js";

/** .nn text, a file (.nn or .onnx), text standing for a file (its imports resolve next to `path`), or ONNX bytes. */
export type ModelSource = string | { path: string; text?: string } | Uint8Array;

/** Is the file an ONNX model (by its extension)? */
export const isOnnxPath = (path: string) => path.toLowerCase().endsWith(".onnx");

/** The model has errors; `diagnostics` holds them rendered with source excerpts. */
export class CompileError extends Error {
  override readonly name = "CompileError";
  constructor(readonly diagnostics: string[]) {
    super(`${diagnostics.length} error${diagnostics.length === 1 ? "" : "s"} in the model:\n\n${diagnostics.join("\n\n")}`);
  }
}

/**
 * ONNX bytes as .nn source and weights (the import every ONNX path goes through); the model's
 * problems (each unsupported node, a dynamic dim without a size) are one CompileError listing
 * them all. `file` names the model in messages; `name` defaults to its base name.
 */
export function importModel(bytes: Uint8Array, file: string, options: { shapes?: Record<string, number[]>; name?: string } = {}): Imported {
  try {
    return importOnnx(bytes, file, { ...(options.shapes ? { shapes: options.shapes } : {}), name: options.name ?? basename(file).replace(/\.onnx$/i, "") });
  } catch (e) {
    if (e instanceof OnnxImportError) throw new CompileError(e.problems.map((p) => `error: ${p}`));
    throw e;
  }
}

/** An .onnx file's bytes; a file error names the path. */
export function readOnnxFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw fileError(e, path, "cannot read");
  }
}

/** What elaboration gives: the graph, its warnings rendered, and for an ONNX model its own weights. */
export interface Elaborated {
  graph: Graph;
  warnings: string[];
  /** The ONNX model's initializers (and weight-like Constants), by .nn name. */
  weights?: Map<string, TensorData>;
}

/** Stage 1: the model's graph, and its warnings rendered; a CompileError when it has errors. ONNX models are imported first. */
export function elaborate(source: ModelSource, options: ElaborateOptions = {}): Elaborated {
  if (source instanceof Uint8Array) return elaborateOnnx(source, "model.onnx", options);
  if (typeof source === "object" && isOnnxPath(source.path)) return elaborateOnnx(readOnnxFile(source.path), source.path, options);
  const r =
    typeof source === "string"
      ? elaborateSource(source, SOURCE_TEXT, options)
      : source.text !== undefined
        ? elaborateSource(source.text, source.path, options)
        : elaborateFile(source.path, options);
  const rendered = (severity: Diagnostic["severity"]) => r.diagnostics.filter((d) => d.severity === severity).map((d) => renderDiagnostic(d, r.sources));
  // The frontend reports every reason it gives no graph (an empty file included) as an error.
  if (!r.graph) throw new CompileError(rendered("error"));
  return { graph: r.graph, warnings: rendered("warning") };
}

/** An ONNX model: imported, then its .nn source elaborated (diagnostics name FILE.onnx.nn, the text `graphc import` writes). */
function elaborateOnnx(bytes: Uint8Array, file: string, options: ElaborateOptions): Elaborated {
  const imported = importModel(bytes, file, options.shapes ? { shapes: options.shapes } : {});
  // The input sizes went into the import (they are the defaults of its parameters).
  const { shapes: _, ...rest } = options;
  const { graph, warnings } = elaborate({ path: `${file}.nn`, text: imported.source }, rest);
  return { graph, warnings: [...imported.warnings.map((w) => `warning: ${w}`), ...warnings], weights: imported.weights };
}

export interface WeightOptions {
  /** Checkpoint tensors by name, or a .safetensors or torch.save (.pt/.pth) path; default: seeded initialisation. */
  weights?: ReadonlyMap<string, TensorData> | string;
  /** Seed of the default weights (default 0). */
  seed?: number;
  /** Errors, not defaults and warnings: a missing buffer inference never reads (`num_batches_tracked`), a tensor the model does not declare. */
  strict?: boolean;
  /** Tensors the model does not declare are warnings even when `strict` (they are by default). */
  allowUnexpected?: boolean;
  /** `[old, new]` name prefix rewrites of the checkpoint's names, applied in order before matching. */
  rename?: Renames;
}

/** Whether `model` gets seeded weights: no checkpoint given and no ONNX weights of its own. */
export function hasSeededWeights(model: Elaborated, weights: WeightOptions["weights"]): boolean {
  return weights === undefined && !model.weights;
}

/** Stage 2: the model's weights, and warnings about them ("warning: ..."). */
export function modelWeights(graph: Graph, options: WeightOptions = {}): { data: Map<string, TensorData>; warnings: string[] } {
  const { weights, seed = 0, strict, allowUnexpected, rename } = options;
  const checks = { strict, allowUnexpected, rename };
  const { data, warnings } =
    typeof weights === "object"
      ? matchCheckpoint(graph.weights, withDeclaredShapes(graph, weights, rename ?? []), { ...checks, file: "options.weights", optional: unreadBuffers(graph) })
      : loadWeights(graph, { ...checks, file: weights, seed });
  return { data, warnings: warnings.map((w) => `warning: ${w}`) };
}

/** A bare array has no shape: it gets the declared one (of its name after `rename`) when the element count fits, so a wrong size is reported as a shape mismatch. */
function withDeclaredShapes(graph: Graph, tensors: ReadonlyMap<string, TensorData>, rename: Renames): Map<string, { shape: number[]; data: TensorData }> {
  const declared = new Map(graph.weights.map((w) => [w.name, w.type.shape]));
  return new Map(
    [...tensors].map(([name, data]) => {
      const shape = declared.get(renamedName(name, rename));
      return [name, { shape: shape && numel(shape) === data.length ? shape : [data.length], data }];
    }),
  );
}

/**
 * The target called `name` (default wasm), with `options` checked against it. Loaded on first
 * use: the wasm backend brings Binaryen (~0.4 s to load), which `check` or `--stats` never need.
 */
export async function loadTarget(name = "wasm", options: TargetOptions = {}): Promise<Target> {
  const target = (await import("../codegen/targets.js")).targetNamed(name);
  const problem = target.checkOptions?.(options);
  if (problem !== undefined) throw new UsageError(problem);
  return target;
}

/** The passes to run: `passes` when given (names checked), else the target's pipeline; without a target, the standard one. */
export function pipelineFor(target: Target | undefined, passes?: readonly string[]): string[] {
  if (!passes) return target ? target.pipeline(defaultPipeline) : [...defaultPipeline];
  const unknown = passes.find((p) => !getPass(p));
  if (unknown !== undefined) throw new UsageError(`unknown pass ${JSON.stringify(unknown)}`);
  return [...passes];
}

/** Calibration inputs: one sample (each input by name) or several. */
export type Calibration = Record<string, TensorData> | readonly Record<string, TensorData>[];

/** The samples of `c`. */
export const calibrationSamples = (c: Calibration): readonly Record<string, TensorData>[] => (Array.isArray(c) ? c : [c as Record<string, TensorData>]);

/** What generate() takes: the target's options, and the inputs f16 / int8 weights are corrected and checked on. */
export interface GenerateOptions extends TargetOptions {
  /**
   * With f16 / int8 weights: inputs like the model's, by input name, or several such samples (see
   * calibrationInputs); without them no bias is corrected and no output checked.
   */
  calibration?: Calibration;
  /**
   * How many of the first calibration samples the biases are corrected on (default all; the
   * tolerance check takes every one). Seeded weights take the one their BatchNorm statistics came
   * from: it is what the seeded model knows, as training data is a trained one's; the others are
   * inputs it has not seen, as a user's are (at the tests' reduced sizes, a seeded MobileNetV3's
   * deep activations on other inputs are 100 times those on it, and their means would correct
   * its biases for inputs unlike the one it was calibrated on).
   */
  correctOn?: number;
  /**
   * With f16 / int8 weights and calibration inputs: the largest max |out - f32 out| / max |f32 out|
   * allowed on any output there; the smallest weights stay float32 until every output meets it
   * (src/precision.ts). Default DEFAULT_TOLERANCE (f16 1e-3, int8 5e-2); "off" checks nothing.
   */
  weightsTolerance?: number | "off";
}

export interface PlanOptions extends GenerateOptions {
  /** A name from codegen/targets.ts (default "wasm"). */
  target?: string;
  /** The pass pipeline (default: the target's own). */
  passes?: readonly string[];
}

/** What to compile for, resolved and checked (UsageError) before any work. */
export interface Plan {
  target: Target;
  passes: string[];
}

export async function plan(options: PlanOptions): Promise<Plan> {
  const target = await loadTarget(options.target, options);
  return { target, passes: pipelineFor(target, options.passes) };
}

/** Stage 3: binds the weights as constants (consuming `graph`) and runs the passes; `hooks` see each one (--print-after, verifyEach). */
export function optimise(graph: Graph, weights: ReadonlyMap<string, TensorData>, passes: readonly string[], hooks: PipelineOptions = {}): { graph: Graph; stats: PassStat[] } {
  return runPipeline(bindWeights(graph, weights), passes, hooks);
}

/**
 * Stage 4: every node the target does not run as it is, decomposed into core ops (consuming
 * `graph`); one still unsupported in core form is a CompileError naming the op, where the model
 * made it, and the target.
 */
export function lower(graph: Graph, target: Target): Graph {
  const reasons = new Map<Node, string>();
  const unsupported = (g: Graph, n: Node) => {
    const verdict = target.supports(g, n);
    if (verdict !== true) reasons.set(n, verdict.unsupported);
    return verdict !== true;
  };
  // decompose() compacts the graph: one the target runs as it is stays exactly as it is.
  if (!graph.nodes.some((n) => unsupported(graph, n))) return graph;
  const { graph: lowered, stuck } = decompose(graph, unsupported);
  if (stuck.length) throw new CompileError(stuck.map((n) => unsupportedNode(n, target, reasons.get(n)!)));
  return lowered;
}

function unsupportedNode(n: Node, target: Target, why: string): string {
  return targetError(`the ${target.name} target cannot run ${describeNode(n)}: ${why}`, n);
}

/** A diagnostic about the compiled graph, located where the model made `n`. */
function targetError(message: string, n?: Node): string {
  const lines = [`error: ${message}`];
  if (n?.loc) lines.push(`  --> ${n.loc.file}:${n.loc.line}:${n.loc.col}`);
  return lines.join("\n");
}

/** fanInMeans on the calibration inputs, its failures said as theirs; a non-finite mean (NaN or Inf in the inputs) would corrupt every bias after it. */
function measuredFanIn(g: Graph, calibration: readonly Record<string, TensorData>[]): Map<number, Float64Array> {
  let means: Map<number, Float64Array>;
  try {
    means = fanInMeans(g, calibration);
  } catch (e) {
    throw e instanceof InterpError ? new InterpError(`the calibration inputs: ${e.message}`) : e;
  }
  for (const [id, m] of means)
    if (!m.every(Number.isFinite)) {
      const n = g.nodes.find((k) => k.id === id)!;
      throw new InterpError(`the calibration inputs give ${describeNode(n)} a non-finite mean input (NaN or Inf in the inputs, or an overflow): no bias can be corrected on them`);
    }
  return means;
}

/** What generate() gives: the target's files, and with f16 / int8 weights checked on calibration inputs, what the check kept float32. */
export interface Generated extends Emitted {
  precision?: PrecisionReport;
}

/** Stage 5: the target's files for an optimised graph (consumed by the lowering); a CompileError for a graph over the target's limits. */
export async function generate(graph: Graph, target: Target, options: GenerateOptions = {}): Promise<Generated> {
  const lowered = lower(graph, target);
  const problems = target.limits?.(lowered) ?? [];
  if (problems.length) throw new CompileError(problems.map((p) => targetError(p.message, p.node)));
  const { calibration: given, correctOn, weightsTolerance, ...targetOptions } = options;
  const calibration = given && calibrationSamples(given);
  const dtype = options.weightsDtype ?? "f32";
  let emitOptions: EmitOptions = targetOptions;
  let precision: PrecisionReport | undefined;
  if (calibration?.length && dtype !== "f32") {
    const correcting = calibration.slice(0, correctOn);
    const passes = correcting.length > 1 ? `${correcting.length} interpreter passes` : "one interpreter pass";
    options.onProgress?.(`measuring each layer's mean input on the calibration inputs (${passes}), to correct the biases for the ${dtype} weights' rounding`);
    emitOptions = { ...emitOptions, fanInMeans: measuredFanIn(lowered, correcting) };
    const tolerance = weightsTolerance ?? DEFAULT_TOLERANCE[dtype];
    if (tolerance !== "off" && target.roundedWeights && target.constantsRunner) {
      const rounded = target.roundedWeights(lowered, emitOptions);
      // Built on first use: with nothing encoded there is nothing to measure.
      let built: ConstantsRunner | undefined;
      const runner: ConstantsRunner = (constants, inputs) => {
        if (!built) options.onProgress?.(`building the float32 module that checks the ${dtype} weights`);
        return (built ??= target.constantsRunner!(lowered))(constants, inputs);
      };
      const chosen = await keepWithinTolerance(lowered, rounded, runner, calibration, dtype, tolerance, options.onProgress);
      emitOptions = { ...emitOptions, keepFloat32: chosen.kept };
      precision = chosen.report;
    }
  }
  try {
    return { ...target.emit(lowered, emitOptions), ...(precision ? { precision } : {}) };
  } catch (e) {
    if (e instanceof TargetLimitError) throw new CompileError([targetError(e.message)]);
    throw e;
  }
}

export type Phase = "frontend" | "weights" | "passes" | "codegen";

export interface Built extends Generated {
  /** The graph compiled: its name and ports are the module's. */
  graph: Graph;
  /** The pass pipeline's figures, taken before lowering (as `--stats` reports them). */
  stats: CompileStats;
  phasesMs: Pick<Record<Phase, number>, "passes" | "codegen">;
}

/** Stages 3 to 5 for an elaborated model and its weights (consuming `graph`). */
export async function compileGraph(graph: Graph, weights: ReadonlyMap<string, TensorData>, { target, passes }: Plan, options: GenerateOptions = {}): Promise<Built> {
  const lap = stopwatch();
  const optimised = optimise(graph, weights, passes);
  const stats = compileStats(optimised.graph, optimised.stats);
  const passesMs = lap();
  const emitted = await generate(optimised.graph, target, options);
  return { ...emitted, graph: optimised.graph, stats, phasesMs: { passes: passesMs, codegen: lap() } };
}

// `training` is for the training graph's elaboration (compileTraining sets it).
export interface CompileOptions extends Omit<ElaborateOptions, "training">, WeightOptions, Omit<PlanOptions, "correctOn"> {
  target?: TargetName;
  /** A training module instead (wasm; compileTraining, docs/TRAINING.md). */
  train?: TrainOptions;
}

export interface Compiled extends Built {
  /** The frontend's and the weights' warnings, rendered. */
  warnings: string[];
  phasesMs: Record<Phase, number>;
}

/** Every stage, from source to the target's files. */
export async function compileModel(source: ModelSource, options: CompileOptions = {}): Promise<Compiled> {
  const chosen = await plan(options);
  const lap = stopwatch();
  const model = elaborate(source, options);
  const frontend = lap();
  // An ONNX model brings its weights; a given checkpoint replaces them.
  const weights = modelWeights(model.graph, model.weights && options.weights === undefined ? { ...options, weights: model.weights } : options);
  const weightsMs = lap();
  const calibration = calibrationInputs(model.graph, options, hasSeededWeights(model, options.weights));
  options.onProgress?.("optimising the graph");
  const built = await compileGraph(model.graph, weights.data, chosen, { ...options, ...calibration });
  return { ...built, warnings: [...model.warnings, ...weights.warnings, ...calibration.warnings], phasesMs: { frontend, weights: weightsMs, ...built.phasesMs } };
}

/**
 * How many seeded inputs seeded weights are calibrated and checked on. One is not enough: the
 * error a rounding leaves varies from input to input (seeded TinyBERT's pooler under f16,
 * 1.7e-3 to 3.0e-3 over eight token sequences), and a check that one input meets leaves the next
 * one a coin toss. Over four, the worst was within a third of the worst of eight others there.
 */
export const SEEDED_CALIBRATION_SAMPLES = 4;

/**
 * What bias correction under f16 / int8 weights (codegen/wasm/bias-correction.ts) measures the
 * layers' mean inputs on, and the tolerance check checks: the given samples, checked against the
 * graph's inputs; else for seeded weights (`seeded`) SEEDED_CALIBRATION_SAMPLES seeded inputs,
 * the first the one their BatchNorm statistics came from (randomInputs with the weights' seed),
 * then the seeds after it; else none, with a warning: a checkpoint's inputs are the user's to give.
 */
export function calibrationInputs(graph: Graph, options: Pick<CompileOptions, "weightsDtype" | "calibration" | "seed" | "weightsTolerance">, seeded: boolean, what = "calibration", toleranceWhat = "weightsTolerance"): Pick<GenerateOptions, "correctOn"> & { calibration?: Record<string, TensorData>[]; warnings: string[] } {
  const dtype = options.weightsDtype ?? "f32";
  const given = options.calibration;
  if (dtype === "f32") {
    if (given) throw new UsageError(`${what} goes with f16 or int8 weights (weightsDtype / --weights-dtype)`);
    if (options.weightsTolerance !== undefined) throw new UsageError(`${toleranceWhat} goes with f16 or int8 weights (weightsDtype / --weights-dtype)`);
    return { warnings: [] };
  }
  if (given) {
    const samples = calibrationSamples(given);
    if (!samples.length) throw new UsageError(`${what} must hold at least one sample of the model's inputs`);
    return { calibration: samples.map((sample, k) => checkInputs(graph, sample, samples.length > 1 ? `${what}[${k}]` : what)), warnings: [] };
  }
  if (seeded) return { calibration: Array.from({ length: SEEDED_CALIBRATION_SAMPLES }, (_, k) => randomInputs(graph, ((options.seed ?? 0) + k) >>> 0)), correctOn: 1, warnings: [] };
  if (options.weightsTolerance !== undefined && options.weightsTolerance !== "off") throw new UsageError(`${toleranceWhat} is checked on calibration inputs: give inputs like the model's (${what})`);
  return { warnings: [`warning: ${dtype} weights without calibration inputs: the biases are not corrected for the weights' rounding and no output is checked against float32 (give inputs like the model's: --calibrate NAME=PATH, or the calibration option)`] };
}

/** `inputs` as the graph takes them: every input, Float32Array for f32, Int32Array for i32, BigInt64Array for i64, of its element count. */
function checkInputs(graph: Graph, inputs: Record<string, TensorData>, what: string): Record<string, TensorData> {
  const names = graph.inputs.map((p) => p.name);
  for (const name of Object.keys(inputs)) if (!names.includes(name)) throw new UsageError(`${what}: model ${graph.name} has no input ${show(name)} (inputs: ${names.join(", ")})`);
  for (const p of graph.inputs) {
    const t = graph.values[p.value]!.type;
    const data = inputs[p.name];
    if (data === undefined) throw new UsageError(`${what}: no data for input ${p.name} (every input needs one)`);
    const kind = t.dtype === "f32" ? Float32Array : t.dtype === "i64" ? BigInt64Array : Int32Array;
    if (!(data instanceof kind) || data.length !== numel(t.shape))
      throw new UsageError(`${what}.${p.name} must be a ${kind.name} of ${numel(t.shape)} elements (${t.dtype}[${t.shape.join(", ")}]), got ${show(data)}`);
  }
  return inputs;
}

/** What a training compile takes beside the model's options (docs/TRAINING.md). */
export interface TrainOptions extends Omit<TrainingOptions, "convolutions" | "mode"> {
  /** The learning rate before any setLearningRate(); default 0.01 for sgd, 0.001 for adam and adamw (PyTorch's Adam default). */
  lr?: number;
  /** The leading dimension of every input (one example per index), replacing that of its declared or given shape. */
  batch?: number;
}

const defaultLearningRate = (optimizer: TrainOptions["optimizer"]) => ((optimizer ?? "sgd") === "sgd" ? 0.01 : 0.001);

export interface CompiledTraining {
  files: TargetFile[];
  /** The training graph (before the passes) and the model it was built from. */
  training: TrainingGraph;
  model: Graph;
  /** The step graph's pass figures. */
  stats: CompileStats;
  /** The passes phase includes building the training graph. */
  phasesMs: Record<Phase, number>;
  warnings: string[];
}

/** Every input's shape (from `shapes`, else as declared) with `batch` as its leading dimension. */
function batchShapes(source: ModelSource, options: ElaborateOptions, batch: number): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  // The declared shapes (the given ones may not elaborate until every input has the batch).
  const { graph } = elaborate(source, { ...options, shapes: {} });
  for (const p of graph.inputs) {
    const shape = options.shapes?.[p.name] ?? graph.values[p.value]!.type.shape;
    if (shape.length === 0) throw new UsageError(`batch: input ${p.name} is a scalar, with no leading dimension to give the batch`);
    shapes[p.name] = [batch, ...shape.slice(1)];
  }
  return shapes;
}

/**
 * A training module (wasm): the step graph (trainingGraph, convolutions as matmuls, weights as
 * inputs carried in place) and the eval forward, both through the wasm pipeline, and the host
 * part of codegen/module that holds the state between them (docs/TRAINING.md).
 */
export async function compileTraining(source: ModelSource, options: CompileOptions & { train: TrainOptions }): Promise<CompiledTraining> {
  const { train, ...rest } = options;
  if ((rest.target ?? "wasm") !== "wasm") throw new UsageError(`training modules are built for the wasm target, not ${rest.target}`);
  if ((rest.weightsDtype !== undefined && rest.weightsDtype !== "f32") || rest.calibration || rest.weightsTolerance !== undefined)
    throw new UsageError("a training module keeps its weights in float32: --weights-dtype, calibration and the weights tolerance go with inference modules");
  const target = await loadTarget("wasm", rest);
  const lap = stopwatch();
  const { lr, batch, ...trainingOptions } = train;
  // Elaborated for training: dropout() stays a node, a seeded mask in the step, the identity in the eval forward.
  const elaborateOpts = { ...rest, training: true, ...(batch === undefined ? {} : { shapes: batchShapes(source, rest, batch) }) };
  const model = elaborate(source, elaborateOpts);
  const frontend = lap();
  const weights = modelWeights(model.graph, model.weights && rest.weights === undefined ? { ...rest, weights: model.weights } : rest);
  const weightsMs = lap();
  let tg: TrainingGraph;
  try {
    tg = trainingGraph(model.graph, { ...trainingOptions, convolutions: "matmul" });
  } catch (e) {
    throw e instanceof TrainingError ? new UsageError(`cannot train ${model.graph.name}: ${e.message}`) : e;
  }
  const pipeline = pipelineFor(target, rest.passes);
  let stats: CompileStats | undefined;
  const prepared = (g: Graph) => {
    const optimised = optimise(g, new Map(), pipeline);
    stats ??= compileStats(optimised.graph, optimised.stats);
    const lowered = lower(optimised.graph, target);
    const problems = target.limits?.(lowered) ?? [];
    if (problems.length) throw new CompileError(problems.map((p) => targetError(p.message, p.node)));
    return lowered;
  };
  rest.onProgress?.("optimising the training step");
  const step = prepared(weightsAsInputs(tg));
  rest.onProgress?.("optimising the eval forward");
  const evaluation = prepared(weightsAsInputs({ graph: batchnormsAsElementwise(trainingForward(model.graph, { mode: "eval", convolutions: "matmul" }).graph) }));
  // Held inputs start from the model's weights (i64 held as i32, as wasm holds them) and zero optimizer state.
  const start = new Map<string, Float32Array | Int32Array>();
  for (const w of tg.graph.weights) {
    const d = weights.data.get(w.name);
    start.set(w.name, d === undefined ? new Float32Array(numel(w.type.shape)) : d instanceof BigInt64Array ? Int32Array.from(d, Number) : d);
  }
  const heldOf = (g: Graph) => {
    const names = g.inputs.map((p) => p.name).filter((n) => start.has(n));
    return { names, start: new Map(names.map((n) => [n, start.get(n)!])) };
  };
  const passes = lap();
  const { buildTrainingModule } = await import("../codegen/module/index.js");
  const counterStart = (name: string) => Number((weights.data.get(name) as BigInt64Array | undefined)?.[0] ?? 0n);
  const { files } = buildTrainingModule(
    {
      lrInput: tg.lrInput,
      stepInput: tg.stepInput,
      loss: tg.loss,
      optimizer: train.optimizer ?? "sgd",
      lr: lr ?? defaultLearningRate(train.optimizer),
      counters: tg.counters.map((c) => ({ weight: c.weight, start: counterStart(c.weight), increment: c.increment })),
      weights: model.graph.weights.map((w) => ({ name: w.name, dtype: w.type.dtype as "f32" | "i32" | "i64", shape: [...w.type.shape] })),
    },
    { graph: step, held: heldOf(step), carry: tg.updates.map((u) => ({ output: u.output, input: u.weight })) },
    { graph: evaluation, held: heldOf(evaluation) },
    { ...(rest.relaxedSimd ? { relaxedSimd: rest.relaxedSimd } : {}), embedWeights: rest.embedWeights ?? false, ...(rest.onProgress ? { onProgress: rest.onProgress } : {}) },
  );
  return { files, training: tg, model: model.graph, stats: stats!, phasesMs: { frontend, weights: weightsMs, passes, codegen: lap() }, warnings: [...model.warnings, ...weights.warnings] };
}

/** Milliseconds since the previous call, or since the stopwatch was made. */
function stopwatch(): () => number {
  let mark = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
}

// Options from outside (the API's arguments, the command line's values), checked in one place:
// a bad one is a UsageError naming the option and what it was given, before any work.

/** A value as a message shows it: strings quoted, arrays in brackets (the first few), other objects by kind. */
export function show(value: unknown, depth = 0): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
    case "bigint":
      return `${value}n`;
    case "function":
      return "a function";
    case "symbol":
      return value.toString();
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return depth > 1 ? "[...]" : `[${value.slice(0, 8).map((v) => show(v, depth + 1)).join(", ")}${value.length > 8 ? ", ..." : ""}]`;
      const kind = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
      return typeof kind === "string" && kind !== "Object" ? `a ${kind}` : "an object";
    }
    default:
      return String(value);
  }
}

/** `"a", "b" or "c"` */
function alternatives(choices: readonly string[]): string {
  const quoted = choices.map((c) => JSON.stringify(c));
  return `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** `value` when it is one of `choices`. */
export function checkChoice<T extends string>(value: unknown, choices: readonly T[], what: string): T {
  if (!choices.includes(value as T)) throw new UsageError(`${what} must be ${alternatives(choices)}, got ${show(value)}`);
  return value as T;
}

/** A seed of the default weights and inputs: an integer in [0, 2^32). */
export function checkSeed(value: unknown, what: string): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 2 ** 32)) throw new UsageError(`${what} must be an integer in [0, 2^32), got ${show(value)}`);
  return value;
}

/** An input shape: positive safe integers (whether their product fits is the elaboration's check). */
export function checkDims(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) throw new UsageError(`${what}: a shape is an array of dimensions, got ${show(value)}`);
  const dims = Array.from(value as unknown[]);
  const bad = dims.findIndex((d) => !(typeof d === "number" && Number.isSafeInteger(d) && d > 0));
  if (bad >= 0) throw new UsageError(`${what}: dimensions are positive integers below 2^53, got ${show(dims[bad])}`);
  return dims as number[];
}

/** `{...}` or `Object.create(null)`: not an array, a Map or a class instance. */
function isPlainObject(value: unknown): value is object {
  const proto = typeof value === "object" && value !== null ? (Object.getPrototypeOf(value) as unknown) : undefined;
  return proto === Object.prototype || proto === null;
}

/** The own entries of a plain object, else a UsageError. */
function plainEntries(value: unknown, what: string): [string, unknown][] {
  if (!isPlainObject(value)) throw new UsageError(`${what} must be a plain object, got ${show(value)}`);
  return Object.entries(value);
}

function checkType<T>(type: "string" | "boolean" | "function", description: string): (value: unknown, what: string) => T {
  return (value, what) => {
    if (typeof value !== type) throw new UsageError(`${what} must be ${description}, got ${show(value)}`);
    return value as T;
  };
}

const isTensorData = (v: unknown): v is TensorData => v instanceof Float32Array || v instanceof Int32Array || v instanceof BigInt64Array;

export const relaxedSimdModes = ["auto", "on", "off"] as const satisfies readonly NonNullable<TargetOptions["relaxedSimd"]>[];
export const weightsDtypes = ["f32", "f16", "int8"] as const satisfies readonly NonNullable<TargetOptions["weightsDtype"]>[];

type Checkers<T> = { [K in keyof Required<T>]-?: (value: unknown, what: string) => NonNullable<T[K]> };

/** One check per compile option: tsc names an option added to CompileOptions without one. */
const compileOptionChecks: Checkers<CompileOptions> = {
  set: (value, what) =>
    Object.fromEntries(
      plainEntries(value, what).map(([name, v]) => {
        if (!(typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))))
          throw new UsageError(`${what}.${name} must be a string, a finite number or a boolean, got ${show(v)}`);
        return [name, v];
      }),
    ),
  shapes: (value, what) => Object.fromEntries(plainEntries(value, what).map(([name, dims]) => [name, checkDims(dims, `${what}.${name} = ${show(dims)}`)])),
  model: checkType("string", "a model name"),
  weights: (value, what) => {
    if (typeof value === "string" && value !== "") return value;
    if (!(value instanceof Map)) throw new UsageError(`${what} must be a Map of tensors (Float32Array, Int32Array or BigInt64Array by name) or a .safetensors or .pt/.pth path, got ${show(value)}`);
    for (const [name, data] of value as Map<unknown, unknown>)
      if (typeof name !== "string" || !isTensorData(data)) throw new UsageError(`${what}: entry ${show(name)} must map a name to a Float32Array, Int32Array or BigInt64Array, got ${show(data)}`);
    return value as Map<string, TensorData>;
  },
  seed: checkSeed,
  strict: checkType("boolean", "true or false"),
  allowUnexpected: checkType("boolean", "true or false"),
  rename: (value, what) => {
    const pairs = Array.isArray(value) ? Array.from(value as unknown[]) : [];
    if (!Array.isArray(value) || !pairs.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && p[0] !== "" && typeof p[1] === "string"))
      throw new UsageError(`${what} must be an array of [old, new] name prefix pairs (old not empty), got ${show(value)}`);
    return pairs.map((p) => [...(p as [string, string])] as const);
  },
  passes: (value, what) => {
    if (!Array.isArray(value) || !Array.from(value as unknown[]).every((p) => typeof p === "string")) throw new UsageError(`${what} must be an array of pass names, got ${show(value)}`);
    return [...(value as string[])];
  },
  target: checkType("string", "a target name"),
  relaxedSimd: (value, what) => checkChoice(value, relaxedSimdModes, what),
  embedWeights: checkType("boolean", "true or false"),
  weightsDtype: (value, what) => checkChoice(value, weightsDtypes, what),
  weightsTolerance: checkTolerance,
  calibration: (value, what) => {
    const sample = (v: unknown, at: string) =>
      Object.fromEntries(
        plainEntries(v, at).map(([name, data]) => {
          if (!isTensorData(data)) throw new UsageError(`${at}.${name} must be a Float32Array, Int32Array or BigInt64Array, got ${show(data)}`);
          return [name, data];
        }),
      );
    return Array.isArray(value) ? value.map((v, k) => sample(v, `${what}[${k}]`)) : sample(value, what);
  },
  onProgress: checkType("function", "a function"),
  train: (value, what) => {
    const checked: Record<string, unknown> = {};
    for (const [key, v] of plainEntries(value, what)) {
      if (!Object.hasOwn(trainOptionChecks, key)) throw new UsageError(`unknown option ${what}.${key} (options: ${Object.keys(trainOptionChecks).join(", ")})`);
      if (v !== undefined) checked[key] = trainOptionChecks[key as keyof TrainOptions](v, `${what}.${key}`);
    }
    // The optimizers' ranges and which options each reads, before any work.
    try {
      checkTrainingOptions(checked);
    } catch (e) {
      throw e instanceof TrainingError ? new UsageError(e.message) : e;
    }
    return checked as TrainOptions;
  },
};

/** A tolerance of f16 / int8 weights: a number >= 0 or "off". */
export function checkTolerance(value: unknown, what: string): number | "off" {
  if (value === "off" || (typeof value === "number" && value >= 0 && value !== Infinity)) return value;
  throw new UsageError(`${what} must be a number >= 0 (the largest max |out - f32 out| / max |f32 out|) or "off", got ${show(value)}`);
}

/** A finite number; the ranges are the optimizers' own checks (trainingGraph). */
const checkNumber = (value: unknown, what: string): number => {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new UsageError(`${what} must be a finite number, got ${show(value)}`);
  return value;
};

const trainOptionChecks: Checkers<TrainOptions> = {
  loss: checkType("string", "an output name"),
  optimizer: (value, what) => checkChoice(value, OPTIMIZERS, what),
  lr: (value, what) => {
    if (checkNumber(value, what) < 0) throw new UsageError(`${what} must be >= 0, got ${show(value)}`);
    return value as number;
  },
  batch: (value, what) => {
    if (!Number.isInteger(value) || (value as number) < 1) throw new UsageError(`${what} must be a positive integer, got ${show(value)}`);
    return value as number;
  },
  trainOnly: (value, what) => {
    if (!Array.isArray(value) || value.length === 0 || !Array.from(value as unknown[]).every((p) => typeof p === "string" && p !== ""))
      throw new UsageError(`${what} must be a non-empty array of name patterns (\`*\` is any run of characters), got ${show(value)}`);
    return [...(value as string[])];
  },
  momentum: checkNumber,
  weightDecay: checkNumber,
  betas: (value, what) => {
    if (!Array.isArray(value) || value.length !== 2) throw new UsageError(`${what} must be [beta1, beta2], got ${show(value)}`);
    return [checkNumber(value[0], `${what}[0]`), checkNumber(value[1], `${what}[1]`)];
  },
  eps: checkNumber,
  bnMomentum: checkNumber,
  seed: checkSeed,
};

/** compile()'s options, checked (a fresh object of the checked values); `undefined` is none. */
export function checkCompileOptions(options: unknown): CompileOptions {
  if (options === undefined) return {};
  const checked: Record<string, unknown> = {};
  for (const [key, value] of plainEntries(options, "options")) {
    if (!Object.hasOwn(compileOptionChecks, key)) throw new UsageError(`unknown option ${show(key)} (options: ${Object.keys(compileOptionChecks).join(", ")})`);
    if (value !== undefined) checked[key] = compileOptionChecks[key as keyof CompileOptions](value, key);
  }
  return checked as CompileOptions;
}

/** compile()'s source: .nn text, `{ path }` of a .nn or .onnx file, or ONNX bytes. */
export function checkSource(source: unknown): ModelSource {
  if (typeof source === "string" || source instanceof Uint8Array) return source;
  const [only, ...more] = isPlainObject(source) ? Object.entries(source) : [];
  if (only?.[0] === "path" && typeof only[1] === "string" && only[1] !== "" && more.length === 0) return { path: only[1] };
  throw new UsageError(`the source must be .nn text, { path: "model.nn" | "model.onnx" } or ONNX bytes (a Uint8Array), got ${show(source)}`);
}

// The one error boundary of the API and the command line: what any failure means to the user.

/** A bug in graphc: `cause` is what was thrown. */
export class InternalError extends Error {
  override readonly name = "InternalError";
  constructor(cause: unknown) {
    super(`internal error (a bug in graphc, please report it): ${cause instanceof Error ? cause.message : show(cause)}`, { cause });
  }
}

/** File error codes where the path is at fault (a usage error); the others are the machine's. */
const PATH_FAULTS = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS", "ELOOP", "ENAMETOOLONG", "EEXIST", "ENOTEMPTY", "ETXTBSY"]);

/**
 * A file operation's failure on `path`, named: "cannot write out/m.wasm: no space left on device
 * (ENOSPC)". A UsageError when the path is at fault, an EnvironmentError when the machine is.
 */
export function fileError(e: unknown, path: string, action: string): Error {
  if (!isSystemError(e)) return namedError(e);
  const message = `${action} ${path}: ${systemErrorReason(e)}`;
  return PATH_FAULTS.has(e.code!) ? new UsageError(message) : new EnvironmentError(message);
}

const OUT_OF_MEMORY = /allocation failed|out of memory|maximum memory size|cannot allocate/i;

/**
 * What `e` means to the user: graphc's own errors as they are; a failed file operation named with
 * its path; running out of memory an EnvironmentError; anything else an InternalError.
 */
export function namedError(e: unknown): Error {
  if (e instanceof UsageError || e instanceof CompileError || e instanceof WeightsError || e instanceof InterpError || e instanceof EnvironmentError || e instanceof InternalError) return e;
  if (isSystemError(e)) return fileError(e, e.dest ?? e.path ?? "a file", "cannot access");
  if (e instanceof RangeError && OUT_OF_MEMORY.test(e.message)) return new EnvironmentError(`out of memory: ${e.message}`);
  return new InternalError(e);
}
