// The package entry (`import { compile, instantiate } from "graphc"`): a .nn model to the files
// of an ES module, in memory, and a compiled wasm result to a running model.
import { loadParts, type LoadedModel, type ModuleParts } from "../codegen/module/index.js";
import type { TargetFile } from "../codegen/target.js";
import { UsageError } from "./base/errors.js";
import { checkChoice, checkCompileOptions, checkSource, compileModel, compileTraining, namedError, show, type CompiledTraining, type CompileOptions, type Phase, type TrainOptions } from "./driver.js";
import type { DType, Graph } from "./ir/graph.js";
import { weightsFileStat, type CompileStats } from "./passes/stats.js";
import type { PrecisionReport } from "./precision.js";

export { EnvironmentError, UsageError } from "./base/errors.js";
export { CompileError, InternalError, type CompileOptions, type TrainOptions } from "./driver.js";
export { WeightsError, type TensorData } from "./weights/tensor.js";
export type { PrecisionReport } from "./precision.js";
export type { LoadedTrainer } from "../codegen/module/runtime.js";
export type { LoadedModel, LoadOptions, ModuleFile, ModuleParts, PortInfo, RelaxedSimd } from "../codegen/module/index.js";
export type { TargetFile } from "../codegen/target.js";

/** A model input or output: what the compiled module takes or gives. */
export interface ModelPort {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface CompileReport {
  model: string;
  inputs: ModelPort[];
  outputs: ModelPort[];
  /** Warnings, rendered with source excerpts. */
  diagnostics: string[];
  stats: CompileStats;
  compileMs: number;
  /** Milliseconds per phase: frontend, weights, passes, codegen. */
  phasesMs: Record<Phase, number>;
  /** With f16 / int8 weights checked on calibration inputs: the weights kept float32 to meet the tolerance, and the errors left. */
  precision?: PrecisionReport;
}

export interface CompileResult {
  /**
   * wasm: NAME.mjs, NAME.d.ts, NAME.d.mts and, unless embedded, NAME.wasm, NAME.relaxed.wasm,
   * NAME.weights.bin; wgsl: NAME.mjs (the shaders inside), the same type files, NAME.weights.bin.
   */
  files: TargetFile[];
  report: CompileReport;
  /** wasm only: the manifest and raw bytes, for instantiate(). */
  module?: ModuleParts;
}

/** What a wasm compile gives: a result instantiate() runs. */
export interface WasmCompileResult extends CompileResult {
  module: ModuleParts;
}

function ports(g: Graph, which: "inputs" | "outputs"): ModelPort[] {
  return g[which].map((p) => {
    const t = g.values[p.value]!.type;
    return { name: p.name, dtype: t.dtype, shape: [...t.shape] };
  });
}

/**
 * What compile() reads: .nn text, `{ path }` of a .nn or .onnx file, or the bytes of an ONNX
 * model. An ONNX model is imported (its initializers are its weights unless `weights` is given;
 * `shapes` gives the sizes of dynamic input dims) and then compiled like .nn source.
 */
export type CompileSource = string | { path: string } | Uint8Array;

/**
 * Every argument is checked first (a UsageError names the option and the value); what fails later
 * is a CompileError, a WeightsError, a UsageError or EnvironmentError naming a file, or, for a bug
 * in graphc, an InternalError.
 */
/** With `train`: a training module's files (docs/TRAINING.md), loaded by importing them (no `module` for instantiate()). */
export function compile(source: CompileSource, options: CompileOptions & { train: TrainOptions }): Promise<CompileResult>;
export function compile(source: CompileSource, options?: CompileOptions & { target?: "wasm" }): Promise<WasmCompileResult>;
export function compile(source: CompileSource, options: CompileOptions): Promise<CompileResult>;
export async function compile(source: CompileSource, options: CompileOptions = {}): Promise<CompileResult> {
  // What the caller's onProgress throws goes back to the caller as it is.
  let fromCallback: { thrown: unknown } | undefined;
  try {
    const checked = checkCompileOptions(options);
    const { onProgress } = checked;
    if (onProgress)
      checked.onProgress = (step) => {
        try {
          onProgress(step);
        } catch (thrown) {
          fromCallback = { thrown };
          throw thrown;
        }
      };
    return await compileChecked(checkSource(source), checked);
  } catch (e) {
    throw fromCallback?.thrown === e ? e : namedError(e);
  }
}

async function compileChecked(source: CompileSource, options: CompileOptions): Promise<CompileResult> {
  const start = performance.now();
  if (options.train) return trainingResult(await compileTraining(source, { ...options, train: options.train }), start);
  const compiled = await compileModel(source, options);
  const { graph } = compiled;
  return {
    files: compiled.files,
    // Only the wasm target emits parts, and they are its ModuleParts.
    ...(compiled.parts !== undefined ? { module: compiled.parts as ModuleParts } : {}),
    report: {
      model: graph.name,
      inputs: ports(graph, "inputs"),
      outputs: ports(graph, "outputs"),
      diagnostics: compiled.warnings,
      stats: { ...compiled.stats, ...weightsFileStat(compiled.files) },
      compileMs: performance.now() - start,
      phasesMs: compiled.phasesMs,
      ...(compiled.precision ? { precision: compiled.precision } : {}),
    },
  };
}

/** A training module's files; its ports are the eval forward's data inputs (run) and the model's outputs. */
function trainingResult(compiled: CompiledTraining, start: number): CompileResult {
  const { model, training } = compiled;
  const own = new Set([...model.weights.map((w) => w.name), training.lrInput, training.stepInput]);
  return {
    files: compiled.files,
    report: {
      model: model.name,
      inputs: ports(model, "inputs").filter((p) => !own.has(p.name)),
      outputs: ports(model, "outputs"),
      diagnostics: compiled.warnings,
      stats: { ...compiled.stats, ...weightsFileStat(compiled.files) },
      compileMs: performance.now() - start,
      phasesMs: compiled.phasesMs,
    },
  };
}

const simdModes = ["auto", "relaxed", "baseline"] as const;

/** The compiled model, running in this process: the object the generated module's load() gives. */
export async function instantiate(result: Pick<CompileResult, "module">, options: { simd?: (typeof simdModes)[number]; threads?: number } = {}): Promise<LoadedModel> {
  if (typeof result !== "object" || result === null) throw new UsageError(`instantiate() takes what compile() resolved to, got ${show(result)}`);
  if (typeof options !== "object" || options === null) throw new UsageError(`instantiate()'s options must be an object, got ${show(options)}`);
  const unknown = Object.keys(options).find((k) => k !== "simd" && k !== "threads");
  if (unknown !== undefined) throw new UsageError(`unknown option ${show(unknown)} (options: simd, threads)`);
  const simd = options.simd === undefined ? "auto" : checkChoice(options.simd, simdModes, "simd");
  const parts = result.module;
  if (parts === undefined) throw new UsageError("instantiate() runs wasm results: a wgsl module runs on the caller's GPUDevice (write its files, then load({ device }))");
  const bytes = (v: unknown) => v === undefined || v instanceof Uint8Array;
  if (typeof parts !== "object" || parts === null || typeof parts.manifest !== "object" || !(parts.weights instanceof Uint8Array) || !bytes(parts.wasm) || !bytes(parts.relaxedWasm))
    throw new UsageError(`instantiate(): result.module must be the module compile() gave, got ${show(parts)}`);
  const build = simd === "auto" ? (parts.relaxedWasm ?? parts.wasm) : simd === "relaxed" ? parts.relaxedWasm : parts.wasm;
  if (build === undefined) throw new UsageError(`instantiate(): simd is ${show(simd)}, but the result has no ${simd === "auto" ? "wasm" : simd} build (see compile()'s relaxedSimd)`);
  // The loader checks threads (an integer in [1, MAX_THREADS]) as the generated module's load() does.
  return loadParts(parts, { simd, ...(options.threads !== undefined ? { threads: options.threads } : {}) });
}
