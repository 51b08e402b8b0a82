// IR graph -> ONNX ModelProto (opset 17, IR version 8). The graph is first lowered to core ops
// (fused epilogues, channels-last layouts, fused_elementwise and attention become their registry
// decompositions); then every core op maps to one or more standard ONNX nodes with PyTorch's
// semantics (the interpreter's); weights and constants become initializers, weights under their
// checkpoint names.
//
// Naming: graph inputs keep their port names, outputs their port names (an Identity node is
// added when an output is not a node result of its own, e.g. a graph input, a weight, or a value
// that is already another output), initializers of weights their checkpoint names; every other
// tensor gets a fresh name that collides with none of these.
import { decompose } from "../ir/decompose.js";
import { numel, type DType, type Graph, type Node, type TensorType } from "../ir/graph.js";
import { attrsOf, binaryOps, compareOps, isOp, type AttrsOf, type BinaryOp, type CompareOp, type OpName, type UnaryOp } from "../ir/ops.js";
import { sameShape, type PadMode } from "../ir/shape.js";
import { GELU_TANH_CUBIC, SQRT_2_OVER_PI } from "../base/math.js";
import type { TensorData } from "../weights/tensor.js";
import { AttrType, DataType, encodeModel, type AttributeMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg } from "./proto.js";

export const OPSET = 17;
export const IR_VERSION = 8;
export const PRODUCER = "graphc";
export const PRODUCER_VERSION = "0.1.0";

/** A graph the exporter cannot express (unknown op, missing weight data): a bug or bad input. */
export class OnnxExportError extends Error {}

const elemType: Record<DType, number> = { f32: DataType.FLOAT, i32: DataType.INT32, i64: DataType.INT64, bool: DataType.BOOL };

const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Little-endian bytes of a typed array (a view when the host is little-endian). */
function rawBytes(data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Uint8Array {
  if (littleEndian || data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else if (data instanceof Int32Array) data.forEach((v, i) => view.setInt32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

/** Converts `data` to the typed array of `dtype` (integers widen/narrow exactly; bool, held as 0 / 1, to ONNX's one byte each). */
function asDtype(data: TensorData, dtype: DType, what: string): TensorData | Uint8Array {
  if (dtype === "f32") {
    if (data instanceof Float32Array) return data;
    throw new OnnxExportError(`${what}: expected f32 data, got ${data.constructor.name}`);
  }
  if (data instanceof Float32Array) throw new OnnxExportError(`${what}: expected ${dtype} data, got Float32Array`);
  if (dtype === "i32") return data instanceof Int32Array ? data : Int32Array.from(data, (v) => Number(v));
  if (dtype === "i64") return data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  return Uint8Array.from(data as ArrayLike<number | bigint>, (v) => (v ? 1 : 0));
}

const f = (name: string, v: number): AttributeMsg => ({ name, type: AttrType.FLOAT, f: v });
const i = (name: string, v: number): AttributeMsg => ({ name, type: AttrType.INT, i: v });
const ints = (name: string, v: readonly number[]): AttributeMsg => ({ name, type: AttrType.INTS, ints: [...v] });
const str = (name: string, v: string): AttributeMsg => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(v) });

class Builder {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  private readonly taken = new Set<string>();
  private readonly names = new Map<number, string>();
  private readonly emitted = new Set<number>();
  private readonly scalars = new Map<string, string>();
  /** The IR node being lowered: it names the ONNX nodes and tensors made for it. */
  current: Node | undefined;

  constructor(
    readonly g: Graph,
    readonly weights: Map<string, TensorData>,
  ) {
    for (const p of g.inputs) this.claim(p.name, p.value, `input \`${p.name}\``);
    for (const w of g.weights) if (!this.names.has(w.value)) this.claim(w.name, w.value, `weight \`${w.name}\``);
    // A node result that is an output takes the output's name directly (first output wins).
    for (const p of g.outputs) {
      if (this.taken.has(p.name)) throw new OnnxExportError(`output \`${p.name}\` has the name of an input or a weight; ONNX needs distinct tensor names`);
      this.taken.add(p.name);
      const v = g.values[p.value]!;
      if (v.kind === "node" && !this.names.has(p.value)) this.names.set(p.value, p.name);
    }
  }

  private claim(name: string, value: number, what: string): void {
    if (this.taken.has(name)) throw new OnnxExportError(`${what}: the name is used twice; ONNX needs distinct tensor names`);
    this.taken.add(name);
    this.names.set(value, name);
  }

  /** A tensor name not used yet, based on `base`. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }

  type(id: number): TensorType {
    return this.g.values[id]!.type;
  }

  /** The ONNX name of IR value `id`, adding its initializer on first use of a weight or constant. */
  ref(id: number): string {
    const v = this.g.values[id]!;
    if (v.kind === "weight" && !this.emitted.has(id)) {
      this.emitted.add(id);
      const w = this.g.weights.find((x) => x.value === id)!;
      const data = this.weights.get(w.name);
      if (!data) throw new OnnxExportError(`no data for weight \`${w.name}\``);
      if (data.length !== numel(w.type.shape)) throw new OnnxExportError(`weight \`${w.name}\` has ${data.length} elements, its shape [${w.type.shape.join(", ")}] needs ${numel(w.type.shape)}`);
      this.initializer(this.names.get(id)!, w.type.dtype, w.type.shape, asDtype(data, w.type.dtype, `weight \`${w.name}\``));
    } else if (v.kind === "const" && !this.emitted.has(id)) {
      this.emitted.add(id);
      const c = this.g.constants.find((x) => x.value === id);
      if (!c) throw new OnnxExportError(`constant value ${id} has no data`);
      // a bound weight keeps its checkpoint name (made unique if a pass duplicated it)
      const name = this.fresh(c.name ?? `const_${id}`);
      this.names.set(id, name);
      this.initializer(name, v.type.dtype, v.type.shape, asDtype(c.data, v.type.dtype, `constant ${id}`));
    }
    let name = this.names.get(id);
    if (name === undefined) {
      name = this.fresh(`t${id}`);
      this.names.set(id, name);
    }
    return name;
  }

  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorData | Uint8Array): void {
    this.initializers.push({ name, dims: [...dims], data_type: elemType[dtype], raw_data: rawBytes(data) });
  }

  /** A shared f32 scalar initializer. */
  scalar(v: number): string {
    const key = Object.is(v, -0) ? "-0" : String(v);
    let name = this.scalars.get(key);
    if (!name) {
      name = this.fresh(`scalar_${key}`);
      this.scalars.set(key, name);
      this.initializer(name, "f32", [], Float32Array.of(v));
    }
    return name;
  }

  /** A scalar initializer of `dtype` (f32 ones shared), named after the current node. */
  scalarOf(dtype: DType, v: number): string {
    if (dtype === "f32") return this.scalar(v);
    const name = this.fresh(`${this.base}_value`);
    this.initializer(name, dtype, [], asDtype(Int32Array.of(v), dtype, "scalar"));
    return name;
  }

  /** The base of the current node's fresh tensor names. */
  private get base(): string {
    return `t${this.current!.outputs[0]}`;
  }

  /** An int64 1-D initializer (shapes, axes, split sizes, slice bounds), named after the current node. */
  i64(what: string, values: readonly number[]): string {
    const name = this.fresh(`${this.base}_${what}`);
    this.initializer(name, "i64", [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
    return name;
  }

  /** An f32 1-D initializer (Resize's scales), named after the current node. */
  f32s(what: string, values: readonly number[]): string {
    const name = this.fresh(`${this.base}_${what}`);
    this.initializer(name, "f32", [values.length], Float32Array.from(values));
    return name;
  }

  /** Adds one ONNX node; returns its first output name. */
  node(op: string, inputs: string[], outputs: string[], attribute: AttributeMsg[] = []): string {
    const n = this.current;
    const name = this.fresh(`${n?.path ? `${n.path}/` : ""}${op}_${this.nodes.length}`);
    const msg: NodeMsg = { input: inputs, output: outputs, name, op_type: op, attribute };
    if (n?.loc) msg.doc_string = `${n.op} at ${n.loc.file}:${n.loc.line}:${n.loc.col}`;
    this.nodes.push(msg);
    return outputs[0]!;
  }

  /** A node with one fresh intermediate output. */
  tmp(op: string, inputs: string[], attribute: AttributeMsg[] = []): string {
    return this.node(op, inputs, [this.fresh(this.base)], attribute);
  }
}

/**
 * Emits the ONNX nodes of one core IR node of op N: `ins` and `outs` are the ONNX names of its
 * inputs and outputs, `inT` its input types.
 */
type Lowering<N extends OpName> = (b: Builder, ins: string[], outs: string[], a: AttrsOf<N>, inT: TensorType[]) => void;

/** The entry of a fused-tier op: decompose() replaces it by core ops before lowering. */
const DECOMPOSED = { decomposed: true } as const;
type Decomposed = typeof DECOMPOSED;

/** An op that is one ONNX node of the same inputs and outputs, without attributes. */
const direct = (onnxOp: string): Lowering<OpName> => (b, ins, outs) => void b.node(onnxOp, ins, outs);

const unaryLowerings: { readonly [N in UnaryOp]: Lowering<N> } = {
  relu: direct("Relu"),
  sigmoid: direct("Sigmoid"),
  tanh: direct("Tanh"),
  exp: direct("Exp"),
  log: direct("Log"),
  sqrt: direct("Sqrt"),
  erf: direct("Erf"),
  neg: direct("Neg"),
  abs: direct("Abs"),
  // ONNX's default alpha and gamma are PyTorch's constants rounded to float32.
  selu: direct("Selu"),
  // ONNX HardSwish is x * max(0, min(1, x/6 + 1/2)) = x * relu6(x + 3) / 6, as in PyTorch.
  hard_swish: direct("HardSwish"),
  relu6: (b, [x], [y]) => void b.node("Clip", [x!, b.scalar(0), b.scalar(6)], [y!]),
  clip: (b, [x], [y], a) => void b.node("Clip", [x!, b.scalar(a.min), b.scalar(a.max)], [y!]),
  silu: (b, [x], [y]) => void b.node("Mul", [x!, b.tmp("Sigmoid", [x!])], [y!]),
  // Always explicit: ONNX's defaults (0.2, 0.5) are not PyTorch's (1/6, 0.5).
  hard_sigmoid: (b, [x], [y], a) => void b.node("HardSigmoid", [x!], [y!], [f("alpha", a.alpha), f("beta", a.beta)]),
  leaky_relu: (b, [x], [y], a) => void b.node("LeakyRelu", [x!], [y!], [f("alpha", a.slope)]),
  elu: (b, [x], [y], a) => void b.node("Elu", [x!], [y!], [f("alpha", a.alpha)]),
  gelu: (b, [x], [y], a) => {
    // Opset 17 has no Gelu (it arrived in opset 20): build PyTorch's formulas.
    let inner: string;
    if (a.approximate === "tanh") {
      // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
      const x3 = b.tmp("Mul", [b.tmp("Mul", [x!, x!]), x!]);
      const poly = b.tmp("Add", [x!, b.tmp("Mul", [x3, b.scalar(GELU_TANH_CUBIC)])]);
      inner = b.tmp("Tanh", [b.tmp("Mul", [poly, b.scalar(SQRT_2_OVER_PI)])]);
    } else if (a.approximate === "none" || a.approximate === undefined) {
      // erf(x / sqrt 2), as x * (1/sqrt 2) like PyTorch's kernel
      inner = b.tmp("Erf", [b.tmp("Mul", [x!, b.scalar(Math.SQRT1_2)])]);
    } else throw new OnnxExportError(`gelu: unknown approximate ${JSON.stringify(a.approximate)}`);
    const half = b.tmp("Mul", [x!, b.scalar(0.5)]);
    b.node("Mul", [half, b.tmp("Add", [inner, b.scalar(1)])], [y!]);
  },
};

// Opset 17 has no NotEqual.
const onnxCompare: Record<CompareOp, Lowering<CompareOp>> = {
  less: direct("Less"),
  less_equal: direct("LessOrEqual"),
  greater: direct("Greater"),
  greater_equal: direct("GreaterOrEqual"),
  equal: direct("Equal"),
  not_equal: (b, ins, [y]) => void b.node("Not", [b.tmp("Equal", ins)], [y!]),
};

const onnxBinary: Record<BinaryOp, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", maximum: "Max", minimum: "Min" };

function pool(onnxOp: "MaxPool" | "AveragePool"): Lowering<"maxpool" | "avgpool"> {
  return (b, [x], [y], a) => {
    const attrs = [ints("kernel_shape", a.kernel), ints("strides", a.stride), ints("pads", a.pads), i("ceil_mode", a.ceil_mode ? 1 : 0)];
    const dilation = a.dilation ?? [1, 1];
    if (onnxOp === "MaxPool") attrs.push(ints("dilations", dilation));
    else {
      if (dilation.some((d) => d !== 1)) throw new OnnxExportError("avgpool: dilation needs AveragePool-19, beyond opset 17");
      attrs.push(i("count_include_pad", a.count_include_pad ? 1 : 0));
    }
    b.node(onnxOp, [x!], [y!], attrs);
  };
}

/** A reduction's axes, never empty: ONNX reads no axes as every axis (the registry rejects an empty list, so one here is a bug). */
function reduceAxes(op: string, axes: readonly number[]): number[] {
  if (axes.length === 0) throw new Error(`internal error: ONNX export of ${op} with an empty axes list, which the registry rejects and ONNX would read as every axis`);
  return [...axes];
}

/**
 * ONNX pads are [top, left, bottom, right] (begins, then ends) like ours; W is [C, K/group, kh, kw]
 * as PyTorch's. onnxruntime rejects an output_padding not below the stride, which PyTorch allows
 * when it is below the dilation. Then: the uncropped ConvTranspose (no pads, no output_padding),
 * sliced to the window our pads and output_padding select, padded with zeros where that window
 * passes the end (rows no input reaches), and the bias added; a window wholly past the end is the
 * bias (or 0) alone.
 */
const convTranspose: Lowering<"conv_transpose2d"> = (b, [x, w, bias], [y], a, [xt, wt, bt]) => {
  const attrs = (pads: number[], extra: number[]) => [
    ints("kernel_shape", wt!.shape.slice(2)), ints("strides", a.stride), ints("pads", pads), ints("dilations", a.dilation), ints("output_padding", extra), i("group", a.groups),
  ];
  if (a.output_padding.every((e, d) => e < a.stride[d]!)) return void b.node("ConvTranspose", bias === undefined ? [x!, w!] : [x!, w!, bias], [y!], attrs(a.pads, a.output_padding));
  const [n, , h, wd] = xt!.shape as [number, number, number, number];
  const k = wt!.shape[1]! * a.groups;
  const out = [h, wd].map((size, d) => (size - 1) * a.stride[d]! - a.pads[d]! - a.pads[d + 2]! + a.dilation[d]! * (wt!.shape[d + 2]! - 1) + a.output_padding[d]! + 1);
  const full = [h, wd].map((size, d) => (size - 1) * a.stride[d]! + a.dilation[d]! * (wt!.shape[d + 2]! - 1) + 1);
  const ends = full.map((f, d) => Math.min(f, a.pads[d]! + out[d]!));
  const kept = ends.map((e, d) => e - a.pads[d]!);
  const biasMap = () => b.tmp("Reshape", [bias!, b.i64("bias_shape", [bt!.shape[0]!, 1, 1])]);
  const shape = [n, k, ...out];
  if (kept.some((len) => len <= 0)) return void b.node("Expand", [bias === undefined ? b.scalar(0) : biasMap(), b.i64("shape", shape)], [y!]);
  const cropped = kept.some((len, d) => len < full[d]!);
  const padded = kept.some((len, d) => len < out[d]!);
  /** A step: into y when it is the last, else into a temporary. */
  const step = (op: string, inputs: string[], attribute: AttributeMsg[], last: boolean): string => {
    if (!last) return b.tmp(op, inputs, attribute);
    b.node(op, inputs, [y!], attribute);
    return y!;
  };
  let v = step("ConvTranspose", [x!, w!], attrs([0, 0, 0, 0], [0, 0]), !cropped && !padded && bias === undefined);
  if (cropped) v = step("Slice", [v, b.i64("starts", a.pads.slice(0, 2)), b.i64("ends", ends), b.i64("axes", [2, 3])], [], !padded && bias === undefined);
  if (padded) v = step("Pad", [v, b.i64("pads", [0, 0, 0, 0, 0, 0, ...kept.map((len, d) => out[d]! - len)])], [], bias === undefined);
  if (bias !== undefined) step("Add", [v, biasMap()], [], true);
};

/** The core form keeps no epilogue but the convolutions' and linear's own bias, and only NCHW layouts. */
const lowerings: { readonly [N in OpName]: Lowering<N> | Decomposed } = {
  ...unaryLowerings,
  ...(Object.fromEntries(binaryOps.map((op) => [op, direct(onnxBinary[op])])) as Record<BinaryOp, Lowering<BinaryOp>>),

  // PRelu broadcasts the slope numpy-style (from the right); the IR applies it along axis 1, so
  // [n] slopes become [n, 1, ..., 1].
  prelu: (b, [x, slope], [y], _a, [xt, st]) => {
    const rank = xt!.shape.length;
    const shape = rank >= 2 ? [numel(st!.shape), ...Array<number>(rank - 2).fill(1)] : [numel(st!.shape)];
    const s = sameShape(shape, st!.shape) ? slope! : b.tmp("Reshape", [slope!, b.i64("slope_shape", shape)]);
    b.node("PRelu", [x!, s], [y!]);
  },
  cast: (b, [x], [y], a) => void b.node("Cast", [x!], [y!], [i("to", elemType[a.to])]),
  ...(Object.fromEntries(compareOps.map((op) => [op, onnxCompare[op]])) as Record<CompareOp, Lowering<CompareOp>>),
  where: direct("Where"),
  logical_not: direct("Not"),
  random_uniform: () => {
    throw new OnnxExportError("random_uniform: ONNX has no counter-based generator (RandomUniform draws differ per runtime), so a graph with dropout in training mode does not export");
  },
  conv2d: (b, ins, [y], a, [, wt]) =>
    void b.node("Conv", ins, [y!], [ints("kernel_shape", wt!.shape.slice(2)), ints("strides", a.stride), ints("pads", a.pads), ints("dilations", a.dilation), i("group", a.groups)]),
  conv_transpose2d: convTranspose,
  maxpool: pool("MaxPool"),
  avgpool: pool("AveragePool"),
  global_avgpool: direct("GlobalAveragePool"),
  // Resize-13: inputs X, roi (unused), scales or sizes (exactly one); the attribute values are
  // ONNX's names. Scales travel as f32 (ONNX's type): a factor f32 does not hold (1/3) moves the
  // coordinates by its rounding.
  resize: (b, [x], [y], a) => {
    const target = a.scales ? ["", b.f32s("scales", a.scales)] : ["", "", b.i64("sizes", a.sizes)];
    const attrs = [str("mode", a.mode), str("coordinate_transformation_mode", a.coordinate)];
    if (a.mode === "nearest") attrs.push(str("nearest_mode", a.nearest ?? "round_prefer_floor"));
    b.node("Resize", [x!, ...target], [y!], attrs);
  },
  batchnorm: (b, ins, [y], a) => void b.node("BatchNormalization", ins, [y!], [f("epsilon", a.eps)]),
  layernorm: (b, ins, [y], a) => void b.node("LayerNormalization", ins, [y!], [i("axis", -1), f("epsilon", a.eps)]),
  linear: (b, [x, w, bias], [y], a, [xt]) => {
    // 2-D: Gemm computes x · Wᵀ + b directly (transB), b broadcasting over the rows.
    if (xt!.shape.length === 2) return void b.node("Gemm", a.bias ? [x!, w!, bias!] : [x!, w!], [y!], [i("transB", 1)]);
    // Any other rank: MatMul against Wᵀ (a Transpose of the weight, which onnxruntime folds
    // into a constant at load time), then the bias.
    const wT = b.tmp("Transpose", [w!], [ints("perm", [1, 0])]);
    if (!a.bias) return void b.node("MatMul", [x!, wT], [y!]);
    b.node("Add", [b.tmp("MatMul", [x!, wT]), bias!], [y!]);
  },
  matmul: direct("MatMul"),
  softmax: (b, [x], [y], a) => void b.node("Softmax", [x!], [y!], [i("axis", a.axis)]),
  // ReduceMean-13 / ReduceMax-13 take axes as an attribute; ReduceSum-13 as an input.
  reduce_mean: (b, [x], [y], a) => void b.node("ReduceMean", [x!], [y!], [ints("axes", reduceAxes("reduce_mean", a.axes)), i("keepdims", a.keepdim ? 1 : 0)]),
  reduce_max: (b, [x], [y], a) => void b.node("ReduceMax", [x!], [y!], [ints("axes", reduceAxes("reduce_max", a.axes)), i("keepdims", a.keepdim ? 1 : 0)]),
  reduce_sum: (b, [x], [y], a) => void b.node("ReduceSum", [x!, b.i64("axes", reduceAxes("reduce_sum", a.axes))], [y!], [i("keepdims", a.keepdim ? 1 : 0)]),
  reshape: (b, [x], [y], a) => void b.node("Reshape", [x!, b.i64("shape", a.shape)], [y!], a.shape.includes(0) ? [i("allowzero", 1)] : []),
  transpose: (b, [x], [y], a) => void b.node("Transpose", [x!], [y!], [ints("perm", a.perm)]),
  concat: (b, ins, [y], a) => void b.node("Concat", ins, [y!], [i("axis", a.axis)]),
  split: (b, [x], outs, a) => void b.node("Split", [x!, b.i64("split", a.sizes)], outs, [i("axis", a.axis)]),
  // The IR's start, end and step are ONNX Slice's, clamping included.
  slice: (b, [x], [y], a) => void b.node("Slice", [x!, b.i64("starts", [a.start]), b.i64("ends", [a.end]), b.i64("axes", [a.axis]), b.i64("steps", [a.step ?? 1])], [y!]),
  // negative_ids "error" only narrows the ids the IR accepts; Gather reads the rest alike.
  gather: (b, ins, [y], a) => void b.node("Gather", ins, [y!], [i("axis", a.axis ?? 0)]),
  pad: (b, [x], [y], a, [xt]) => {
    const value = a.value ?? 0;
    const mode = { constant: "constant", reflect: "reflect", replicate: "edge" }[(a.mode ?? "constant") as PadMode];
    const ins = [x!, b.i64("pads", a.pads)];
    // constant_value has the tensor's type; its default is 0.
    if (mode === "constant" && value !== 0) ins.push(b.scalarOf(xt!.dtype, value));
    b.node("Pad", ins, [y!], [str("mode", mode)]);
  },
  expand: (b, [x], [y], a) => void b.node("Expand", [x!, b.i64("shape", a.shape)], [y!]),
  tile: (b, [x], [y], a) => void b.node("Tile", [x!, b.i64("repeats", a.repeats)], [y!]),
  fused_elementwise: DECOMPOSED,
  dropout: DECOMPOSED,
  attention: DECOMPOSED,
};

/** Emits node n, of op `op`, with its attributes typed. */
function lower<N extends OpName>(b: Builder, op: N, n: Node): void {
  const lowering = lowerings[op];
  if (typeof lowering !== "function") throw new Error(`ONNX export: ${op} should have been decomposed`);
  b.current = n;
  const ins = n.inputs.map((id) => b.ref(id));
  const outs = n.outputs.map((id) => b.ref(id));
  lowering(b, ins, outs, attrsOf(n, op), n.inputs.map((id) => b.type(id)));
}

/** A copy of `g` that decompose() may rewrite: new node, value and port records, shared constant data. */
function copyGraph(g: Graph): Graph {
  return {
    ...g,
    values: g.values.map((v) => ({ ...v })),
    nodes: g.nodes.map((n) => ({ ...n })),
    inputs: g.inputs.map((p) => ({ ...p })),
    outputs: g.outputs.map((p) => ({ ...p })),
    weights: [...g.weights],
    constants: [...g.constants],
  };
}

function valueInfo(name: string, t: TensorType): ValueInfoMsg {
  return { name, type: { tensor_type: { elem_type: elemType[t.dtype], shape: { dim: t.shape.map((d) => ({ dim_value: d })) } } } };
}

/**
 * Serialises `graph` as an ONNX model. `weights` maps checkpoint names to data (as from
 * `loadWeights`); weights no node reads (e.g. `num_batches_tracked`) are left out.
 */
export function exportOnnx(graph: Graph, weights: Map<string, TensorData>): Uint8Array {
  // Every known op down to core form; an unknown one is left for the loop below to report.
  const core = decompose(copyGraph(graph), (_, n) => isOp(n.op)).graph;
  const b = new Builder(core, weights);
  for (const n of core.nodes) {
    const op = n.op;
    if (!isOp(op)) throw new OnnxExportError(`no ONNX lowering for IR op \`${op}\``);
    lower(b, op, n);
  }
  b.current = undefined;
  const outputs: ValueInfoMsg[] = [];
  for (const p of core.outputs) {
    const name = b.ref(p.value);
    if (name !== p.name) b.node("Identity", [name], [p.name]);
    outputs.push(valueInfo(p.name, core.values[p.value]!.type));
  }
  return encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: "", version: OPSET }],
    producer_name: PRODUCER,
    producer_version: PRODUCER_VERSION,
    graph: {
      name: core.name,
      node: b.nodes,
      initializer: b.initializers,
      input: core.inputs.map((p) => valueInfo(p.name, core.values[p.value]!.type)),
      output: outputs,
    },
  });
}
