// The package entry (`import { compile, instantiate } from "graphc"`): a .nn model to the files
// of an ES module, in memory, and a compiled wasm result to a running model.
import { loadParts, type LoadedModel, type ModuleParts } from "../codegen/module/index.js";
import type { TargetFile } from "../codegen/target.js";
import { UsageError } from "./base/errors.js";
import { compileModel, type CompileOptions, type Phase } from "./driver.js";
import type { DType, Graph } from "./ir/graph.js";
import type { CompileStats } from "./passes/stats.js";

export { UsageError } from "./base/errors.js";
export { CompileError, type CompileOptions } from "./driver.js";
export { WeightsError, type TensorData } from "./weights/tensor.js";
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

export function compile(source: string | { path: string }, options?: CompileOptions & { target?: "wasm" }): Promise<WasmCompileResult>;
export function compile(source: string | { path: string }, options: CompileOptions): Promise<CompileResult>;
export async function compile(source: string | { path: string }, options: CompileOptions = {}): Promise<CompileResult> {
  const start = performance.now();
  if (!["auto", "on", "off"].includes(options.relaxedSimd ?? "auto")) throw new UsageError(`relaxedSimd must be "auto", "on" or "off", got ${JSON.stringify(options.relaxedSimd)}`);
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
      stats: compiled.stats,
      compileMs: performance.now() - start,
      phasesMs: compiled.phasesMs,
    },
  };
}

/** The compiled model, running in this process: the object the generated module's load() gives. */
export async function instantiate(result: Pick<CompileResult, "module">, options: { simd?: "auto" | "relaxed" | "baseline" } = {}): Promise<LoadedModel> {
  if (!result.module) throw new UsageError("instantiate() runs wasm results: a wgsl module runs on the caller's GPUDevice (write its files, then load({ device }))");
  return loadParts(result.module, options);
}
