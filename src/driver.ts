// The compile driver, the one place the stages meet (for the CLI, the API and the tests):
// source -> elaborate -> weights -> bind -> passes -> lower for the target -> emit. Each stage is
// a function of its own, so a caller can stop early (compile --stats, run --backend interp) or
// look in between (--print-after); compileModel() runs them all and times them.
import type { Emitted, Target, TargetOptions } from "../codegen/target.js";
import type { TargetName } from "../codegen/targets.js";
import { UsageError } from "./base/errors.js";
import { elaborateFile, elaborateSource, renderDiagnostic, type Diagnostic, type ElaborateOptions } from "./frontend/index.js";
import { decompose } from "./ir/decompose.js";
import { numel, type Graph, type Node } from "./ir/graph.js";
import { bindWeights } from "./ir/rewrite.js";
import { defaultPipeline, getPass, runPipeline, type PassStat, type PipelineOptions } from "./passes/index.js";
import { compileStats, type CompileStats } from "./passes/stats.js";
import { matchCheckpoint } from "./weights/bind.js";
import { loadWeights } from "./weights/load.js";
import type { TensorData } from "./weights/tensor.js";

/** .nn text, a file, or text standing for a file (its imports resolve next to `path`). */
export type ModelSource = string | { path: string; text?: string };

/** The model has errors; `diagnostics` holds them rendered with source excerpts. */
export class CompileError extends Error {
  override readonly name = "CompileError";
  constructor(readonly diagnostics: string[]) {
    super(`${diagnostics.length} error${diagnostics.length === 1 ? "" : "s"} in the model:\n\n${diagnostics.join("\n\n")}`);
  }
}

/** Stage 1: the model's graph, and its warnings rendered; a CompileError when it has errors. */
export function elaborate(source: ModelSource, options: ElaborateOptions = {}): { graph: Graph; warnings: string[] } {
  const r =
    typeof source === "string"
      ? elaborateSource(source, "<source>", options)
      : source.text !== undefined
        ? elaborateSource(source.text, source.path, options)
        : elaborateFile(source.path, options);
  const rendered = (severity: Diagnostic["severity"]) => r.diagnostics.filter((d) => d.severity === severity).map((d) => renderDiagnostic(d, r.sources));
  if (!r.graph) {
    const errors = rendered("error");
    if (errors.length) throw new CompileError(errors);
    throw new UsageError(`${typeof source === "string" ? "the source" : source.path} defines no model`);
  }
  return { graph: r.graph, warnings: rendered("warning") };
}

export interface WeightOptions {
  /** Checkpoint tensors by name, or a .safetensors path; default: seeded initialisation. */
  weights?: ReadonlyMap<string, TensorData> | string;
  /** Seed of the default weights (default 0). */
  seed?: number;
  /** Checkpoint tensors the model does not declare are warnings instead of an error. */
  allowUnexpected?: boolean;
}

/** Stage 2: the model's weights, and warnings about them ("warning: ..."). */
export function modelWeights(graph: Graph, options: WeightOptions = {}): { data: Map<string, TensorData>; warnings: string[] } {
  const { weights, seed = 0, allowUnexpected = false } = options;
  const { data, warnings } =
    typeof weights === "object"
      ? matchCheckpoint(graph.weights, withDeclaredShapes(graph, weights), { file: "options.weights", allowUnexpected })
      : loadWeights(graph, { file: weights, seed, allowUnexpected });
  return { data, warnings: warnings.map((w) => `warning: ${w}`) };
}

/** A bare array has no shape: it gets the declared one when the element count fits, so a wrong size is reported as a shape mismatch. */
function withDeclaredShapes(graph: Graph, tensors: ReadonlyMap<string, TensorData>): Map<string, { shape: number[]; data: TensorData }> {
  const declared = new Map(graph.weights.map((w) => [w.name, w.type.shape]));
  return new Map(
    [...tensors].map(([name, data]) => {
      const shape = declared.get(name);
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

export interface PlanOptions extends TargetOptions {
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
  const lines = [`error: the ${target.name} target cannot run \`${n.op}\`${n.path ? ` (in \`${n.path}\`)` : ""}: ${why}`];
  if (n.loc) lines.push(`  --> ${n.loc.file}:${n.loc.line}:${n.loc.col}`);
  return lines.join("\n");
}

/** Stage 5: the target's files for an optimised graph (consumed by the lowering). */
export function generate(graph: Graph, target: Target, options: TargetOptions = {}): Emitted {
  return target.emit(lower(graph, target), options);
}

export type Phase = "frontend" | "weights" | "passes" | "codegen";

export interface Built extends Emitted {
  /** The graph compiled: its name and ports are the module's. */
  graph: Graph;
  /** The pass pipeline's figures, taken before lowering (as `--stats` reports them). */
  stats: CompileStats;
  phasesMs: Pick<Record<Phase, number>, "passes" | "codegen">;
}

/** Stages 3 to 5 for an elaborated model and its weights (consuming `graph`). */
export function compileGraph(graph: Graph, weights: ReadonlyMap<string, TensorData>, { target, passes }: Plan, options: TargetOptions = {}): Built {
  const lap = stopwatch();
  const optimised = optimise(graph, weights, passes);
  const stats = compileStats(optimised.graph, optimised.stats);
  const passesMs = lap();
  const emitted = generate(optimised.graph, target, options);
  return { ...emitted, graph: optimised.graph, stats, phasesMs: { passes: passesMs, codegen: lap() } };
}

export interface CompileOptions extends ElaborateOptions, WeightOptions, PlanOptions {
  target?: TargetName;
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
  const weights = modelWeights(model.graph, options);
  const weightsMs = lap();
  options.onProgress?.("optimising the graph");
  const built = compileGraph(model.graph, weights.data, chosen, options);
  return { ...built, warnings: [...model.warnings, ...weights.warnings], phasesMs: { frontend, weights: weightsMs, ...built.phasesMs } };
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
