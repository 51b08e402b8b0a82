// IR graph -> ONNX ModelProto (opset 17, IR version 8). Every IR op maps to one or more
// standard ONNX nodes with PyTorch's semantics (the interpreter's); weights and constants become
// initializers, weights under their checkpoint names.
//
// Naming: graph inputs keep their port names, outputs their port names (an Identity node is
// added when an output is not a node result of its own, e.g. a graph input, a weight, or a value
// that is already another output), initializers of weights their checkpoint names; every other
// tensor gets a fresh name that collides with none of these.
import { numel, type Attrs, type DType, type Graph, type Node, type TensorType } from "../ir/graph.js";
import { epilogueInputs, fusedProgram, getOp, isNHWC, unaryOps } from "../ir/ops.js";
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
function rawBytes(data: Float32Array | Int32Array | BigInt64Array): Uint8Array {
  if (littleEndian) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else if (data instanceof Int32Array) data.forEach((v, i) => view.setInt32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

/** Converts `data` to the typed array of `dtype` (integers widen/narrow exactly). */
function asDtype(data: TensorData, dtype: DType, what: string): TensorData {
  if (dtype === "f32") {
    if (data instanceof Float32Array) return data;
    throw new OnnxExportError(`${what}: expected f32 data, got ${data.constructor.name}`);
  }
  if (data instanceof Float32Array) throw new OnnxExportError(`${what}: expected ${dtype} data, got Float32Array`);
  if (dtype === "i32") return data instanceof Int32Array ? data : Int32Array.from(data, (v) => Number(v));
  if (dtype === "i64") return data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v));
  throw new OnnxExportError(`${what}: cannot export ${dtype} tensors`);
}

const f = (name: string, v: number): AttributeMsg => ({ name, type: AttrType.FLOAT, f: v });
const i = (name: string, v: number): AttributeMsg => ({ name, type: AttrType.INT, i: v });
const ints = (name: string, v: readonly number[]): AttributeMsg => ({ name, type: AttrType.INTS, ints: [...v] });

class Builder {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  private readonly taken = new Set<string>();
  private readonly names = new Map<number, string>();
  private readonly emitted = new Set<number>();
  private readonly scalars = new Map<string, string>();
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

  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorData): void {
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

  /** An int64 1-D initializer (shapes, axes, split sizes, slice bounds). */
  i64(base: string, values: readonly number[]): string {
    const name = this.fresh(base);
    this.initializer(name, "i64", [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
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
  tmp(op: string, inputs: string[], attribute: AttributeMsg[] = [], base = "tmp"): string {
    return this.node(op, inputs, [this.fresh(base)], attribute);
  }

  /** Emits `op` (a unary IR op, or prelu with `slope`) from `x` into `y`; attributes from `a`. */
  unary(op: string, a: Attrs, x: string, y: string, base: string, slope?: { name: string; shape: readonly number[]; rank: number; channelLast: boolean }): void {
    const t = (o: string, inputs: string[], attribute: AttributeMsg[] = []) => this.tmp(o, inputs, attribute, base);
    switch (op) {
      case "relu":
      case "sigmoid":
      case "tanh":
      case "exp":
      case "log":
      case "sqrt":
      case "erf":
      case "neg":
      case "abs":
        this.node(simpleUnary[op]!, [x], [y]);
        return;
      case "selu":
        // ONNX's default alpha and gamma are PyTorch's constants rounded to float32.
        this.node("Selu", [x], [y]);
        return;
      case "relu6":
        this.node("Clip", [x, this.scalar(0), this.scalar(6)], [y]);
        return;
      case "clip":
        this.node("Clip", [x, a.min == null ? "" : this.scalar(a.min as number), a.max == null ? "" : this.scalar(a.max as number)], [y]);
        return;
      case "silu":
        this.node("Mul", [x, t("Sigmoid", [x])], [y]);
        return;
      case "hard_sigmoid":
        // PyTorch: relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1); ONNX's defaults (0.2, 0.5) differ.
        this.node("HardSigmoid", [x], [y], [f("alpha", 1 / 6), f("beta", 0.5)]);
        return;
      case "hard_swish":
        // ONNX HardSwish is x * max(0, min(1, x/6 + 1/2)) = x * relu6(x + 3) / 6, as in PyTorch.
        this.node("HardSwish", [x], [y]);
        return;
      case "leaky_relu":
        this.node("LeakyRelu", [x], [y], [f("alpha", a.slope as number)]);
        return;
      case "elu":
        this.node("Elu", [x], [y], [f("alpha", a.alpha as number)]);
        return;
      case "gelu": {
        // Opset 17 has no Gelu (it arrived in opset 20): build PyTorch's formulas.
        let inner: string;
        if (a.approximate === "tanh") {
          // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
          const x3 = t("Mul", [t("Mul", [x, x]), x]);
          const poly = t("Add", [x, t("Mul", [x3, this.scalar(0.044715)])]);
          inner = t("Tanh", [t("Mul", [poly, this.scalar(Math.sqrt(2 / Math.PI))])]);
        } else if (a.approximate === "none" || a.approximate === undefined) {
          // erf(x / sqrt 2), as x * (1/sqrt 2) like PyTorch's kernel
          inner = t("Erf", [t("Mul", [x, this.scalar(Math.SQRT1_2)])]);
        } else throw new OnnxExportError(`gelu: unknown approximate ${JSON.stringify(a.approximate)}`);
        const half = t("Mul", [x, this.scalar(0.5)]);
        this.node("Mul", [half, t("Add", [inner, this.scalar(1)])], [y]);
        return;
      }
      case "prelu": {
        if (!slope) throw new OnnxExportError("prelu without a slope");
        // PRelu broadcasts the slope numpy-style (from the right). The IR applies it along the
        // channel axis: axis 1 (reshape [n] to [n, 1, ..., 1]) or, channels-last, the last axis.
        const n1 = numel(slope.shape);
        const shape = slope.rank >= 2 && !slope.channelLast ? [n1, ...Array<number>(slope.rank - 2).fill(1)] : [n1];
        const s = shape.length === slope.shape.length && shape.every((d, k) => d === slope.shape[k]) ? slope.name : t("Reshape", [slope.name, this.i64(`${base}_slope_shape`, shape)]);
        this.node("PRelu", [x, s], [y]);
        return;
      }
      default:
        throw new OnnxExportError(`no ONNX lowering for unary op \`${op}\``);
    }
  }

  /**
   * Runs `emit` (which reads NCHW and writes NCHW) on channels-last data when `nhwc`: the 4-D
   * inputs at `moved` are transposed to NCHW first and the result back to NHWC into `y`.
   */
  private layout(nhwc: boolean, ins: string[], moved: readonly number[], y: string, base: string, emit: (ins: string[], y: string) => void): void {
    if (!nhwc) return emit(ins, y);
    const ins2 = ins.map((name, k) => (moved.includes(k) ? this.tmp("Transpose", [name], [ints("perm", [0, 3, 1, 2])], base) : name));
    const z = this.fresh(base);
    emit(ins2, z);
    this.node("Transpose", [z], [y], [ints("perm", [0, 2, 3, 1])]);
  }

  /**
   * conv2d / linear / matmul epilogue: y = act(z + bias + residual), bias along the channel
   * axis (1 for NCHW conv2d, else the last). `core(out, bias)` emits the op itself into `out`,
   * adding the bias itself when `foldsBias`.
   */
  private withEpilogue(n: Node, ins: string[], y: string, base: string, channelAxis1: boolean, foldsBias: boolean, core: (out: string, bias?: string) => void): void {
    const a = n.attrs;
    const e = epilogueInputs(ins.map((_, k) => k), a);
    const act = typeof a.act === "string" ? a.act : undefined;
    const bias = e.bias !== undefined ? ins[e.bias] : undefined;
    const rank = this.type(n.outputs[0]!).shape.length;
    const steps: ((x: string, out: string) => void)[] = [];
    if (bias !== undefined && !foldsBias) {
      const b = channelAxis1 && rank > 2 ? this.tmp("Reshape", [bias, this.i64(`${base}_bias_shape`, [-1, ...Array<number>(rank - 2).fill(1)])], [], base) : bias;
      steps.push((x, out) => void this.node("Add", [x, b], [out]));
    }
    if (e.residual !== undefined) steps.push((x, out) => void this.node("Add", [x, ins[e.residual!]!], [out]));
    if (act !== undefined) {
      const slope = e.slope !== undefined ? { name: ins[e.slope]!, shape: this.type(n.inputs[e.slope]!).shape, rank, channelLast: !channelAxis1 } : undefined;
      steps.push((x, out) => this.unary(act, a, x, out, base, slope));
    }
    let cur = steps.length ? this.fresh(base) : y;
    core(cur, foldsBias ? bias : undefined);
    steps.forEach((step, k) => {
      const out = k === steps.length - 1 ? y : this.fresh(base);
      step(cur, out);
      cur = out;
    });
  }

  lower(n: Node): void {
    this.current = n;
    const ins = n.inputs.map((id) => this.ref(id));
    const outs = n.outputs.map((id) => this.ref(id));
    const [x] = ins as [string];
    const [y] = outs as [string];
    const a = n.attrs;
    const base = `t${n.outputs[0]}`;
    const nhwc = isNHWC(a);
    const rank0 = n.inputs.length ? this.type(n.inputs[0]!).shape.length : 0;
    const spatial4 = nhwc && rank0 === 4;
    switch (n.op) {
      case "conv2d": {
        const w = this.type(n.inputs[1]!).shape;
        const attrs = [
          ints("kernel_shape", w.slice(2)),
          ints("strides", a.stride as number[]),
          ints("pads", a.pads as number[]),
          ints("dilations", a.dilation as number[]),
          i("group", a.groups as number),
        ];
        // The bias always goes into Conv's B input; channels-last, the epilogue runs after the
        // transpose back, on the NHWC result (bias, residual and slopes along the last axis).
        const hasBias = a.bias === true || (a.bias === undefined && ins.length === 3);
        const e = epilogueInputs(ins.map((_, k) => k), { ...a, bias: hasBias });
        const convIns = (xs: string[]) => (e.bias !== undefined ? [xs[0]!, xs[1]!, xs[e.bias]!] : [xs[0]!, xs[1]!]);
        const epi = { ...n, attrs: { ...a, bias: hasBias } };
        this.withEpilogue(epi, ins, y, base, !spatial4, true, (out) => this.layout(spatial4, ins, [0], out, base, (xs, o) => void this.node("Conv", convIns(xs), [o], attrs)));
        return;
      }
      case "batchnorm":
        this.layout(spatial4, ins, [0], y, base, (xs, o) => void this.node("BatchNormalization", xs, [o], [f("epsilon", a.eps as number)]));
        return;
      case "layernorm":
        this.node("LayerNormalization", ins, [y], [i("axis", -1), f("epsilon", a.eps as number)]);
        return;
      case "linear": {
        const hasBias = a.bias === true || (a.bias === undefined && ins.length === 3);
        const epi = { ...n, attrs: { ...a, bias: hasBias } };
        const w = ins[1]!;
        this.withEpilogue(epi, ins, y, base, false, rank0 === 2, (out, b) => {
          // 2-D: Gemm computes x · Wᵀ + b directly (transB), b broadcasting over the rows.
          if (rank0 === 2) this.node("Gemm", b === undefined ? [x, w] : [x, w, b], [out], [i("transB", 1)]);
          // Any other rank: MatMul against Wᵀ (a Transpose of the weight, which onnxruntime
          // folds into a constant at load time); the epilogue adds the bias.
          else this.node("MatMul", [x, this.tmp("Transpose", [w], [ints("perm", [1, 0])], base)], [out]);
        });
        return;
      }
      case "matmul":
        this.withEpilogue(n, ins, y, base, false, false, (out) => void this.node("MatMul", [ins[0]!, ins[1]!], [out]));
        return;
      case "prelu":
        this.unary("prelu", a, x, y, base, { name: ins[1]!, shape: this.type(n.inputs[1]!).shape, rank: rank0, channelLast: nhwc });
        return;
      case "add":
      case "sub":
      case "mul":
      case "div":
      case "pow":
      case "maximum":
      case "minimum":
        this.node(binary[n.op]!, ins, [y]);
        return;
      case "fused_elementwise": {
        // Registers 0..k-1 are the inputs, then one per step; the last step writes y.
        const steps = fusedProgram(a);
        const regs = [...ins];
        const types: TensorType[] = n.inputs.map((id) => this.type(id));
        steps.forEach((st, k) => {
          const out = k === steps.length - 1 ? y : this.fresh(base);
          const args = st.args.map((r) => regs[r]!);
          const at = st.args.map((r) => types[r]!);
          const sa = st.attrs ?? {};
          if (st.op in binary) this.node(binary[st.op]!, args, [out]);
          else if (st.op === "prelu") this.unary("prelu", sa, args[0]!, out, base, { name: args[1]!, shape: at[1]!.shape, rank: at[0]!.shape.length, channelLast: isNHWC(sa) });
          else if (st.op === "cast") this.node("Cast", args, [out], [i("to", elemType[sa.to as DType])]);
          else if (st.args.length === 1) this.unary(st.op, sa, args[0]!, out, base);
          else throw new OnnxExportError(`fused_elementwise: no ONNX lowering for step ${st.op}`);
          regs.push(out);
          types.push(getOp(st.op).infer(at, sa)[0]!);
        });
        return;
      }
      case "attention": {
        // softmax(q kᵀ · scale + mask) v over the last two axes.
        const [q, k, v, mask] = ins as [string, string, string, string | undefined];
        const kt = this.tmp("Transpose", [k], [ints("perm", [0, 1, 3, 2])], base);
        let scores = this.tmp("Mul", [this.tmp("MatMul", [q, kt], [], base), this.scalar(a.scale as number)], [], base);
        if (mask !== undefined) scores = this.tmp("Add", [scores, mask], [], base);
        this.node("MatMul", [this.tmp("Softmax", [scores], [i("axis", -1)], base), v], [y]);
        return;
      }
      case "softmax":
        this.node("Softmax", [x], [y], [i("axis", a.axis as number)]);
        return;
      case "cast":
        this.node("Cast", [x], [y], [i("to", elemType[a.to as DType])]);
        return;
      case "maxpool":
      case "avgpool": {
        const attrs = [
          ints("kernel_shape", a.kernel as number[]),
          ints("strides", a.stride as number[]),
          ints("pads", a.pads as number[]),
          i("ceil_mode", a.ceil_mode ? 1 : 0),
        ];
        if (n.op === "maxpool") attrs.push(ints("dilations", (a.dilation as number[] | undefined) ?? [1, 1]));
        else {
          if ((a.dilation as number[] | undefined)?.some((d) => d !== 1)) throw new OnnxExportError("avgpool: dilation needs AveragePool-19, beyond opset 17");
          attrs.push(i("count_include_pad", a.count_include_pad ? 1 : 0));
        }
        this.layout(spatial4, ins, [0], y, base, (xs, o) => void this.node(n.op === "maxpool" ? "MaxPool" : "AveragePool", xs, [o], attrs));
        return;
      }
      case "global_avgpool":
        this.layout(spatial4, ins, [0], y, base, (xs, o) => void this.node("GlobalAveragePool", xs, [o]));
        return;
      case "reduce_mean":
      case "reduce_max":
        // ReduceMean-13 / ReduceMax-13 take axes as an attribute; ReduceSum-13 as an input.
        this.node(n.op === "reduce_mean" ? "ReduceMean" : "ReduceMax", [x], [y], [ints("axes", a.axes as number[]), i("keepdims", a.keepdim ? 1 : 0)]);
        return;
      case "reduce_sum":
        this.node("ReduceSum", [x, this.i64(`${base}_axes`, a.axes as number[])], [y], [i("keepdims", a.keepdim ? 1 : 0)]);
        return;
      case "reshape": {
        const shape = a.shape as number[];
        this.node("Reshape", [x, this.i64(`${base}_shape`, shape)], [y], shape.includes(0) ? [i("allowzero", 1)] : []);
        return;
      }
      case "transpose":
        this.node("Transpose", [x], [y], [ints("perm", a.perm as number[])]);
        return;
      case "concat":
        this.node("Concat", ins, [y], [i("axis", a.axis as number)]);
        return;
      case "split":
        this.node("Split", [x, this.i64(`${base}_split`, a.sizes as number[])], outs, [i("axis", a.axis as number)]);
        return;
      case "slice":
        this.node("Slice", [x, this.i64(`${base}_starts`, [a.start as number]), this.i64(`${base}_ends`, [a.end as number]), this.i64(`${base}_axes`, [a.axis as number])], [y]);
        return;
      case "gather":
        this.node("Gather", ins, [y], [i("axis", 0)]);
        return;
      default:
        if ((unaryOps as readonly string[]).includes(n.op)) {
          this.unary(n.op, a, x, y, base);
          return;
        }
        throw new OnnxExportError(`no ONNX lowering for IR op \`${n.op}\``);
    }
  }
}

const simpleUnary: Record<string, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", exp: "Exp", log: "Log", sqrt: "Sqrt", erf: "Erf", neg: "Neg", abs: "Abs" };
const binary: Record<string, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", maximum: "Max", minimum: "Min" };

function valueInfo(name: string, t: TensorType): ValueInfoMsg {
  return { name, type: { tensor_type: { elem_type: elemType[t.dtype], shape: { dim: t.shape.map((d) => ({ dim_value: d })) } } } };
}

/**
 * Serialises `graph` as an ONNX model. `weights` maps checkpoint names to data (as from
 * `loadWeights`); weights no node reads (e.g. `num_batches_tracked`) are left out.
 */
export function exportOnnx(graph: Graph, weights: Map<string, TensorData>): Uint8Array {
  const b = new Builder(graph, weights);
  for (const n of graph.nodes) b.lower(n);
  b.current = undefined;
  const outputs: ValueInfoMsg[] = [];
  for (const p of graph.outputs) {
    const name = b.ref(p.value);
    if (name !== p.name) b.node("Identity", [name], [p.name]);
    outputs.push(valueInfo(p.name, graph.values[p.value]!.type));
  }
  return encodeModel({
    ir_version: IR_VERSION,
    opset_import: [{ domain: "", version: OPSET }],
    producer_name: PRODUCER,
    producer_version: PRODUCER_VERSION,
    graph: {
      name: graph.name,
      node: b.nodes,
      initializer: b.initializers,
      input: graph.inputs.map((p) => valueInfo(p.name, graph.values[p.value]!.type)),
      output: outputs,
    },
  });
}
