// The operator registry: every IR op declared once, with its typed attributes, its class (for
// fusion), its traits, shape inference, MAC count, reference semantics where it is elementwise,
// and, for fused forms, a decomposition into core ops. Backend tables are typed against
// `OpName` (see `OpTable`), so an op without an entry is a compile error of graphc itself.
import { erf, GELU_TANH_CUBIC, relu6, SELU_ALPHA, SELU_SCALE, sigmoid, SQRT_2_OVER_PI } from "../base/math.js";
import { numel, type Attrs, type AttrValue, type DType, type FusedStep, type Node, type TensorType } from "./graph.js";

export type { FusedStep } from "./graph.js";
import { checkResize, RESIZE_COORDINATES, RESIZE_MODES, RESIZE_NEAREST } from "./resize.js";
import { broadcastShapes, fmtShape as fmt, normAxis, PAD_MODES, padAxes, permute, ShapeError, sliceRange, TO_NCHW, TO_NHWC, type PadMode } from "./shape.js";

export { broadcastShapes, normAxis, ShapeError } from "./shape.js";

/** TVM's pattern lattice: what a fusion pass may merge. */
export type OpClass = "elementwise" | "broadcast" | "injective" | "reduction" | "opaque";

/**
 * Core ops are what the language, ONNX export and import, and autodiff speak; fused ops exist
 * only after passes and always decompose into core ops.
 */
export type Tier = "core" | "fused";

// ---- typed attributes ----------------------------------------------------------------------------

interface AttrTypes {
  int: number;
  float: number;
  bool: boolean;
  string: string;
  ints: number[];
  floats: number[];
  dtype: DType;
  program: FusedStep[];
}
export type AttrKind = keyof AttrTypes;

export interface AttrSpec {
  readonly kind: AttrKind;
  /** May be absent (or null). */
  readonly optional?: boolean;
  /** The value the language gives when the argument is left out. */
  readonly default?: AttrValue;
  /** The strings a string attribute may take. */
  readonly values?: readonly string[];
}
export type Schema = Readonly<Record<string, AttrSpec>>;

type Required<S extends Schema> = { [K in keyof S as S[K] extends { optional: true } ? never : K]: AttrTypes[S[K]["kind"]] };
type Optional<S extends Schema> = { [K in keyof S as S[K] extends { optional: true } ? K : never]?: AttrTypes[S[K]["kind"]] | null };
export type AttrsFrom<S extends Schema> = Required<S> & Optional<S>;

const req = <K extends AttrKind>(kind: K) => ({ kind }) as const;
const opt = <K extends AttrKind>(kind: K) => ({ kind, optional: true }) as const;
const layoutAttr = { layout: { kind: "string", optional: true, values: ["NCHW", "NHWC"] } } as const;

// ---- traits --------------------------------------------------------------------------------------

export interface Traits {
  /**
   * Spatial op reading attrs.layout ("NHWC": channels-last 4-D activations; default NCHW). The
   * inputs at `weights` keep PyTorch layout whatever the activations'.
   */
  readonly layout?: { readonly weights: readonly number[] };
  /** Moves no data: its output may alias its input's buffer. */
  readonly view?: true;
  readonly commutative?: true;
  /** The scalar constant on the right that makes the op the identity (x + 0, x * 1). */
  readonly rightIdentity?: number;
  /** Takes a fused epilogue y = act(op(x, w) + bias + residual); see `epilogueInputs`. */
  readonly epilogue?: true;
  /** A unary op an epilogue may apply; its attributes travel with it into the epilogue. */
  readonly activation?: true;
  /**
   * Data movement that runs on its input in any axis order: its attributes for the input
   * transposed by `perm` (the output then comes transposed alike), or undefined where that
   * cannot be (the layout pass keeps such a node NCHW).
   */
  readonly permuted?: (attrs: Attrs, perm: readonly number[], inputs: readonly TensorType[]) => Attrs | undefined;
}

/** Axis `axis` of a tensor of rank r, in that tensor transposed by `perm`. */
const axisAfter = (perm: readonly number[], axis: number) => perm.indexOf(normAxis(axis, perm.length));

// ---- the op definition ---------------------------------------------------------------------------

/** What a decomposition needs of a graph: add a node (types inferred), add a constant. */
export interface GraphBuilder {
  node(op: string, inputs: number[], attrs: Attrs): number[];
  constant(shape: number[], data: Float32Array | Int32Array): number;
  type(value: number): TensorType;
}

interface OpDecl<S extends Schema> {
  tier?: Tier;
  cls: OpClass;
  /** Number of inputs: exact, or [min, max]. */
  arity: number | [number, number];
  attrs: S;
  traits?: Traits;
  infer(inputs: TensorType[], attrs: AttrsFrom<S>): TensorType[];
  macs?(inputs: TensorType[], outputs: TensorType[], attrs: AttrsFrom<S>): number;
  /**
   * A core-op equivalent of this node, one rewrite step (the result may decompose further), or
   * undefined when the node already is in core form.
   */
  decompose?(b: GraphBuilder, inputs: number[], attrs: AttrsFrom<S>): number[] | undefined;
}

/** A registry entry, its attributes untyped (see `AttrsOf` for the typed view). */
export interface OpDef {
  name: string;
  tier: Tier;
  cls: OpClass;
  arity: number | [number, number];
  attrs: Schema;
  traits: Traits;
  infer(inputs: TensorType[], attrs: Attrs): TensorType[];
  macs?(inputs: TensorType[], outputs: TensorType[], attrs: Attrs): number;
  decompose?(b: GraphBuilder, inputs: number[], attrs: Attrs): number[] | undefined;
}

const op = <const S extends Schema>(d: OpDecl<S>): OpDecl<S> => d;

function requireFloat(op: string, t: TensorType): void {
  if (t.dtype !== "f32") throw new ShapeError(`${op} needs a float tensor, got ${t.dtype}`);
}

// ---- elementwise ops: their meaning on one element, in double precision ----------------------------
//
// NaN and ±Inf: each scalar is PyTorch's CPU formula evaluated in IEEE double, so NaN propagates
// (relu, relu6, clip, maximum and minimum included) and infinities give what that formula gives,
// even where the limit differs: silu, hard_swish and both gelu forms are x times a factor that
// is 0 at -Inf, so they are NaN there, as in PyTorch (x / (1 + exp(-x)), x * relu6(x + 3) / 6,
// x * 0.5 * (1 + erf(x / sqrt 2))); leaky_relu with slope 0 is NaN at -Inf for the same reason.
// pow is C's pow (PyTorch's and ORT's std::pow), not Math.pow: 1^y and (-1)^±Inf are 1.

interface UnaryDecl<S extends Schema> {
  attrs: S;
  /** The reference semantics (the interpreter's, and constant folding's). */
  scalar(x: number, a: AttrsFrom<S>): number;
  /** Checks attribute values beyond their kinds. */
  check?(a: AttrsFrom<S>): void;
}
const unary = <const S extends Schema>(d: UnaryDecl<S>): UnaryDecl<S> => d;

/** The unary float ops; each may be a fused activation. */
const UNARY = {
  relu: unary({ attrs: {}, scalar: (x) => Math.max(x, 0) }),
  relu6: unary({ attrs: {}, scalar: relu6 }),
  sigmoid: unary({ attrs: {}, scalar: sigmoid }),
  tanh: unary({ attrs: {}, scalar: Math.tanh }),
  selu: unary({ attrs: {}, scalar: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)) }),
  silu: unary({ attrs: {}, scalar: (x) => x * sigmoid(x) }),
  // clip(alpha x + beta, 0, 1): PyTorch's default alpha 1/6 (relu6(x + 3) / 6); ONNX and Paddle
  // use 0.2. hard_swish is x times PyTorch's form. alpha shares its name and kind with elu's.
  hard_sigmoid: unary({
    attrs: { alpha: { kind: "float", default: 1 / 6 }, beta: { kind: "float", default: 0.5 } },
    scalar: (x, a) => Math.min(Math.max(a.alpha * x + a.beta, 0), 1),
    check: (a) => {
      if (a.alpha === 0) throw new ShapeError(`hard_sigmoid: alpha 0 makes it the constant clip(beta, 0, 1); write that constant instead`);
    },
  }),
  hard_swish: unary({ attrs: {}, scalar: (x) => (x * relu6(x + 3)) / 6 }),
  exp: unary({ attrs: {}, scalar: Math.exp }),
  log: unary({ attrs: {}, scalar: Math.log }),
  sqrt: unary({ attrs: {}, scalar: Math.sqrt }),
  erf: unary({ attrs: {}, scalar: erf }),
  neg: unary({ attrs: {}, scalar: (x) => -x }),
  abs: unary({ attrs: {}, scalar: Math.abs }),
  clip: unary({
    attrs: { min: req("float"), max: req("float") },
    scalar: (x, a) => Math.min(Math.max(x, a.min), a.max),
    check: (a) => {
      if (a.min > a.max) throw new ShapeError(`clip: min ${a.min} is greater than max ${a.max}`);
    },
  }),
  leaky_relu: unary({ attrs: { slope: { kind: "float", default: 0.01 } }, scalar: (x, a) => (x >= 0 ? x : a.slope * x) }),
  elu: unary({ attrs: { alpha: { kind: "float", default: 1.0 } }, scalar: (x, a) => (x > 0 ? x : a.alpha * Math.expm1(x)) }),
  gelu: unary({
    attrs: { approximate: { kind: "string", default: "none", values: ["none", "tanh"] } },
    scalar: (x, a) =>
      a.approximate === "tanh" ? 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_CUBIC * x * x * x))) : 0.5 * x * (1 + erf(x / Math.SQRT2)),
  }),
};
export type UnaryOp = keyof typeof UNARY;
export const unaryOps = Object.keys(UNARY) as UnaryOp[];
export type UnaryAttrs<N extends UnaryOp> = AttrsFrom<(typeof UNARY)[N]["attrs"]>;

interface BinaryDecl {
  /** The reference semantics; `int` when the operands are integer tensors. */
  scalar(a: number, b: number, int: boolean): number;
  traits?: Traits;
}

/** Integer division truncates and rejects 0; the interpreter reports the error. */
export class DivisionByZero extends Error {}

const BINARY = {
  add: { scalar: (a, b) => a + b, traits: { commutative: true, rightIdentity: 0 } },
  sub: { scalar: (a, b) => a - b, traits: { rightIdentity: 0 } },
  mul: { scalar: (a, b) => a * b, traits: { commutative: true, rightIdentity: 1 } },
  div: {
    scalar: (a, b, int) => {
      if (!int) return a / b;
      if (b === 0) throw new DivisionByZero("integer division by zero");
      return Math.trunc(a / b);
    },
    traits: { rightIdentity: 1 },
  },
  pow: { scalar: (a, b) => (a === 1 || (a === -1 && Math.abs(b) === Infinity) ? 1 : Math.pow(a, b)), traits: { rightIdentity: 1 } },
  maximum: { scalar: (a, b) => Math.max(a, b), traits: { commutative: true } },
  minimum: { scalar: (a, b) => Math.min(a, b), traits: { commutative: true } },
} satisfies Record<string, BinaryDecl>;
export type BinaryOp = keyof typeof BINARY;
export const binaryOps = Object.keys(BINARY) as BinaryOp[];

/**
 * Comparisons: a bool result (held as 0 / 1) from two operands of one dtype, broadcast. IEEE:
 * NaN is unequal to everything, itself included, and neither less nor greater.
 */
const COMPARE = {
  less: (a, b) => a < b,
  less_equal: (a, b) => a <= b,
  greater: (a, b) => a > b,
  greater_equal: (a, b) => a >= b,
  equal: (a, b) => a === b,
  not_equal: (a, b) => a !== b,
} satisfies Record<string, (a: number, b: number) => boolean>;
export type CompareOp = keyof typeof COMPARE;
export const compareOps = Object.keys(COMPARE) as CompareOp[];
export const isCompareOp = (op: string): op is CompareOp => Object.hasOwn(COMPARE, op);
/** A comparison's result on two elements, as its bool element (0 or 1). */
export function compareScalar(op: CompareOp, a: number, b: number): number {
  return COMPARE[op](a, b) ? 1 : 0;
}

export function unaryScalar(op: UnaryOp, x: number, attrs: Attrs): number {
  return (UNARY[op].scalar as (x: number, a: Attrs) => number)(x, attrs);
}
export function binaryScalar(op: BinaryOp, a: number, b: number, int: boolean): number {
  return BINARY[op].scalar(a, b, int);
}
export const isUnaryOp = (op: string): op is UnaryOp => Object.hasOwn(UNARY, op);
export const isBinaryOp = (op: string): op is BinaryOp => Object.hasOwn(BINARY, op);

// ---- layouts and epilogues ---------------------------------------------------------------------

/** Whether a layout-aware op reads and writes channels-last tensors. */
export function isNHWC(attrs: Attrs): boolean {
  return attrs.layout === "NHWC";
}

/** Size of the channel axis: 1 in NCHW, the last in NHWC. */
export function channelDim(shape: readonly number[], attrs: Attrs): number {
  return shape[isNHWC(attrs) && shape.length === 4 ? 3 : 1]!;
}

function toNCHW(shape: readonly number[], attrs: Attrs): [number, number, number, number] {
  return (isNHWC(attrs) ? permute(shape, TO_NCHW) : shape) as [number, number, number, number];
}

function fromNCHW(shape: readonly number[], attrs: Attrs): number[] {
  return isNHWC(attrs) ? permute(shape, TO_NHWC) : [...shape];
}

/**
 * Every activation's attributes, optional: an epilogue op carries the attributes of the
 * activation it applies beside its own (attrs.act names the activation).
 */
type ActivationAttrs = { [N in UnaryOp as keyof (typeof UNARY)[N]["attrs"]]?: AttrValue };
const activationAttrs: Schema = Object.fromEntries(
  unaryOps.flatMap((n) => Object.entries(UNARY[n].attrs as Schema).map(([k, s]) => [k, { ...s, optional: true }] as const)),
);

/** The attributes of an epilogue: y = act(op(x, w) + bias + residual). */
const epilogueAttrs = { bias: opt("bool"), residual: opt("bool"), act: opt("string") } as const;

/**
 * conv2d, conv_transpose2d, linear and matmul carry an optional fused epilogue, all in their attributes:
 *   y = act(op(x, w) + bias + residual)
 * with inputs [x, w, bias if attrs.bias, residual if attrs.residual, slope if attrs.act is
 * "prelu"]. `bias` is a vector along the output channels (axis 1 for NCHW convolutions, the last axis
 * otherwise), `residual` a tensor of the output's shape, `act` the name of a unary op (its own
 * attributes sit beside it) or "prelu".
 */
export interface Epilogue {
  bias?: number;
  residual?: number;
  slope?: number;
}

/** The ops with the `epilogue` trait. */
export type EpilogueOp = "conv2d" | "conv_transpose2d" | "linear" | "matmul";

/** The epilogue inputs (value ids) of a conv2d / conv_transpose2d / linear / matmul node. */
export function epilogueInputs(inputs: readonly number[], attrs: Attrs): Epilogue {
  let i = 2;
  const e: Epilogue = {};
  if (attrs.bias === true) e.bias = inputs[i++]!;
  if (attrs.residual === true) e.residual = inputs[i++]!;
  if (attrs.act === "prelu") e.slope = inputs[i++]!;
  return e;
}

/** The activation's own attributes, as a unary node of that op would hold them (defaults for those left out). */
export function activationOf(attrs: Attrs): { op: UnaryOp; attrs: Attrs } | "prelu" | undefined {
  const act = attrs.act;
  if (act === "prelu") return "prelu";
  if (typeof act !== "string" || !isUnaryOp(act)) return undefined;
  const own: Attrs = {};
  for (const [k, spec] of Object.entries(UNARY[act].attrs as Schema)) {
    const v = attrs[k] ?? spec.default;
    if (v !== undefined && v !== null) own[k] = v;
  }
  return { op: act, attrs: own };
}

/** The epilogue's channel axis: 1 for the NCHW convolutions, the last otherwise. */
export function epilogueChannelAxis(op: string, attrs: Attrs, rank: number): number {
  return (op === "conv2d" || op === "conv_transpose2d") && !isNHWC(attrs) ? 1 : rank - 1;
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
  } else if (attrs.act !== undefined && attrs.act !== null) {
    const act = attrs.act as string;
    if (!isUnaryOp(act)) throw new ShapeError(`${op}: unknown fused activation ${act}`);
    // One without a default (clip's min and max) must be given; activationOf() fills in the rest.
    for (const [k, spec] of Object.entries(UNARY[act].attrs as Schema))
      if (!spec.optional && spec.default === undefined && (attrs[k] ?? null) === null) throw new ShapeError(`${op}: its fused ${act} lacks the attribute ${k}`);
  }
}

/**
 * One step of an epilogue op's decomposition: the activation, then the residual, then the bias
 * (the core form keeps the convolutions' and linear's own bias) come off as nodes of their own.
 */
function decomposeEpilogue(b: GraphBuilder, op: EpilogueOp, inputs: number[], attrs: Attrs): number[] | undefined {
  const e = epilogueInputs(inputs, attrs);
  /** The node without the attributes `keys` and without input `drop` (an index). */
  const without = (keys: string[], drop?: number) => {
    const rest: Attrs = { ...attrs };
    for (const k of keys) delete rest[k];
    return b.node(op, inputs.filter((_, i) => i !== drop), rest)[0]!;
  };
  const act = activationOf(attrs);
  if (act === "prelu") {
    const y = without(["act"], inputs.length - 1);
    const shape = b.type(y).shape;
    if (epilogueChannelAxis(op, attrs, shape.length) === 1) return b.node("prelu", [y, e.slope!], {});
    // prelu's slopes run along axis 1: along the last axis, they apply to rows of channels.
    const channels = shape[shape.length - 1]!;
    const rows = b.node("reshape", [y], { shape: [numel(shape) / channels, channels] })[0]!;
    return b.node("reshape", [b.node("prelu", [rows, e.slope!], {})[0]!], { shape: [...shape] });
  }
  if (act !== undefined) return b.node(act.op, [without(["act", ...Object.keys(act.attrs)])], act.attrs);
  if (e.residual !== undefined) return b.node("add", [without(["residual"], inputs.indexOf(e.residual)), e.residual], {});
  if (e.bias !== undefined && op === "matmul") return b.node("add", [without(["bias"], 2), e.bias], {});
  return undefined;
}

/**
 * One step of a layout-aware op's decomposition: a channels-last node becomes transposes around
 * its NCHW form (4-D activations only; the inputs at `weights` stay as they are).
 */
function decomposeLayout(b: GraphBuilder, op: string, inputs: number[], attrs: Attrs, weights: readonly number[]): number[] | undefined {
  if (!isNHWC(attrs)) return undefined;
  const moved = inputs.map((v, i) => (b.type(v).shape.length === 4 && !weights.includes(i) ? b.node("transpose", [v], { perm: [...TO_NCHW] })[0]! : v));
  const rest: Attrs = { ...attrs };
  delete rest.layout;
  return b.node(op, moved, rest).map((y) => (b.type(y).shape.length === 4 ? b.node("transpose", [y], { perm: [...TO_NHWC] })[0]! : y));
}

function poolOut(size: number, k: number, s: number, p0: number, p1: number, d: number, ceil: boolean): number {
  const span = size + p0 + p1 - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch/ONNX: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * s >= size + p0) out--;
  return out;
}

function pool(name: "maxpool" | "avgpool") {
  const attrs = {
    kernel: req("ints"), stride: req("ints"), pads: req("ints"), dilation: opt("ints"), ceil_mode: opt("bool"), count_include_pad: opt("bool"), ...layoutAttr,
  } as const;
  return op({
    cls: "opaque", arity: 1, attrs, traits: { layout: { weights: [] } },
    infer: ([x], a) => {
      const [kernel, stride, pads, dilation] = [a.kernel, a.stride, a.pads, a.dilation ?? [1, 1]];
      if (x!.shape.length !== 4) throw new ShapeError(`${name}: input must be 4-D [N, C, H, W], got ${fmt(x!.shape)}`);
      if (pads.some((p, i) => p > Math.floor(kernel[i % 2]! / 2))) throw new ShapeError(`${name}: padding ${fmt(pads)} must be at most half the kernel ${fmt(kernel)}`);
      const [n, c, h, w] = toNCHW(x!.shape, a);
      const oh = poolOut(h, kernel[0]!, stride[0]!, pads[0]!, pads[2]!, dilation[0]!, a.ceil_mode === true);
      const ow = poolOut(w, kernel[1]!, stride[1]!, pads[1]!, pads[3]!, dilation[1]!, a.ceil_mode === true);
      if (oh < 1 || ow < 1) throw new ShapeError(`${name}: a ${kernel.join("x")} window does not fit the ${h}x${w} input`);
      return [{ dtype: x!.dtype, shape: fromNCHW([n, c, oh, ow], a) }];
    },
    decompose: (b, ins, a) => decomposeLayout(b, name, ins, a, []),
  });
}

function reduction(name: string) {
  return op({
    cls: "reduction", arity: 1, attrs: { axes: req("ints"), keepdim: opt("bool") },
    infer: ([x], a) => {
      const rank = x!.shape.length;
      // An empty list reduces nothing to some (numpy) and everything to others (ONNX): rejected.
      if (a.axes.length === 0) throw new ShapeError(`${name}: no axes to reduce; to reduce every axis, list them: [${[...Array(rank).keys()].join(", ")}]`);
      const axes = a.axes.map((ax) => normAxis(ax, rank));
      if (new Set(axes).size !== axes.length) throw new ShapeError(`${name}: repeated axis in ${fmt(a.axes)}`);
      const shape = a.keepdim ? x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x!.shape.filter((_, i) => !axes.includes(i));
      return [{ dtype: x!.dtype, shape }];
    },
  });
}

const gemmAttrs = { ...epilogueAttrs } as const;

const OPS = {
  ...(Object.fromEntries(
    unaryOps.map((name) => [name, op({
      cls: "elementwise", arity: 1, attrs: UNARY[name].attrs as Schema, traits: { activation: true },
      infer: ([x], a) => {
        requireFloat(name, x!);
        (UNARY[name] as UnaryDecl<Schema>).check?.(a);
        return [x!];
      },
    })]),
  ) as { [N in UnaryOp]: OpDecl<(typeof UNARY)[N]["attrs"]> }),

  ...(Object.fromEntries(
    binaryOps.map((name) => [name, op({
      cls: "broadcast", arity: 2, attrs: {}, traits: (BINARY[name] as BinaryDecl).traits ?? {},
      infer: ([a, b]) => {
        if (a!.dtype !== b!.dtype) throw new ShapeError(`${name}: operand types differ (${a!.dtype} and ${b!.dtype}); use cast()`);
        if (a!.dtype === "bool") throw new ShapeError(`${name}: no arithmetic on bool tensors; cast() them to f32 or i32, or use where()`);
        return [{ dtype: a!.dtype, shape: broadcastShapes(a!.shape, b!.shape) }];
      },
    })]),
  ) as { [N in BinaryOp]: OpDecl<{}> }),

  prelu: op({
    cls: "broadcast", arity: 2, attrs: { ...layoutAttr }, traits: { layout: { weights: [1] } },
    infer: ([x, slope], attrs) => {
      requireFloat("prelu", x!);
      const n = numel(slope!.shape);
      const c = x!.shape.length >= 2 ? channelDim(x!.shape, attrs) : 1;
      if (n !== 1 && n !== c) throw new ShapeError(`prelu: ${n} slopes but the input has ${c} channels (use 1 or ${c})`);
      return [x!];
    },
    decompose: (b, ins, a) => decomposeLayout(b, "prelu", ins, a, [1]),
  }),

  cast: op({
    cls: "elementwise", arity: 1, attrs: { to: req("dtype") },
    infer: ([x], a) => [{ dtype: a.to, shape: x!.shape }],
  }),

  ...(Object.fromEntries(
    compareOps.map((name) => [name, op({
      cls: "broadcast", arity: 2, attrs: {},
      infer: ([a, b]) => {
        if (a!.dtype !== b!.dtype) throw new ShapeError(`${name}: operand types differ (${a!.dtype} and ${b!.dtype}); use cast()`);
        if (a!.dtype === "bool" && name !== "equal" && name !== "not_equal") throw new ShapeError(`${name}: bool tensors are not ordered; cast() them first`);
        return [{ dtype: "bool", shape: broadcastShapes(a!.shape, b!.shape) }];
      },
    })]),
  ) as { [N in CompareOp]: OpDecl<{}> }),

  /** where(cond, a, b): a where cond is true, else b; all three broadcast. */
  where: op({
    cls: "broadcast", arity: 3, attrs: {},
    infer: ([c, a, b]) => {
      if (c!.dtype !== "bool") throw new ShapeError(`where: the condition must be a bool tensor (a comparison), got ${c!.dtype}`);
      if (a!.dtype !== b!.dtype) throw new ShapeError(`where: the two branches' types differ (${a!.dtype} and ${b!.dtype}); use cast()`);
      return [{ dtype: a!.dtype, shape: broadcastShapes(broadcastShapes(c!.shape, a!.shape), b!.shape) }];
    },
  }),

  logical_not: op({
    cls: "elementwise", arity: 1, attrs: {},
    infer: ([x]) => {
      if (x!.dtype !== "bool") throw new ShapeError(`logical_not: needs a bool tensor, got ${x!.dtype}`);
      return [x!];
    },
  }),

  /**
   * random_uniform(step): floats in [0, 1) of `shape` from the counter-based generator of
   * ir/random.ts, keyed by `seed`, `stream` (default 0) and the step counter (an f32 scalar input,
   * truncated to an unsigned integer): the same bits on every engine and thread count. A
   * training graph draws dropout's masks with it, one stream per dropout.
   */
  random_uniform: op({
    cls: "opaque", arity: 1, attrs: { shape: req("ints"), seed: req("int"), stream: opt("int") },
    infer: ([step], a) => {
      if (step!.dtype !== "f32" || numel(step!.shape) !== 1) throw new ShapeError(`random_uniform: the step counter must be one f32 value, got ${step!.dtype}${fmt(step!.shape)}`);
      if (a.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`random_uniform: shape ${fmt(a.shape)} must have positive dimensions`);
      for (const [k, v] of [["seed", a.seed], ["stream", a.stream ?? 0]] as const)
        if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new ShapeError(`random_uniform: ${k} must be an integer in [0, 2^32), got ${v}`);
      return [{ dtype: "f32", shape: [...a.shape] }];
    },
  }),

  conv2d: op({
    cls: "opaque", arity: [2, 5],
    attrs: { stride: req("ints"), pads: req("ints"), dilation: req("ints"), groups: req("int"), ...gemmAttrs, ...layoutAttr },
    traits: { layout: { weights: [1] }, epilogue: true },
    infer: (ins, attrs) => {
      const [x, w] = ins as [TensorType, TensorType];
      const { stride, pads, dilation, groups } = attrs;
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
    // Layout first: the NCHW form's epilogue then runs along axis 1, as the core ops' do.
    decompose: (b, ins, a) => decomposeLayout(b, "conv2d", ins, a, [1]) ?? decomposeEpilogue(b, "conv2d", ins, a),
  }),

  /**
   * The transpose (gradient) of conv2d, PyTorch's ConvTranspose2d: weight [C, K/groups, kh, kw];
   * input pixel (iy, ix) adds x * w at output (iy*stride - pad_begin + ky*dilation, ...). pads
   * [top, left, bottom, right] crop the full output; output_padding [h, w] extends it at the
   * bottom and right. PyTorch requires output_padding below the stride or the dilation: it picks
   * which of the input sizes that a strided conv2d maps to one output size the result has.
   */
  conv_transpose2d: op({
    cls: "opaque", arity: [2, 5],
    attrs: { stride: req("ints"), pads: req("ints"), dilation: req("ints"), output_padding: req("ints"), groups: req("int"), ...gemmAttrs, ...layoutAttr },
    traits: { layout: { weights: [1] }, epilogue: true },
    infer: (ins, attrs) => {
      const [x, w] = ins as [TensorType, TensorType];
      const { stride, pads, dilation, output_padding: extra, groups } = attrs;
      if (x.shape.length !== 4) throw new ShapeError(`conv_transpose2d: input must be 4-D [N, C, H, W], got ${fmt(x.shape)}`);
      requireFloat("conv_transpose2d", x);
      if (w.shape.length !== 4) throw new ShapeError(`conv_transpose2d: weight must be 4-D [C, K/groups, kh, kw], got ${fmt(w.shape)}`);
      const [n, c, h, wd] = toNCHW(x.shape, attrs);
      const [cw, kg, kh, kw] = w.shape as [number, number, number, number];
      if (c % groups !== 0) throw new ShapeError(`conv_transpose2d: input has ${c} channels but groups=${groups} does not divide it`);
      if (cw !== c) throw new ShapeError(`conv_transpose2d: weight ${fmt(w.shape)} expects ${cw} input channels, input has ${c}`);
      for (const i of [0, 1]) {
        if (extra[i]! < 0 || (extra[i]! >= stride[i]! && extra[i]! >= dilation[i]!))
          throw new ShapeError(`conv_transpose2d: output_padding ${fmt(extra)} must be non-negative and smaller than the stride ${fmt(stride)} or the dilation ${fmt(dilation)}`);
      }
      const full = (size: number, i: number, k: number) => (size - 1) * stride[i]! + dilation[i]! * (k - 1) + extra[i]! + 1;
      const [fh, fw] = [full(h, 0, kh), full(wd, 1, kw)];
      const [oh, ow] = [fh - pads[0]! - pads[2]!, fw - pads[1]! - pads[3]!];
      if (oh < 1 || ow < 1) throw new ShapeError(`conv_transpose2d: padding ${fmt(pads)} crops away the whole ${fh}x${fw} output (of the ${h}x${wd} input, ${kh}x${kw} kernel, stride ${stride.join("x")})`);
      const k = kg * groups;
      const y: TensorType = { dtype: "f32", shape: fromNCHW([n, k, oh, ow], attrs) };
      checkEpilogue("conv_transpose2d", ins, attrs, y, k);
      return [y];
    },
    macs: ([x, w]) => numel(x!.shape) * numel(w!.shape.slice(1)),
    decompose: (b, ins, a) => decomposeLayout(b, "conv_transpose2d", ins, a, [1]) ?? decomposeEpilogue(b, "conv_transpose2d", ins, a),
  }),

  maxpool: pool("maxpool"),
  avgpool: pool("avgpool"),

  global_avgpool: op({
    cls: "reduction", arity: 1, attrs: { ...layoutAttr }, traits: { layout: { weights: [] } },
    infer: ([x], attrs) => {
      if (x!.shape.length !== 4) throw new ShapeError(`global_avgpool: input must be 4-D [N, C, H, W], got ${fmt(x!.shape)}`);
      const [n, c] = toNCHW(x!.shape, attrs);
      return [{ dtype: x!.dtype, shape: fromNCHW([n, c, 1, 1], attrs) }];
    },
    decompose: (b, ins, a) => decomposeLayout(b, "global_avgpool", ins, a, []),
  }),

  /**
   * ONNX Resize over H and W of a 4-D tensor (see ir/resize.ts for the coordinate maps).
   * `sizes` is the output shape in NCHW order whatever the layout; `scales` ([1, 1, fh, fw]),
   * when given, drives the coordinate map instead of the size ratio, as in ONNX.
   */
  resize: op({
    cls: "injective", arity: 1,
    attrs: {
      sizes: req("ints"), scales: opt("floats"),
      mode: { kind: "string", values: RESIZE_MODES },
      coordinate: { kind: "string", values: RESIZE_COORDINATES },
      nearest: { kind: "string", optional: true, values: RESIZE_NEAREST },
      ...layoutAttr,
    },
    traits: { layout: { weights: [] } },
    infer: ([x], a) => {
      if (x!.shape.length !== 4) throw new ShapeError(`resize: input must be 4-D [N, C, H, W], got ${fmt(x!.shape)}`);
      requireFloat("resize", x!);
      checkResize(toNCHW(x!.shape, a), a.sizes, a.scales ?? undefined);
      return [{ dtype: x!.dtype, shape: fromNCHW(a.sizes, a) }];
    },
    decompose: (b, ins, a) => decomposeLayout(b, "resize", ins, a, []),
  }),

  batchnorm: op({
    cls: "broadcast", arity: 5, attrs: { eps: req("float"), ...layoutAttr }, traits: { layout: { weights: [1, 2, 3, 4] } },
    infer: ([x, ...stats], attrs) => {
      requireFloat("batchnorm", x!);
      const c = channelDim(x!.shape, attrs);
      if (x!.shape.length < 2) throw new ShapeError(`batchnorm: input must have a channel axis, got ${fmt(x!.shape)}`);
      for (const s of stats) if (s!.shape.length !== 1 || s!.shape[0] !== c) throw new ShapeError(`batchnorm: statistics of shape ${fmt(s!.shape)} for ${c} channels`);
      return [x!];
    },
    decompose: (b, ins, a) => decomposeLayout(b, "batchnorm", ins, a, [1, 2, 3, 4]),
  }),

  layernorm: op({
    cls: "opaque", arity: 3, attrs: { eps: req("float") },
    infer: ([x, g, b]) => {
      requireFloat("layernorm", x!);
      const d = x!.shape[x!.shape.length - 1];
      for (const p of [g!, b!]) if (p.shape.length !== 1 || p.shape[0] !== d) throw new ShapeError(`layernorm: parameter shape ${fmt(p.shape)} for last dimension ${d}`);
      return [x!];
    },
  }),

  linear: op({
    cls: "opaque", arity: [2, 5], attrs: gemmAttrs, traits: { epilogue: true },
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
    decompose: (b, ins, a) => decomposeEpilogue(b, "linear", ins, a),
  }),

  matmul: op({
    cls: "opaque", arity: [2, 5], attrs: gemmAttrs, traits: { epilogue: true },
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
    decompose: (b, ins, a) => decomposeEpilogue(b, "matmul", ins, a),
  }),

  softmax: op({
    cls: "opaque", arity: 1, attrs: { axis: req("int") },
    infer: ([x], attrs) => {
      requireFloat("softmax", x!);
      normAxis(attrs.axis, x!.shape.length);
      return [x!];
    },
  }),

  reduce_mean: reduction("reduce_mean"),
  reduce_sum: reduction("reduce_sum"),
  reduce_max: reduction("reduce_max"),

  reshape: op({
    cls: "injective", arity: 1, attrs: { shape: req("ints") }, traits: { view: true },
    infer: ([x], attrs) => {
      const shape = attrs.shape;
      if (numel(shape) !== numel(x!.shape)) throw new ShapeError(`reshape: cannot reshape ${fmt(x!.shape)} (${numel(x!.shape)} elements) to ${fmt(shape)} (${numel(shape)} elements)`);
      return [{ dtype: x!.dtype, shape }];
    },
  }),

  transpose: op({
    cls: "injective", arity: 1, attrs: { perm: req("ints") },
    infer: ([x], attrs) => {
      const perm = attrs.perm;
      const r = x!.shape.length;
      if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new ShapeError(`transpose: ${fmt(perm)} is not a permutation of ${r} axes`);
      return [{ dtype: x!.dtype, shape: permute(x!.shape, perm) }];
    },
  }),

  concat: op({
    cls: "injective", arity: [1, Infinity], attrs: { axis: req("int") },
    infer: (xs, attrs) => {
      const first = xs[0]!;
      const axis = normAxis(attrs.axis, first.shape.length);
      let total = 0;
      for (const x of xs) {
        if (x.dtype !== first.dtype || x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== axis && d !== first.shape[i]))
          throw new ShapeError(`concat: ${fmt(x.shape)} does not match ${fmt(first.shape)} outside axis ${axis}`);
        total += x.shape[axis]!;
      }
      return [{ dtype: first.dtype, shape: first.shape.map((d, i) => (i === axis ? total : d)) }];
    },
  }),

  split: op({
    cls: "injective", arity: 1, attrs: { axis: req("int"), sizes: req("ints") },
    infer: ([x], attrs) => {
      const axis = normAxis(attrs.axis, x!.shape.length);
      const sizes = attrs.sizes;
      const sum = sizes.reduce((a, b) => a + b, 0);
      if (sum !== x!.shape[axis] || sizes.some((s) => s < 1)) throw new ShapeError(`split: sizes ${fmt(sizes)} do not add up to dimension ${axis} of ${fmt(x!.shape)}`);
      return sizes.map((s) => ({ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === axis ? s : d)) }));
    },
  }),

  slice: op({
    cls: "injective", arity: 1, attrs: { axis: req("int"), start: req("int"), end: req("int"), step: { kind: "int", optional: true, default: 1 } },
    traits: { permuted: (a, perm) => ({ ...a, axis: axisAfter(perm, a.axis as number) }) },
    infer: ([x], attrs) => {
      const axis = normAxis(attrs.axis, x!.shape.length);
      const { start, end } = attrs;
      const step = attrs.step ?? 1;
      const dim = x!.shape[axis]!;
      const { count } = sliceRange(dim, start, end, step);
      if (count < 1) throw new ShapeError(`slice: start ${start}, end ${end}${step === 1 ? "" : `, step ${step}`} select nothing of dimension ${axis} (size ${dim})`);
      return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === axis ? count : d)) }];
    },
  }),

  /**
   * x.take(ids, axis): out = x.shape[:axis] ++ ids.shape ++ x.shape[axis+1:]. Ids lie in
   * [-d, d), negative ones counting from the end (ONNX Gather), or with negative_ids "error" in
   * [0, d) (PyTorch's embedding and its range check).
   */
  gather: op({
    cls: "injective", arity: 2,
    attrs: { axis: { kind: "int", optional: true, default: 0 }, negative_ids: { kind: "string", optional: true, default: "wrap", values: ["wrap", "error"] } },
    // With 1-D ids the axes keep their places.
    traits: { permuted: (a, perm, [, ids]) => (ids!.shape.length === 1 ? { ...a, axis: axisAfter(perm, (a.axis as number | undefined) ?? 0) } : undefined) },
    infer: ([x, ids], attrs) => {
      if (ids!.dtype !== "i32" && ids!.dtype !== "i64") throw new ShapeError(`gather: ids must be integers (i32 or i64), got ${ids!.dtype}`);
      if (x!.shape.length === 0) throw new ShapeError("gather: cannot index a scalar");
      const axis = normAxis(attrs.axis ?? 0, x!.shape.length);
      return [{ dtype: x!.dtype, shape: [...x!.shape.slice(0, axis), ...ids!.shape, ...x!.shape.slice(axis + 1)] }];
    },
  }),

  /** Pads (or, with negative pads, crops) every axis; see padAxes for the order and the checks. */
  pad: op({
    cls: "injective", arity: 1,
    attrs: { pads: req("ints"), mode: { kind: "string", optional: true, default: "constant", values: PAD_MODES }, value: { kind: "float", optional: true, default: 0 } },
    traits: {
      permuted: (a, perm) => {
        const pads = a.pads as number[];
        return { ...a, pads: [...permute(pads, perm), ...permute(pads.slice(perm.length), perm)] };
      },
    },
    infer: ([x], attrs) => {
      const value = attrs.value ?? 0;
      if (x!.dtype !== "f32" && !(Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)) throw new ShapeError(`pad: value ${value} is not a 32-bit integer, and the tensor is ${x!.dtype}`);
      const axes = padAxes(x!.shape, attrs.pads, (attrs.mode ?? "constant") as PadMode);
      return [{ dtype: x!.dtype, shape: axes.map((p) => p.before + p.kept + p.after) }];
    },
  }),

  /** Numpy (ONNX Expand) broadcasting of x and `shape`: dims of 1 on either side stretch. */
  expand: op({
    cls: "injective", arity: 1, attrs: { shape: req("ints") },
    // The shape lines up with x's axes from the right; a longer one adds axes.
    traits: {
      permuted: (a, perm) => {
        const shape = a.shape as number[];
        return shape.length > perm.length ? undefined : { shape: permute([...Array<number>(perm.length - shape.length).fill(1), ...shape], perm) };
      },
    },
    infer: ([x], attrs) => {
      if (attrs.shape.some((d) => !(d >= 1))) throw new ShapeError(`expand: shape ${fmt(attrs.shape)} must hold positive dims`);
      return [{ dtype: x!.dtype, shape: broadcastShapes(x!.shape, attrs.shape) }];
    },
  }),

  tile: op({
    cls: "injective", arity: 1, attrs: { repeats: req("ints") }, traits: { permuted: (a, perm) => ({ repeats: permute(a.repeats as number[], perm) }) },
    infer: ([x], attrs) => {
      const r = attrs.repeats;
      if (r.length !== x!.shape.length || r.some((k) => !(k >= 1))) throw new ShapeError(`tile: repeats ${fmt(r)} must be one positive count per axis of ${fmt(x!.shape)}`);
      return [{ dtype: x!.dtype, shape: x!.shape.map((d, i) => d * r[i]!) }];
    },
  }),

  // Steps are float unary/binary ops only (no cast, prelu or batchnorm) and every input is read,
  // so the output's shape is the broadcast of all inputs.
  fused_elementwise: op({
    tier: "fused", cls: "broadcast", arity: [1, Infinity], attrs: { program: req("program") },
    infer: (ins, attrs) => {
      const types: TensorType[] = [...ins];
      const read = new Set<number>();
      for (const st of attrs.program) {
        const fusable = st.args.length === 1 ? isUnaryOp(st.op) : st.args.length === 2 && isBinaryOp(st.op);
        if (!fusable) throw new ShapeError(`fused_elementwise: ${st.op} with ${st.args.length} operands cannot be fused`);
        const problems = attrProblems(st.op, st.attrs ?? {});
        if (problems.length) throw new ShapeError(`fused_elementwise: step ${st.op}: ${problems.join("; ")}`);
        const args = st.args.map((r) => types[r]);
        if (args.some((t) => t === undefined || t.dtype !== "f32")) throw new ShapeError(`fused_elementwise: step ${st.op} reads an undefined or non-float register`);
        st.args.forEach((r) => read.add(r));
        types.push(getOp(st.op).infer(args as TensorType[], st.attrs ?? {})[0]!);
      }
      if (ins.some((_, i) => !read.has(i))) throw new ShapeError("fused_elementwise: an input is never read");
      return [types[types.length - 1]!];
    },
    decompose: (b, ins, a) => {
      const regs = [...ins];
      for (const st of a.program) regs.push(b.node(st.op, st.args.map((r) => regs[r]!), st.attrs ?? {})[0]!);
      return [regs[regs.length - 1]!];
    },
  }),

  /**
   * dropout(x) with drop probability `p`: the identity at inference (its decomposition), kept in
   * a graph elaborated for training, where trainingForward replaces it by x * mask / (1 - p) with
   * a seeded mask (train mode) or by x (eval mode).
   */
  dropout: op({
    tier: "fused", cls: "opaque", arity: 1, attrs: { p: req("float") },
    infer: ([x], a) => {
      requireFloat("dropout", x!);
      if (!(a.p >= 0 && a.p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${a.p}`);
      return [x!];
    },
    decompose: (_b, [x]) => [x!],
  }),

  /**
   * Scaled dot-product attention, softmax(q kᵀ · scale + mask) v, over the last two axes:
   * q [B, H, Sq, D], k [B, H, Sk, D], v [B, H, Sk, Dv], an optional additive mask broadcastable
   * to [B, H, Sq, Sk]; the result is [B, H, Sq, Dv].
   */
  attention: op({
    tier: "fused", cls: "opaque", arity: [3, 4], attrs: { scale: req("float") },
    infer: ([q, k, v, mask]) => {
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
      return [{ dtype: "f32", shape: [b, h, sq, dv] }];
    },
    macs: ([q, k, v]) => numel(q!.shape) * k!.shape[2]! + numel(q!.shape.slice(0, 3)) * k!.shape[2]! * v!.shape[3]!,
    decompose: (b, [q, k, v, mask], a) => {
      const kt = b.node("transpose", [k!], { perm: [0, 1, 3, 2] })[0]!;
      let scores = b.node("mul", [b.node("matmul", [q!, kt], {})[0]!, b.constant([], Float32Array.of(a.scale))], {})[0]!;
      if (mask !== undefined) scores = b.node("add", [scores, mask], {})[0]!;
      return b.node("matmul", [b.node("softmax", [scores], { axis: -1 })[0]!, v!], {});
    },
  }),
};

export type OpName = keyof typeof OPS;
export type AttrsOf<N extends OpName> = AttrsFrom<(typeof OPS)[N]["attrs"]> & (N extends EpilogueOp ? ActivationAttrs : unknown);
/** A node of op N, its attributes typed by the registry. */
export type NodeOf<N extends OpName> = Omit<Node, "op" | "attrs"> & { op: N; attrs: AttrsOf<N> };

/** A backend's table: one entry per op, so a missing one is a type error naming the op. */
export type OpTable<Entry> = { readonly [N in OpName]: Entry };

/** A table entry for an op a target does not run: the driver reports it, naming op and target. */
export interface Unsupported {
  readonly unsupported: string;
}
export const unsupported = (why: string): Unsupported => ({ unsupported: why });
export const isUnsupported = (e: unknown): e is Unsupported => typeof e === "object" && e !== null && "unsupported" in e;

const registry = new Map<string, OpDef>(
  Object.entries(OPS).map(([name, decl]) => {
    const d = decl as unknown as Omit<OpDef, "name" | "tier" | "traits"> & { tier?: Tier; traits?: Traits };
    return [name, { ...d, name, tier: d.tier ?? "core", traits: d.traits ?? {} }];
  }),
);

// Epilogue ops carry activation attributes beside their own: the names must not collide.
for (const d of registry.values())
  if (d.traits.epilogue)
    for (const k of Object.keys(activationAttrs)) if (k in d.attrs) throw new Error(`op registry: activation attribute ${k} collides with an attribute of ${d.name}`);

export const isOp = (name: string): name is OpName => registry.has(name);

export function getOp(name: string): OpDef {
  const d = registry.get(name);
  if (!d) throw new Error(`unknown IR op ${name}`);
  return d;
}

export function allOps(): OpDef[] {
  return [...registry.values()];
}

export const opNames = Object.keys(OPS) as OpName[];

/** The attributes `op` accepts: its own, and for epilogue ops every activation's. */
export function attrSchema(op: string): Schema {
  const d = getOp(op);
  return d.traits.epilogue ? { ...d.attrs, ...activationAttrs } : d.attrs;
}

function kindOf(v: AttrValue): AttrKind | "null" | "unknown" {
  if (v === null) return "null";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (Array.isArray(v)) return v.every((x) => typeof x === "number") ? "ints" : v.every((x) => typeof x === "object" && x !== null && "op" in x) ? "program" : "unknown";
  return "unknown";
}

/** Problems of `attrs` against op's schema: unknown names, missing required ones, wrong kinds or values. */
export function attrProblems(op: string, attrs: Attrs): string[] {
  const schema = attrSchema(op);
  const problems: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    const spec = schema[k];
    if (!spec) {
      problems.push(`unknown attribute ${k}`);
      continue;
    }
    if (v === undefined || (v === null && spec.optional)) continue;
    const kind = kindOf(v);
    const ok = kind === spec.kind || (spec.kind === "float" && kind === "int") || (spec.kind === "floats" && kind === "ints") || (spec.kind === "dtype" && kind === "string") || (spec.kind === "program" && Array.isArray(v) && v.length === 0);
    if (!ok) problems.push(`attribute ${k} should be ${spec.kind}, got ${JSON.stringify(v)}`);
    else if (spec.values && !spec.values.includes(v as string)) problems.push(`attribute ${k} must be one of ${spec.values.join(", ")}, got ${JSON.stringify(v)}`);
  }
  for (const [k, spec] of Object.entries(schema)) if (!spec.optional && attrs[k] === undefined) problems.push(`missing attribute ${k}`);
  return problems;
}

/** The attributes of a node of op `op`, typed by the registry (the verifier checks them against its schema). */
export function attrsOf<N extends OpName>(node: Pick<Node, "op" | "attrs">, op: N): AttrsOf<N> {
  if (node.op !== op) throw new Error(`attrsOf: a ${node.op} node read as ${op}`);
  return node.attrs as AttrsOf<N>;
}

/** The steps of a fused_elementwise node; the last step's register is the output. */
export function fusedProgram(attrs: Attrs): FusedStep[] {
  return attrs.program as FusedStep[];
}
