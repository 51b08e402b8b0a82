// The IR: a typed SSA dataflow graph. Values have a dtype and a static shape; nodes have an op
// name and attributes; weights are named graph-level values. Nothing here knows the grammar or
// any backend.

export type DType = "f32" | "i32" | "i64" | "bool";

/** Tensor data in memory: i64 as BigInt64Array (integer values are held as Int32Array inside the compiler). */
export type TensorData = Float32Array | Int32Array | BigInt64Array;

export interface TensorType {
  dtype: DType;
  shape: number[];
}

/** Where a node came from, for diagnostics and layer tables (a plain position, not an AST). */
export interface SourceLoc {
  file: string;
  line: number;
  col: number;
}

export type AttrValue = number | string | boolean | number[] | null | FusedStep[];
export type Attrs = Record<string, AttrValue>;

/** One step of a fused elementwise program. Registers 0..n-1 are the node's inputs, then one per step. */
export interface FusedStep {
  op: string;
  args: number[];
  attrs?: Attrs;
}

export type ValueKind = "input" | "weight" | "const" | "node";

export interface Value {
  id: number;
  type: TensorType;
  kind: ValueKind;
  /** Producing node for kind "node". */
  producer?: number;
}

export interface Node {
  id: number;
  op: string;
  inputs: number[];
  outputs: number[];
  attrs: Attrs;
  /** Hierarchical name path of the label scope the node was created in ("" at top level). */
  path: string;
  loc?: SourceLoc;
}

/** How a weight is initialised when no checkpoint is given. */
export type InitKind =
  | { kind: "kaiming"; fanIn: number } // conv / linear weights: N(0, 2/fanIn)
  | { kind: "uniform"; bound: number } // conv / linear biases: U(-bound, bound)
  | { kind: "normal"; std: number } // embeddings
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "const"; value: number };

export interface Weight {
  /** Checkpoint key, e.g. "layer1.0.downsample.1.running_var". */
  name: string;
  value: number;
  type: TensorType;
  /** Trainable parameters count towards `params`; buffers (running stats) do not. */
  trainable: boolean;
  init: InitKind;
}

export interface Constant {
  value: number;
  data: Float32Array | Int32Array;
  /** The checkpoint weight it holds, when bound from one (possibly rewritten by a pass). */
  name?: string;
}

export interface Port {
  name: string;
  value: number;
}

export interface Graph {
  name: string;
  values: Value[];
  nodes: Node[];
  inputs: Port[];
  outputs: Port[];
  weights: Weight[];
  constants: Constant[];
}

export function emptyGraph(name: string): Graph {
  return { name, values: [], nodes: [], inputs: [], outputs: [], weights: [], constants: [] };
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(", ")}]`;
}
