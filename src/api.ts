// The package entry (`import { compile, instantiate } from "graphc"`): a .nn model to the files
// of an ES module, in memory, and a compiled result to a running model.
import { buildModule, loadParts, type LoadedModel, type ModuleFile, type ModuleParts, type PortInfo, type RelaxedSimd } from "../codegen/module/index.js";
import { elaborateFile, elaborateSource, renderDiagnostic, UsageError, type ElaborateOptions } from "./frontend/index.js";
import { numel, type Graph } from "./ir/graph.js";
import { bindWeights } from "./ir/rewrite.js";
import { defaultPipeline, getPass, runPipeline } from "./passes/index.js";
import { compileStats, type CompileStats } from "./passes/stats.js";
import { matchCheckpoint } from "./weights/bind.js";
import { loadWeights } from "./weights/load.js";
import type { TensorData } from "./weights/tensor.js";

export { UsageError } from "./frontend/index.js";
export { WeightsError, type TensorData } from "./weights/tensor.js";
export type { LoadedModel, LoadOptions, ModuleFile, ModuleParts, PortInfo, RelaxedSimd } from "../codegen/module/index.js";

export interface CompileOptions extends ElaborateOptions {
  /** Checkpoint tensors by name, or a .safetensors path; default: seeded initialisation. */
  weights?: Map<string, TensorData> | string;
  /** Seed of the default weights (default 0). */
  seed?: number;
  /** Pass pipeline (default: the standard one). */
  passes?: string[];
  target?: "wasm";
  /** "auto" (default) ships both SIMD builds; "on" only relaxed SIMD; "off" only baseline SIMD. */
  relaxedSimd?: RelaxedSimd;
  /** Put the wasm and weights inside NAME.mjs (base64) instead of separate files. */
  embedWeights?: boolean;
  /** Called before each long step. */
  onProgress?: (step: string) => void;
}

export interface CompileReport {
  model: string;
  inputs: PortInfo[];
  outputs: PortInfo[];
  /** Warnings, rendered with source excerpts. */
  diagnostics: string[];
  stats: CompileStats;
  compileMs: number;
  /** Milliseconds per phase: frontend, weights, passes, codegen. */
  phasesMs: Record<"frontend" | "weights" | "passes" | "codegen", number>;
}

export interface CompileResult {
  /** NAME.mjs, NAME.d.ts and, unless embedded, NAME.wasm, NAME.relaxed.wasm, NAME.weights.bin. */
  files: ModuleFile[];
  report: CompileReport;
  /** The manifest and raw bytes, for instantiate(). */
  module: ModuleParts;
}

/** The model has errors; `diagnostics` holds them rendered with source excerpts. */
export class CompileError extends Error {
  override readonly name = "CompileError";
  constructor(readonly diagnostics: string[]) {
    super(`${diagnostics.length} error${diagnostics.length === 1 ? "" : "s"} in the model:\n\n${diagnostics.join("\n\n")}`);
  }
}

function weightData(g: Graph, o: CompileOptions): { data: Map<string, TensorData>; warnings: string[] } {
  if (o.weights === undefined || typeof o.weights === "string") return loadWeights(g, { ...(o.weights !== undefined ? { file: o.weights } : {}), seed: o.seed ?? 0 });
  // A bare array has no shape: give it the declared one when the element count fits, so a wrong
  // size is reported as a shape mismatch.
  const declared = new Map(g.weights.map((w) => [w.name, w.type.shape]));
  const tensors = new Map([...o.weights].map(([name, data]) => {
    const shape = declared.get(name);
    return [name, { shape: shape && numel(shape) === data.length ? shape : [data.length], data }];
  }));
  return matchCheckpoint(g.weights, tensors, { file: "options.weights" });
}

export async function compile(source: string | { path: string }, options: CompileOptions = {}): Promise<CompileResult> {
  const start = performance.now();
  let mark = start;
  const lap = () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
  if ((options.target ?? "wasm") !== "wasm") throw new UsageError(`unknown target ${JSON.stringify(options.target)} (available: wasm)`);
  if (!["auto", "on", "off"].includes(options.relaxedSimd ?? "auto")) throw new UsageError(`relaxedSimd must be "auto", "on" or "off", got ${JSON.stringify(options.relaxedSimd)}`);
  const passes = options.passes ?? [...defaultPipeline];
  for (const p of passes) if (!getPass(p)) throw new UsageError(`unknown pass ${JSON.stringify(p)}`);

  const elab = { ...(options.set ? { set: options.set } : {}), ...(options.shapes ? { shapes: options.shapes } : {}), ...(options.model !== undefined ? { model: options.model } : {}) };
  const r = typeof source === "string" ? elaborateSource(source, "<source>", elab) : elaborateFile(source.path, elab);
  const rendered = (errors: boolean) => r.diagnostics.filter((d) => (d.severity === "error") === errors).map((d) => renderDiagnostic(d, r.sources));
  if (!r.graph) {
    const errors = rendered(true);
    if (errors.length) throw new CompileError(errors);
    throw new UsageError(`${typeof source === "string" ? "the source" : source.path} defines no model`);
  }
  const frontend = lap();

  const { data, warnings } = weightData(r.graph, options);
  const weights = lap();

  options.onProgress?.("optimising the graph");
  const { graph, stats } = runPipeline(bindWeights(r.graph, data), passes);
  const passesMs = lap();

  const { files, parts } = buildModule(graph, options);
  const codegen = lap();
  return {
    files,
    module: parts,
    report: {
      model: graph.name,
      inputs: parts.manifest.inputs,
      outputs: parts.manifest.outputs,
      diagnostics: [...rendered(false), ...warnings.map((w) => `warning: ${w}`)],
      stats: compileStats(graph, stats),
      compileMs: performance.now() - start,
      phasesMs: { frontend, weights, passes: passesMs, codegen },
    },
  };
}

/** The compiled model, running in this process: the object the generated module's load() gives. */
export function instantiate(result: Pick<CompileResult, "module">, options: { simd?: "auto" | "relaxed" | "baseline" } = {}): Promise<LoadedModel> {
  return loadParts(result.module, options);
}
