// From an optimised graph (weights bound as constants) to the files of an ES module, and back
// to a running model in memory.
import binaryen from "binaryen";
import { EnvironmentError } from "../../src/base/errors.js";
import type { Graph } from "../../src/ir/graph.js";
import { correctBiases } from "../wasm/bias-correction.js";
import { buildWasm, wasmShared, type Carry, type WasmBuild } from "../wasm/module.js";
import type { WeightsDtype } from "../wasm/weights.js";
import { idChecks } from "./checks.js";
import { emitModule, emitTrainingModule, type ModuleFile } from "./emit.js";
import { loadParts, type ModuleParts, type PortInfo, type TrainingManifest } from "./runtime.js";
import type { ConstantsRunner } from "../target.js";

export type { ModuleFile } from "./emit.js";
export { loadParts, relaxedSimdSupported, type LoadedModel, type LoadOptions, type LoadProgress, type ModuleParts, type PortInfo } from "./runtime.js";

/** "auto": ship both SIMD builds, pick at load time; "on": relaxed only; "off": baseline only. */
export type RelaxedSimd = "auto" | "on" | "off";

export interface ModuleOptions {
  relaxedSimd?: RelaxedSimd;
  embedWeights?: boolean;
  /** How weights.bin stores the weights (codegen/wasm/weights.ts); default f32. */
  weightsDtype?: WeightsDtype;
  /** With f16 / int8 weights: the layers' mean fan-in inputs, by node id, for bias correction (EmitOptions). */
  fanInMeans?: ReadonlyMap<number, Float64Array>;
  /** Constants stored float32 whatever weightsDtype says (EmitOptions). */
  keepFloat32?: ReadonlySet<number>;
  /** Called before each long step, e.g. to print progress. */
  onProgress?: (step: string) => void;
}

function ports(g: Graph, which: "inputs" | "outputs"): PortInfo[] {
  return g[which].map((p) => {
    const t = g.values[p.value]!.type;
    // The language declares no bool inputs; bool outputs (comparisons) come back as Uint8Array.
    if (t.dtype === "bool" && which === "inputs") throw new Error(`input ${p.name}: bool inputs are not supported by the wasm target`);
    return { name: p.name, dtype: t.dtype, shape: [...t.shape] };
  });
}

/** Binaryen's C++ exceptions reach JavaScript as bare objects: [type, what] of one, or undefined for anything else. */
function binaryenException(e: unknown): [string, string] | undefined {
  if (e instanceof Error || typeof e !== "object" || e === null) return undefined;
  try {
    return (binaryen as unknown as { getExceptionMessage(e: unknown): [string, string] }).getExceptionMessage(e);
  } catch {
    return undefined;
  }
}

/** Running out of Binaryen's memory is the machine's limit (an EnvironmentError); any other exception of its is a bug, said as one. */
function binaryenError(g: Graph, e: unknown): unknown {
  const exception = binaryenException(e);
  if (!exception) return e;
  const [type, what] = exception;
  if (/bad_alloc|length_error/.test(type)) return new EnvironmentError(`model ${g.name}: Binaryen ran out of memory generating its wasm (${type}: ${what}); the model is too large to compile here`);
  return new Error(`Binaryen threw ${type}: ${what}`);
}

/** The SIMD builds `relaxedSimd` asks for; the second reuses the first's data layout and packed weights. */
function builds(g: Graph, opts: ModuleOptions, carry?: readonly Carry[], what?: string): { baseline?: WasmBuild; relaxed?: WasmBuild } {
  const mode = opts.relaxedSimd ?? "auto";
  const dtype = opts.weightsDtype ?? "f32";
  if (dtype !== "f32" && opts.fanInMeans) g = correctBiases(g, dtype, opts.fanInMeans, opts.keepFloat32);
  const shared = wasmShared(g, dtype, opts.keepFloat32);
  const build = (relaxed: boolean) => {
    opts.onProgress?.(`generating ${relaxed ? "relaxed" : "baseline"} SIMD wasm${what ? ` of the ${what}` : ""}`);
    try {
      return buildWasm(g, { relaxed, shared, ...(carry ? { carry } : {}) });
    } catch (e) {
      throw binaryenError(g, e);
    }
  };
  return { ...(mode !== "on" ? { baseline: build(false) } : {}), ...(mode !== "off" ? { relaxed: build(true) } : {}) };
}

export function buildModule(g: Graph, opts: ModuleOptions = {}): { files: ModuleFile[]; parts: ModuleParts } {
  return emitModule({
    name: g.name,
    inputs: ports(g, "inputs"),
    outputs: ports(g, "outputs"),
    ...builds(g, opts),
    embedWeights: opts.embedWeights ?? false,
    idChecks: idChecks(g),
  });
}

/**
 * `g`'s baseline build with float32 weights; each call loads it with the constants given written
 * over theirs in its weights file (f32 stores each as the graph has it) and runs it single-threaded.
 * The tolerance check measures f16 / int8 rounding so: the decoded weights are float32, so the
 * outputs are those of the module the dtype builds (as loaded, Winograd and all), without
 * building one per choice of weights.
 */
export function constantsRunner(g: Graph): ConstantsRunner {
  const built = builds(g, { relaxedSimd: "off" }).baseline!;
  const { parts } = emitModule({ name: g.name, inputs: ports(g, "inputs"), outputs: ports(g, "outputs"), baseline: built, embedWeights: false, idChecks: idChecks(g) });
  let end = 0;
  const offsets = built.weightSegments.map((bytes) => (end += bytes) - bytes);
  return async (constants, inputs) => {
    const weights = parts.weights.slice();
    built.segmentValues.forEach((v, i) => {
      const data = v === undefined ? undefined : constants.get(v);
      if (data) weights.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offsets[i]);
    });
    const model = await loadParts({ ...parts, weights }, { simd: "baseline", threads: 1 });
    try {
      const outputs = [];
      for (const x of inputs) outputs.push(await model.run(x));
      return outputs;
    } finally {
      model.dispose();
    }
  };
}

/** A graph to build for a training module: its held inputs and their starting values. */
export interface TrainingBuildInput {
  graph: Graph;
  held: { names: string[]; start: ReadonlyMap<string, Float32Array | Int32Array> };
  carry?: readonly Carry[];
}

/** The training module of a step graph and an eval-forward graph (both lowered for wasm, weights as inputs). */
export function buildTrainingModule(host: Omit<TrainingManifest, "train" | "eval" | "name">, train: TrainingBuildInput, evaluation: TrainingBuildInput, opts: ModuleOptions = {}): { files: ModuleFile[] } {
  const input = (b: TrainingBuildInput, what: string) => {
    const { baseline, relaxed } = builds(b.graph, opts, b.carry, what);
    return { name: b.graph.name, inputs: ports(b.graph, "inputs"), outputs: ports(b.graph, "outputs"), ...(baseline ? { baseline } : {}), ...(relaxed ? { relaxed } : {}), embedWeights: false, idChecks: idChecks(b.graph), held: b.held };
  };
  return emitTrainingModule({ ...host, name: train.graph.name, train: input(train, "training step"), eval: input(evaluation, "eval forward"), embedWeights: opts.embedWeights ?? false });
}
