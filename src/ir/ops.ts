// The operator set of the IR: for each op, its class (for fusion), how its output types follow
// from its input types and attributes, and how many multiply-accumulates it performs.
import { numel, type Attrs, type DType, type TensorType } from "./graph.js";

/** TVM's pattern lattice: what a fusion pass may merge. */
export type OpClass = "elementwise" | "broadcast" | "injective" | "reduction" | "opaque";

export interface OpDef {
  name: string;
  cls: OpClass;
  /** Number of inputs: exact, or [min, max]. */
  arity: number | [number, number];
  infer(inputs: TensorType[], attrs: Attrs): TensorType[];
  macs?(inputs: TensorType[], outputs: TensorType[], attrs: Attrs): number;
}

/** A user-facing shape or type error; the frontend turns it into a located diagnostic. */
export class ShapeError extends Error {}

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new ShapeError(`shapes ${fmt(a)} and ${fmt(b)} do not broadcast (dimension ${i}: ${x} vs ${y})`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`axis ${axis} is out of range for a tensor of rank ${rank}`);
  return a;
}

function requireFloat(op: string, t: TensorType): void {
  if (t.dtype !== "f32") throw new ShapeError(`${op} needs a float tensor, got ${t.dtype}`);
}

/**
 * conv2d, linear and matmul carry an optional fused epilogue, all in their attributes:
 *   y = act(op(x, w) + bias + residual)
 * with inputs [x, w, bias if attrs.bias, residual if attrs.residual, slope if attrs.act is
 * "prelu"]. `bias` is a vector along the output channels (axis 1 for NCHW conv2d, the last axis
 * otherwise), `residual` a tensor of the output's shape, `act` the name of a unary op (its own
 * attributes — min, max, slope, alpha, approximate — sit beside it) or "prelu".
 */
export interface Epilogue {
  bias?: number;
  residual?: number;
  slope?: number;
}

/** The epilogue inputs (value ids) of a conv2d / linear / matmul node. */
export function epilogueInputs(inputs: readonly number[], attrs: Attrs): Epilogue {
  let i = 2;
  const e: Epilogue = {};
  if (attrs.bias === true) e.bias = inputs[i++]!;
  if (attrs.residual === true) e.residual = inputs[i++]!;
  if (attrs.act === "prelu") e.slope = inputs[i++]!;
  return e;
}

function checkEpilogue(op: string, ins: TensorType[], attrs: Attrs, y: TensorType, channels: number): void {
  const expected = 2 + [attrs.bias === true, attrs.residual === true, attrs.act === "prelu"].filter(Boolean).length;
  if (ins.length !== expected) throw new ShapeError(`${op}: ${ins.length} inputs but its attributes call for ${expected}`);
  let i = 2;
  if (attrs.bias === true) {
    const b = ins[i++]!;
    if (b.shape.length !== 1 || b.shape[0] !== channels) throw new ShapeError(`${op}: bias shape ${fmt(b.shape)} should be [${channels}]`);
  }
  if (attrs.residual === true) {
    const r = ins[i++]!;
    if (r.dtype !== "f32" || r.shape.join() !== y.shape.join()) throw new ShapeError(`${op}: residual ${fmt(r.shape)} must have the output's shape ${fmt(y.shape)}`);
  }
  if (attrs.act === "prelu") {
    const n = numel(ins[i]!.shape);
    if (n !== 1 && n !== channels) throw new ShapeError(`${op}: ${n} prelu slopes for ${channels} channels`);
  } else if (attrs.act !== undefined && attrs.act !== null && !(unaryOps as readonly string[]).includes(attrs.act as string)) {
    throw new ShapeError(`${op}: unknown fused activation ${String(attrs.act)}`);
  }
}

/**
 * Spatial ops (conv2d, pools, global_avgpool, batchnorm, prelu) take attrs.layout "NHWC" to
 * read and write channels-last tensors; the default is NCHW. Weights stay in PyTorch layout.
 */
export function isNHWC(attrs: Attrs): boolean {
  return attrs.layout === "NHWC";
}

/** Size of the channel axis: 1 in NCHW, the last in NHWC. */
export function channelDim(shape: readonly number[], attrs: Attrs): number {
  return shape[isNHWC(attrs) && shape.length === 4 ? 3 : 1]!;
}

function toNCHW(shape: readonly number[], attrs: Attrs): [number, number, number, number] {
  const [a, b, c, d] = shape as [number, number, number, number];
  return isNHWC(attrs) ? [a, d, b, c] : [a, b, c, d];
}

function fromNCHW(shape: readonly number[], attrs: Attrs): number[] {
  const [n, c, h, w] = shape as [number, number, number, number];
  return isNHWC(attrs) ? [n, h, w, c] : [n, c, h, w];
}

const ops = new Map<string, OpDef>();
function def(d: OpDef): void {
  ops.set(d.name, d);
}

export function getOp(name: string): OpDef {
  const d = ops.get(name);
  if (!d) throw new Error(`unknown IR op ${name}`);
  return d;
}

export function allOps(): OpDef[] {
  return [...ops.values()];
}

export const unaryOps = [
  "relu", "relu6", "sigmoid", "tanh", "selu", "silu", "hard_sigmoid", "hard_swish", "exp", "log", "sqrt", "erf", "neg", "abs",
  "clip", "leaky_relu", "elu", "gelu",
] as const;
for (const name of unaryOps) {
  def({
    name, cls: "elementwise", arity: 1,
    infer: ([x]) => {
      requireFloat(name, x!);
      return [x!];
    },
  });
}

export const binaryOps = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
for (const name of binaryOps) {
  def({
    name, cls: "broadcast", arity: 2,
    infer: ([a, b]) => {
      if (a!.dtype !== b!.dtype) throw new ShapeError(`${name}: operand types differ (${a!.dtype} and ${b!.dtype}); use cast()`);
      return [{ dtype: a!.dtype, shape: broadcastShapes(a!.shape, b!.shape) }];
    },
  });
}

def({
  name: "prelu", cls: "broadcast", arity: 2,
  infer: ([x, slope], attrs) => {
    requireFloat("prelu", x!);
    const n = numel(slope!.shape);
    const c = x!.shape.length >= 2 ? channelDim(x!.shape, attrs) : 1;
    if (n !== 1 && n !== c) throw new ShapeError(`prelu: ${n} slopes but the input has ${c} channels (use 1 or ${c})`);
    return [x!];
  },
});

def({
  name: "cast", cls: "elementwise", arity: 1,
  infer: ([x], attrs) => [{ dtype: attrs.to as DType, shape: x!.shape }],
});

def({
  name: "conv2d", cls: "opaque", arity: [2, 5],
  infer: (ins, attrs) => {
    const [x, w] = ins as [TensorType, TensorType];
    const [stride, pads, dilation, groups] = [attrs.stride as number[], attrs.pads as number[], attrs.dilation as number[], attrs.groups as number];
    if (x.shape.length !== 4) throw new ShapeError(`conv2d: input must be 4-D [N, C, H, W], got ${fmt(x.shape)}`);
    requireFloat("conv2d", x);
    const [n, c, h, wd] = toNCHW(x.shape, attrs);
    const [k, cg, kh, kw] = w.shape as [number, number, number, number];
    if (c % groups !== 0) throw new ShapeError(`conv2d: input has ${c} channels but groups=${groups} does not divide it`);
    if (k % groups !== 0) throw new ShapeError(`conv2d: ${k} output channels but groups=${groups} does not divide it`);
    if (cg !== c / groups) throw new ShapeError(`conv2d: weight expects ${cg * groups} input channels, input has ${c}`);
    const oh = Math.floor((h + pads[0]! + pads[2]! - dilation[0]! * (kh - 1) - 1) / stride[0]!) + 1;
    const ow = Math.floor((wd + pads[1]! + pads[3]! - dilation[1]! * (kw - 1) - 1) / stride[1]!) + 1;
    if (oh < 1 || ow < 1) throw new ShapeError(`conv2d: a ${kh}x${kw} kernel (dilation ${dilation.join("x")}) does not fit the padded ${h}x${wd} input`);
    const y: TensorType = { dtype: "f32", shape: fromNCHW([n, k, oh, ow], attrs) };
    checkEpilogue("conv2d", ins, attrs, y, k);
    return [y];
  },
  macs: (ins, [y]) => numel(y!.shape) * numel(ins[1]!.shape.slice(1)),
});

function poolOut(size: number, k: number, s: number, p0: number, p1: number, d: number, ceil: boolean): number {
  const span = size + p0 + p1 - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch/ONNX: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * s >= size + p0) out--;
  return out;
}

for (const name of ["maxpool", "avgpool"]) {
  def({
    name, cls: "opaque", arity: 1,
    infer: ([x], attrs) => {
      const [kernel, stride, pads, dilation] = [attrs.kernel as number[], attrs.stride as number[], attrs.pads as number[], attrs.dilation as number[]];
      if (x!.shape.length !== 4) throw new ShapeError(`${name}: input must be 4-D [N, C, H, W], got ${fmt(x!.shape)}`);
      if (pads.some((p, i) => p > Math.floor(kernel[i % 2]! / 2))) throw new ShapeError(`${name}: padding ${fmt(pads)} must be at most half the kernel ${fmt(kernel)}`);
      const [n, c, h, w] = toNCHW(x!.shape, attrs);
      const oh = poolOut(h, kernel[0]!, stride[0]!, pads[0]!, pads[2]!, dilation[0]!, attrs.ceil_mode === true);
      const ow = poolOut(w, kernel[1]!, stride[1]!, pads[1]!, pads[3]!, dilation[1]!, attrs.ceil_mode === true);
      if (oh < 1 || ow < 1) throw new ShapeError(`${name}: a ${kernel.join("x")} window does not fit the ${h}x${w} input`);
      return [{ dtype: x!.dtype, shape: fromNCHW([n, c, oh, ow], attrs) }];
    },
  });
}

def({
  name: "global_avgpool", cls: "reduction", arity: 1,
  infer: ([x], attrs) => {
    if (x!.shape.length !== 4) throw new ShapeError(`global_avgpool: input must be 4-D [N, C, H, W], got ${fmt(x!.shape)}`);
    const [n, c] = toNCHW(x!.shape, attrs);
    return [{ dtype: x!.dtype, shape: fromNCHW([n, c, 1, 1], attrs) }];
  },
});

def({
  name: "batchnorm", cls: "broadcast", arity: 5,
  infer: ([x, ...stats], attrs) => {
    requireFloat("batchnorm", x!);
    const c = channelDim(x!.shape, attrs);
    if (x!.shape.length < 2) throw new ShapeError(`batchnorm: input must have a channel axis, got ${fmt(x!.shape)}`);
    for (const s of stats) if (s!.shape.length !== 1 || s!.shape[0] !== c) throw new ShapeError(`batchnorm: statistics of shape ${fmt(s!.shape)} for ${c} channels`);
    return [x!];
  },
});

def({
  name: "layernorm", cls: "opaque", arity: 3,
  infer: ([x, g, b]) => {
    requireFloat("layernorm", x!);
    const d = x!.shape[x!.shape.length - 1];
    for (const p of [g!, b!]) if (p.shape.length !== 1 || p.shape[0] !== d) throw new ShapeError(`layernorm: parameter shape ${fmt(p.shape)} for last dimension ${d}`);
    return [x!];
  },
});

def({
  name: "linear", cls: "opaque", arity: [2, 5],
  infer: (ins, attrs) => {
    const [x, w] = ins as [TensorType, TensorType];
    requireFloat("linear", x);
    if (x.shape.length < 1) throw new ShapeError("linear: input must have at least one dimension");
    const inF = x.shape[x.shape.length - 1];
    if (w.shape.length !== 2 || w.shape[1] !== inF) throw new ShapeError(`linear: weight ${fmt(w.shape)} does not match ${inF} input features`);
    const out = w.shape[0]!;
    const y: TensorType = { dtype: "f32", shape: [...x.shape.slice(0, -1), out] };
    checkEpilogue("linear", ins, attrs, y, out);
    return [y];
  },
  macs: ([x], [y]) => numel(y!.shape) * x!.shape[x!.shape.length - 1]!,
});

def({
  name: "matmul", cls: "opaque", arity: [2, 5],
  infer: (ins, attrs) => {
    const [a, b] = ins as [TensorType, TensorType];
    requireFloat("matmul", a);
    requireFloat("matmul", b);
    if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError(`matmul: operands need at least 2 dimensions, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
    const [m, k] = a.shape.slice(-2) as [number, number];
    const [k2, n] = b.shape.slice(-2) as [number, number];
    if (k !== k2) throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a.shape)} x ${fmt(b.shape)} (${k} vs ${k2})`);
    const y: TensorType = { dtype: "f32", shape: [...broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n] };
    checkEpilogue("matmul", ins, attrs, y, n);
    return [y];
  },
  macs: ([a], [y]) => numel(y!.shape) * a!.shape[a!.shape.length - 1]!,
});

def({
  name: "softmax", cls: "opaque", arity: 1,
  infer: ([x], attrs) => {
    requireFloat("softmax", x!);
    normAxis(attrs.axis as number, x!.shape.length);
    return [x!];
  },
});

for (const name of ["reduce_mean", "reduce_sum", "reduce_max"]) {
  def({
    name, cls: "reduction", arity: 1,
    infer: ([x], attrs) => {
      const axes = (attrs.axes as number[]).map((a) => normAxis(a, x!.shape.length));
      if (new Set(axes).size !== axes.length) throw new ShapeError(`${name}: repeated axis in ${fmt(attrs.axes as number[])}`);
      const shape = attrs.keepdim ? x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x!.shape.filter((_, i) => !axes.includes(i));
      return [{ dtype: x!.dtype, shape }];
    },
  });
}

def({
  name: "reshape", cls: "injective", arity: 1,
  infer: ([x], attrs) => {
    const shape = attrs.shape as number[];
    if (numel(shape) !== numel(x!.shape)) throw new ShapeError(`reshape: cannot reshape ${fmt(x!.shape)} (${numel(x!.shape)} elements) to ${fmt(shape)} (${numel(shape)} elements)`);
    return [{ dtype: x!.dtype, shape }];
  },
});

def({
  name: "transpose", cls: "injective", arity: 1,
  infer: ([x], attrs) => {
    const perm = attrs.perm as number[];
    const r = x!.shape.length;
    if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new ShapeError(`transpose: ${fmt(perm)} is not a permutation of ${r} axes`);
    return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }];
  },
});

def({
  name: "concat", cls: "injective", arity: [1, Infinity],
  infer: (xs, attrs) => {
    const first = xs[0]!;
    const axis = normAxis(attrs.axis as number, first.shape.length);
    let total = 0;
    for (const x of xs) {
      if (x.dtype !== first.dtype || x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== axis && d !== first.shape[i]))
        throw new ShapeError(`concat: ${fmt(x.shape)} does not match ${fmt(first.shape)} outside axis ${axis}`);
      total += x.shape[axis]!;
    }
    return [{ dtype: first.dtype, shape: first.shape.map((d, i) => (i === axis ? total : d)) }];
  },
});

def({
  name: "split", cls: "injective", arity: 1,
  infer: ([x], attrs) => {
    const axis = normAxis(attrs.axis as number, x!.shape.length);
    const sizes = attrs.sizes as number[];
    const sum = sizes.reduce((a, b) => a + b, 0);
    if (sum !== x!.shape[axis] || sizes.some((s) => s < 1)) throw new ShapeError(`split: sizes ${fmt(sizes)} do not add up to dimension ${axis} of ${fmt(x!.shape)}`);
    return sizes.map((s) => ({ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === axis ? s : d)) }));
  },
});

def({
  name: "slice", cls: "injective", arity: 1,
  infer: ([x], attrs) => {
    const axis = normAxis(attrs.axis as number, x!.shape.length);
    const [start, end] = [attrs.start as number, attrs.end as number];
    const dim = x!.shape[axis]!;
    if (!(start >= 0 && end <= dim && start < end)) throw new ShapeError(`slice: [${start}, ${end}) is empty or outside dimension ${axis} of size ${dim}`);
    return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === axis ? end - start : d)) }];
  },
});

def({
  name: "gather", cls: "injective", arity: 2,
  infer: ([table, ids]) => {
    if (ids!.dtype !== "i32" && ids!.dtype !== "i64") throw new ShapeError(`embedding: ids must be integers (i32 or i64), got ${ids!.dtype}`);
    if (table!.shape.length !== 2) throw new ShapeError(`embedding: table must be 2-D, got ${fmt(table!.shape)}`);
    return [{ dtype: table!.dtype, shape: [...ids!.shape, table!.shape[1]!] }];
  },
});

/** One step of a fused elementwise program. Registers 0..n-1 are the node's inputs, then one per step. */
export interface FusedStep {
  op: string;
  args: number[];
  attrs?: Attrs;
}

/** The steps of a fused_elementwise node; the last step's register is the output. */
export function fusedProgram(attrs: Attrs): FusedStep[] {
  return JSON.parse(attrs.program as string) as FusedStep[];
}

def({
  name: "fused_elementwise", cls: "broadcast", arity: [1, Infinity],
  // Steps are float unary/binary ops only (no cast, prelu or batchnorm) and every input is
  // read, so the output's shape is the broadcast of all inputs.
  infer: (ins, attrs) => {
    const steps = fusedProgram(attrs);
    const types: TensorType[] = [...ins];
    const read = new Set<number>();
    for (const st of steps) {
      const fusable = st.args.length === 1 ? (unaryOps as readonly string[]).includes(st.op) : st.args.length === 2 && (binaryOps as readonly string[]).includes(st.op);
      if (!fusable) throw new ShapeError(`fused_elementwise: ${st.op} with ${st.args.length} operands cannot be fused`);
      const args = st.args.map((r) => types[r]);
      if (args.some((t) => t === undefined || t.dtype !== "f32")) throw new ShapeError(`fused_elementwise: step ${st.op} reads an undefined or non-float register`);
      st.args.forEach((r) => read.add(r));
      types.push(getOp(st.op).infer(args as TensorType[], st.attrs ?? {})[0]!);
    }
    if (ins.some((_, i) => !read.has(i))) throw new ShapeError("fused_elementwise: an input is never read");
    return [types[types.length - 1]!];
  },
});

/**
 * Scaled dot-product attention, softmax(q kᵀ · scale + mask) v, over the last two axes:
 * q [B, H, Sq, D], k [B, H, Sk, D], v [B, H, Sk, Dv], an optional additive mask broadcastable
 * to [B, H, Sq, Sk]; the result is [B, H, Sq, Dv]. attrs.scale is a number.
 */
def({
  name: "attention", cls: "opaque", arity: [3, 4],
  infer: ([q, k, v, mask], attrs) => {
    for (const t of [q!, k!, v!]) {
      requireFloat("attention", t);
      if (t.shape.length !== 4) throw new ShapeError(`attention: q, k and v must be 4-D [B, H, S, D], got ${fmt(t.shape)}`);
    }
    const [b, h, sq, d] = q!.shape as [number, number, number, number];
    const [sk, dv] = [k!.shape[2]!, v!.shape[3]!];
    if (k!.shape.join() !== [b, h, sk, d].join() || v!.shape.join() !== [b, h, sk, dv].join())
      throw new ShapeError(`attention: q ${fmt(q!.shape)}, k ${fmt(k!.shape)} and v ${fmt(v!.shape)} do not agree`);
    const scores = [b, h, sq, sk];
    if (mask && broadcastShapes(mask.shape, scores).join() !== scores.join()) throw new ShapeError(`attention: mask ${fmt(mask.shape)} does not broadcast to ${fmt(scores)}`);
    if (typeof attrs.scale !== "number") throw new ShapeError("attention: attrs.scale must be a number");
    return [{ dtype: "f32", shape: [b, h, sq, dv] }];
  },
  macs: ([q, k, v]) => numel(q!.shape) * k!.shape[2]! + numel(q!.shape.slice(0, 3)) * k!.shape[2]! * v!.shape[3]!,
});
