// The importer's state and the context an op entry works in (see import.ts for the whole).
import type { DType } from "../ir/graph.js";
import { getOp } from "../ir/ops.js";
import { ShapeError } from "../ir/shape.js";
import type { TensorData } from "../weights/tensor.js";
import { values as valuesOf } from "./fold.js";
import { OnnxImportError, type AttrValue, type OnnxModel, type OnnxNode, type Tensor } from "./model.js";
import { DataType } from "./proto.js";


/** A value at run time: a .nn variable holding a tensor of known shape. */
export interface TensorVal {
  kind: "tensor";
  name: string;
  dims: number[];
  dtype: DType;
}

/** A value known at import time; `origin` is the ONNX initializer or Constant it is the data of. */
export interface ConstVal {
  kind: "const";
  t: Tensor;
  origin?: string;
}

export type Val = TensorVal | ConstVal;

/** The most elements of a float constant (not an initializer) written as a tensor literal. */
const SMALL_LITERAL = 16;

/** The node cannot be imported (yet): the reason, for the list of every such node. */
export class Unsupported extends Error {}

export const KEYWORDS = new Set(["import", "block", "model", "input", "output", "return", "for", "in", "if", "else", "assert", "shared", "true", "false", "none"]);

/** Built-ins the emitted text calls: a variable of that name would shadow them. */
export const CALLED = new Set([
  "conv2d", "batchnorm", "layernorm", "linear", "matmul", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "prelu", "softmax", "maxpool", "avgpool",
  "global_avgpool", "mean", "sum", "amax", "reshape", "flatten", "transpose", "concat", "split", "slice", "select", "embedding", "cast", "parameter", "param",
  "relu", "relu6", "sigmoid", "tanh", "selu", "silu", "hard_sigmoid", "hard_swish", "exp", "log", "sqrt", "erf", "neg", "abs", "clip", "leaky_relu", "elu", "gelu",
  "conv_transpose2d", "resize", "pad", "expand", "tile", "gather", "where", "logical_not", "tensor", "less", "less_equal", "greater", "greater_equal", "equal",
]);

/** A .nn identifier for any name: `input.1` -> `input_1`, `123` -> `v123`; keywords and called built-ins get a `_`. */
export function identifier(name: string): string {
  let id = name.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+(?=.)/, "");
  if (id === "" || /^\d/.test(id)) id = `v${id}`;
  return KEYWORDS.has(id) || CALLED.has(id) ? `${id}_` : id;
}

const LABEL_SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)$/;

/** Can `name` be written as a label path (so a weight keeps its ONNX name)? */
export const isLabelPath = (name: string) => name.split(".").every((s) => LABEL_SEGMENT.test(s));

/** A readable label path for any name: `a/b:0` -> `a_b_0`, `1x.w` -> `_1x.w`. */
export function sanitizeLabel(name: string): string {
  const segments = name
    .replace(/[^A-Za-z0-9_.]+/g, "_")
    .split(".")
    .filter((s) => s !== "")
    .map((s) => (LABEL_SEGMENT.test(s) ? s : `_${s}`));
  return segments.length ? segments.join(".") : "w";
}

/** The shortest .nn float literal that reads back as the same f32 (ONNX floats are f32: 0.2, not 0.20000000298023224). */
export function float(v: number): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new Unsupported(`the value ${v} has no f32 literal`);
  let shortest = f;
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(f.toPrecision(digits));
    if (Math.fround(d) === f) {
      shortest = d;
      break;
    }
  }
  return Number.isInteger(shortest) && Math.abs(shortest) < 1e15 ? shortest.toFixed(1) : String(shortest);
}

export const list = (xs: readonly number[]) => `[${xs.join(", ")}]`;
export const tuple = (xs: readonly number[]) => (xs.length === 1 ? `(${xs[0]},)` : `(${xs.join(", ")})`);

const DTYPES: Partial<Record<number, DType>> = { [DataType.FLOAT]: "f32", [DataType.INT32]: "i32", [DataType.INT64]: "i64" };

/** The .nn dtype of an ONNX element type, if graphc computes in it. */
export const dtypeOf = (onnxType: number): DType | undefined => DTYPES[onnxType];

/** The context an op entry works in: its node, its inputs, and the ways to emit. */
export class NodeCtx {
  constructor(
    readonly imp: Importer,
    readonly node: OnnxNode,
  ) {}

  get opset(): number {
    return this.imp.model.opset;
  }

  /** Is input i given (ONNX marks a skipped optional input with "")? */
  has(i: number): boolean {
    return (this.node.inputs[i] ?? "") !== "";
  }

  val(i: number): Val {
    return this.imp.lookup(this.node.inputs[i]!);
  }

  /** Input i as a constant: the entry needs its value at import time. */
  const(i: number, what: string): Tensor {
    const v = this.val(i);
    if (v.kind !== "const") throw new Unsupported(`its ${what} (input ${i}, \`${this.node.inputs[i]}\`) must be a constant, but it is computed at run time`);
    return v.t;
  }

  /** Optional constant input i, or undefined. */
  optConst(i: number, what: string): Tensor | undefined {
    return this.has(i) ? this.const(i, what) : undefined;
  }

  /** Input i as a run-time tensor; a constant becomes a weight or a literal (Importer.constTensor). */
  tensor(i: number): TensorVal {
    const v = this.val(i);
    return v.kind === "tensor" ? v : this.imp.constTensor(v, `${this.node.name}.${i}`);
  }

  attr(name: string): AttrValue | undefined {
    return this.node.attrs.get(name);
  }

  int(name: string, dflt: number): number {
    const v = this.attr(name);
    if (v === undefined) return dflt;
    if (typeof v !== "number") throw new Unsupported(`attribute ${name} must be an int`);
    return v;
  }

  float(name: string, dflt: number): number {
    return this.int(name, dflt);
  }

  ints(name: string): number[] | undefined {
    const v = this.attr(name);
    if (v === undefined) return undefined;
    if (typeof v === "number") return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "number")) throw new Unsupported(`attribute ${name} must be a list of ints`);
    return v as number[];
  }

  str(name: string, dflt: string): string {
    const v = this.attr(name);
    if (v === undefined) return dflt;
    if (typeof v !== "string") throw new Unsupported(`attribute ${name} must be a string`);
    return v;
  }

  /** An int list given as an attribute before `inputSince` and as input `index` from then on. */
  intsAttrOrInput(name: string, inputSince: number, index: number): number[] | undefined {
    if (this.opset < inputSince) return this.ints(name);
    const t = this.optConst(index, name);
    return t ? valuesOf(t) : undefined;
  }

  /** Emits `out = expr` for output k; returns its value. */
  emit(expr: string, dims: number[], dtype: DType = "f32", k = 0, comment?: string): TensorVal {
    const name = this.imp.varName(this.node.outputs[k]!);
    this.imp.line(`${name} = ${expr}`, comment);
    return { kind: "tensor", name, dims, dtype };
  }

  /** An intermediate statement (a step of a node that takes several), named after output 0. */
  step(expr: string, dims: number[], dtype: DType = "f32"): TensorVal {
    const name = this.imp.varName(`${this.node.outputs[0]}_${this.imp.stepCount++}`);
    this.imp.line(`${name} = ${expr}`);
    return { kind: "tensor", name, dims, dtype };
  }

  /** `a, b, ... = expr`: one variable per output. */
  emitMany(expr: string, shapes: number[][], dtype: DType): TensorVal[] {
    const names = this.node.outputs.map((o) => this.imp.varName(o || `${this.node.name}_unused`));
    this.imp.line(`${names.join(", ")} = ${expr}`);
    return names.map((name, k) => ({ kind: "tensor", name, dims: shapes[k]!, dtype }));
  }

  /**
   * The label of an operator owning weights `parts` (suffix -> data, ONNX name): the common
   * prefix P when every ONNX name is `P.suffix` and P is a label path, else one made from the
   * node. Registers the weights under `P.suffix`.
   */
  label(parts: { suffix: string; data: Float32Array; dims: number[]; onnx?: string }[]): string {
    return this.imp.label(this.node, parts);
  }

  /** The nodes that read output k. */
  readers(k = 0): OnnxNode[] {
    return this.imp.readers.get(this.node.outputs[k]!) ?? [];
  }

  /** Is output k a graph output (so its value must stay what the node computes)? */
  isOutput(k = 0): boolean {
    return this.imp.model.outputs.some((o) => o.name === this.node.outputs[k]);
  }

  /** Marks a later node as done by this one: its output 0 is `v`. */
  absorb(n: OnnxNode, v: Val): void {
    this.imp.absorbed.set(n, v);
  }

  warn(message: string): void {
    this.imp.warnings.push(`${this.node.op} node \`${this.node.name}\`: ${message}`);
  }
}

/** What an op entry gives: the values of the node's outputs, in order. */
export type Outputs = Val | Val[];

/** One ONNX operator: how to evaluate it on constants, how to emit it, or both. */
export interface OpEntry {
  /** Evaluates the node when every input is a constant (shape subgraphs, weight preparation). */
  fold?: (ins: (Tensor | undefined)[], ctx: NodeCtx) => Tensor[];
  /** Emits the node's .nn statements for run-time inputs. */
  emit?: (ctx: NodeCtx) => Outputs;
  /** The folded result is the input's data reshaped: it keeps the initializer's name. */
  keepsOrigin?: boolean;
  /** The agreed IR op the emit entry waits for (reported while it is missing). */
  pending?: string;
}

export class Importer {
  readonly lines: string[] = [];
  readonly warnings: string[] = [];
  readonly weights = new Map<string, TensorData>();
  readonly weightShapes = new Map<string, number[]>();
  readonly onnxNames = new Map<string, string>();
  readonly readers = new Map<string, OnnxNode[]>();
  readonly absorbed = new Map<OnnxNode, Val>();
  stepCount = 0;
  private readonly values = new Map<string, Val>();
  private readonly usedVars = new Set<string>();
  private readonly usedLabels = new Set<string>();
  /** ONNX value names whose producer could not be imported. */
  private readonly poisoned = new Set<string>();
  private readonly problems: string[] = [];

  constructor(
    readonly model: OnnxModel,
    private readonly ops: Readonly<Record<string, OpEntry>>,
  ) {
    for (const n of model.nodes) for (const i of n.inputs) if (i) this.readers.set(i, [...(this.readers.get(i) ?? []), n]);
  }

  /** The value of `name` if it is defined by now. */
  peek(name: string): Val | undefined {
    return this.values.get(name);
  }

  lookup(name: string): Val {
    const v = this.values.get(name);
    if (!v) throw new Unsupported(`its input \`${name}\` is not defined`);
    return v;
  }

  line(text: string, comment?: string): void {
    this.lines.push(`  ${text}${comment ? `  # ${comment}` : ""}`);
  }

  /** A fresh .nn variable name, readable after `onnxName`. */
  varName(onnxName: string): string {
    const base = identifier(onnxName);
    let name = base;
    for (let k = 1; this.usedVars.has(name); k++) name = `${base}_${k}`;
    this.usedVars.add(name);
    return name;
  }

  /** A label path not used yet, from `base`. */
  private freshLabel(base: string, suffixes: string[]): string {
    const free = (p: string) => !this.usedLabels.has(p) && suffixes.every((s) => !this.weights.has(s ? `${p}.${s}` : p));
    let label = base;
    for (let k = 1; !free(label); k++) label = `${base}_${k}`;
    this.usedLabels.add(label);
    return label;
  }

  private addWeight(name: string, data: Float32Array, dims: number[], onnx: string | undefined): void {
    this.weights.set(name, data);
    this.weightShapes.set(name, dims);
    if (onnx !== undefined && onnx !== name) this.onnxNames.set(name, onnx);
  }

  label(node: OnnxNode, parts: { suffix: string; data: Float32Array; dims: number[]; onnx?: string }[]): string {
    // Parts without an ONNX name (data the import computed, e.g. a weight transposed back) follow the named ones.
    const named = parts.filter((p) => p.onnx !== undefined);
    const prefixes = named.map((p) => (p.onnx!.endsWith(`.${p.suffix}`) ? p.onnx!.slice(0, -p.suffix.length - 1) : undefined));
    const common = prefixes[0];
    const suffixes = parts.map((p) => p.suffix);
    const keeps = common !== undefined && prefixes.every((p) => p === common) && isLabelPath(common) && !this.usedLabels.has(common) && suffixes.every((s) => !this.weights.has(`${common}.${s}`));
    // Otherwise after the first named weight's ONNX name without its last part (`conv2d_53.w_0` -> `conv2d_53`), else the node.
    const first = named[0]?.onnx;
    const base = first !== undefined ? first.replace(/\.[^.]*$/, "") || first : node.name || node.outputs[0] || node.op;
    const label = keeps ? common : this.freshLabel(sanitizeLabel(base), suffixes);
    if (keeps) this.usedLabels.add(label);
    for (const p of parts) this.addWeight(`${label}.${p.suffix}`, p.data, p.dims, p.onnx);
    return label;
  }

  /**
   * A constant used as a run-time tensor. Integers and bools are `tensor` literals (bools as
   * `!= 0` of an i32 one), and so are floats of up to SMALL_LITERAL elements that are not
   * initializers (Constant nodes, folded subgraphs); other floats are `parameter` weights.
   */
  constTensor(v: ConstVal, fallback: string): TensorVal {
    const n = v.t.data.length;
    if (v.t.type !== "float" || (n <= SMALL_LITERAL && !this.model.initializers.has(v.origin ?? ""))) return this.literal(v.t, v.origin ?? fallback);
    const base = v.origin !== undefined && isLabelPath(v.origin) ? v.origin : sanitizeLabel(v.origin ?? fallback);
    const label = this.freshLabel(base, [""]);
    this.addWeight(label, v.t.data as Float32Array, v.t.dims, v.origin);
    const name = this.varName(label);
    this.line(`${name} = ${label}: parameter(${list(v.t.dims)})`, v.origin !== undefined && v.origin !== label ? `ONNX ${v.origin}` : undefined);
    return { kind: "tensor", name, dims: v.t.dims, dtype: "f32" };
  }

  private literal(t: Tensor, onnxName: string): TensorVal {
    const dtype: DType = t.type === "float" ? "f32" : t.type === "bool" || t.onnxType === DataType.INT32 ? "i32" : "i64";
    const number = (x: number) => (t.type === "float" ? float(x) : String(x));
    // Nested lists in the tensor's shape; a scalar is a one-element list reshaped to [].
    const nest = (dims: number[], at: number): string => {
      if (dims.length === 0) return number(t.data[at]!);
      const inner = dims.slice(1).reduce((a, b) => a * b, 1);
      return `[${Array.from({ length: dims[0]! }, (_, k) => nest(dims.slice(1), at + k * inner)).join(", ")}]`;
    };
    const name = this.varName(onnxName);
    const data = `tensor(${t.dims.length ? nest(t.dims, 0) : `[${number(t.data[0]!)}]`}${dtype === "f32" ? "" : `, dtype="${dtype}"`})`;
    const shaped = t.dims.length ? data : `reshape(${data}, [])`;
    this.line(`${name} = ${t.type === "bool" ? `${shaped} != 0` : shaped}`);
    return { kind: "tensor", name, dims: t.dims, dtype: t.type === "bool" ? "bool" : dtype };
  }

  define(name: string, v: Val): void {
    if (name) this.values.set(name, v);
  }

  /** Imports every node; collects each problem, then throws them all. */
  run(): void {
    const { model } = this;
    for (const [name, t] of model.initializers) this.define(name, { kind: "const", t, origin: name });
    for (const n of model.nodes) {
      const absorbed = this.absorbed.get(n);
      if (absorbed) {
        this.define(n.outputs[0]!, absorbed);
        continue;
      }
      if (n.inputs.some((i) => i && this.poisoned.has(i))) {
        // Downstream of a node that failed: an op that could not be imported anyway is still reported.
        const entry = Object.hasOwn(this.ops, n.op) ? this.ops[n.op] : undefined;
        if (n.domain || !entry?.emit) this.problems.push(`${this.where(n)}: ${n.domain ? `operators of the domain ${n.domain} are not supported` : entry ? this.pendingReason(entry) : "unsupported operator"}`);
        for (const o of n.outputs) this.poisoned.add(o);
        continue;
      }
      try {
        const outs = this.node(n);
        n.outputs.forEach((o, k) => {
          const v = outs[k];
          if (v) this.define(o, v);
          else if (o) this.poisoned.add(o);
        });
      } catch (e) {
        if (!(e instanceof Unsupported || e instanceof RangeError || e instanceof ShapeError || e instanceof OnnxImportError)) throw e;
        this.problems.push(`${this.where(n)}: ${e.message}`);
        for (const o of n.outputs) this.poisoned.add(o);
      }
    }
    if (this.problems.length) throw new OnnxImportError(this.problems);
  }

  private where(n: OnnxNode): string {
    return `${n.domain ? `${n.domain}.` : ""}${n.op} node \`${n.name}\` (opset ${this.model.opset})`;
  }

  private pendingReason(entry: OpEntry): string {
    return entry.pending ? `needs the IR op ${entry.pending}, not available yet (only constant inputs are folded)` : "only constant inputs are supported (it is folded at import)";
  }

  private node(n: OnnxNode): Val[] {
    if (n.domain) throw new Unsupported(`operators of the domain ${n.domain} are not supported`);
    if (!Object.hasOwn(this.ops, n.op)) throw new Unsupported("unsupported operator");
    const entry = this.ops[n.op]!;
    const ctx = new NodeCtx(this, n);
    const ins = n.inputs.map((i) => (i ? this.lookup(i) : undefined));
    if (entry.fold && ins.every((v) => v === undefined || v.kind === "const")) {
      const folded = entry.fold(
        ins.map((v) => (v as ConstVal | undefined)?.t),
        ctx,
      );
      // Data that only changed shape keeps its name (a reshaped or squeezed initializer).
      const origin = entry.keepsOrigin ? (ins[0] as ConstVal | undefined)?.origin : undefined;
      return folded.map((t, k) => ({ kind: "const", t, origin: origin ?? (n.outputs[k] || undefined) }));
    }
    if (!entry.emit) throw new Unsupported(this.pendingReason(entry));
    const out = entry.emit(ctx);
    return Array.isArray(out) ? out : [out];
  }
}

/** A run-time value's ONNX element type for Cast and Shape: f32 -> FLOAT, ... */
export function onnxTypeOf(dtype: DType): number {
  return dtype === "f32" ? DataType.FLOAT : dtype === "i32" ? DataType.INT32 : dtype === "i64" ? DataType.INT64 : DataType.BOOL;
}

/** The output dims of IR op `op` for inputs of these shapes and IR attributes (the registry's inference). */
export function inferDims(op: string, inputs: { dims: number[]; dtype?: DType }[], attrs: Record<string, unknown>): number[] {
  const [t] = getOp(op).infer(
    inputs.map((i) => ({ dtype: i.dtype ?? "f32", shape: i.dims })),
    attrs as never,
  );
  return t!.shape;
}

