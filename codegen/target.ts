// The contract between the compile driver and a backend. A target names the pass pipeline it
// wants, says which nodes it runs (the driver decomposes the others into core ops, or reports
// them), and turns an optimised graph (weights bound as constants) into the files of an ES module.
import type { Graph, Node, TensorData } from "../src/ir/graph.js";

export interface TargetFile {
  name: string;
  contents: Uint8Array | string;
}

/** Options every target reads; a target ignores the ones that are not its own. */
export interface TargetOptions {
  /** wasm: "auto" ships baseline and relaxed SIMD builds and picks at load time; "on" relaxed only; "off" baseline only. */
  relaxedSimd?: "auto" | "on" | "off";
  /** wasm: the wasm and the weights inside NAME.mjs (base64). */
  embedWeights?: boolean;
  /** wasm: how weights.bin stores conv / linear / matmul / embedding weights (f32, f16, or int8 per output channel); default f32. */
  weightsDtype?: "f32" | "f16" | "int8";
  /** Called before each long step, e.g. to print progress. */
  onProgress?: (step: string) => void;
}

/** What emit() takes besides the options: figures the driver measured on the graph. */
export interface EmitOptions extends TargetOptions {
  /**
   * wasm, with f16 / int8 weights: per conv2d / linear node id, the mean of each element of its
   * fan-in on calibration inputs, for the bias correction (codegen/wasm/bias-correction.ts);
   * without it, no bias is corrected.
   */
  fanInMeans?: ReadonlyMap<number, Float64Array>;
  /** wasm, with f16 / int8 weights: constants (by value) to store float32 all the same. */
  keepFloat32?: ReadonlySet<number>;
}

/** A weight as a target with f16 / int8 storage decodes it at load, and the biases it corrects for its rounding. */
export interface RoundedWeight {
  weight: number;
  decoded: Float32Array;
  biases: { value: number; data: Float32Array }[];
}

/** A node as messages name it: its op and its label path. */
export function describeNode(n: Node): string {
  return `\`${n.op}\`${n.path ? ` (in \`${n.path}\`)` : ""}`;
}

/** A limit of the target that a graph exceeds, and the node at fault when one is. */
export interface LimitProblem {
  message: string;
  node?: Node;
}

/**
 * A limit found only while emitting (when the exact size is known, e.g. wasm memory with packed
 * weights and scratch): the driver reports it like the problems of `limits()`.
 */
export class TargetLimitError extends Error {
  override readonly name = "TargetLimitError";
}

export interface Emitted {
  files: TargetFile[];
  /** What instantiate() needs, when the target can run in this process. */
  parts?: unknown;
}

export interface Target {
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  /** The target's default pass pipeline, given the standard one (names only: codegen knows no passes). */
  pipeline(standard: readonly string[]): string[];
  /** Whether the target runs `node` as it is; otherwise the driver decomposes it (or, in core form, reports it). */
  supports(graph: Graph, node: Node): true | { unsupported: string };
  /** Options this target rejects (a usage error), e.g. --embed-weights for wgsl. */
  checkOptions?(options: TargetOptions): string | undefined;
  /** The target's own limits (memory, buffer sizes) that a lowered graph exceeds: the driver reports them before emit(). */
  limits?(graph: Graph): LimitProblem[];
  emit(graph: Graph, options: EmitOptions): Emitted;
  /**
   * The weights emit() would encode for `options.weightsDtype` (f16 / int8; those of keepFloat32
   * left out), as the module decodes them, with the biases fanInMeans corrects: for the driver to
   * measure what their rounding does to the outputs.
   */
  roundedWeights?(graph: Graph, options: EmitOptions): RoundedWeight[];
  /** With roundedWeights: `graph` built once to run in this process, for the driver to run the rounded weights through the module's own kernels. */
  constantsRunner?(graph: Graph): ConstantsRunner;
}

/**
 * Runs a built graph on each of `inputs` with the data of some of its constants (by value)
 * replaced by others of their length; the outputs come back per input, by name.
 */
export type ConstantsRunner = (constants: ReadonlyMap<number, Float32Array>, inputs: readonly Record<string, TensorData>[]) => Promise<Record<string, ArrayLike<number>>[]>;
