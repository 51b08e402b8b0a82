// One case generator per IR op, in a table typed against the registry (a new op without cases
// does not compile). A case is a tiny graph, mostly of one node, with random shapes (sizes 1..9
// hit every SIMD tail, size-1 dims and broadcasting), attributes (every value of an enum
// attribute), seeded input data in the op's domain, and the tolerance every engine must meet
// against the interpreter, |got - want| <= rel |want| + abs (+ the GEMM-class term), declared once
// with its reason. The interpreter computes in double and rounds once; the bounds below are the
// error of a float32 implementation, as the wasm kernel tests derive them.
//
// Half the cases hold NaN and ±Inf in their f32 model inputs: a few percent of the elements, and
// for ops that reduce (pools, softmax, layernorm, reductions) whole rows or windows of one of
// them. Where the interpreter's result is not finite, an engine must give the same (NaN for NaN,
// an infinity of the same sign). Constants (weights) stay finite: a non-finite weight is a broken
// checkpoint, and conv's zero padding times one is each implementation's choice (test/wgsl/kernels
// checks WGSL's non-finite scalar constants); attention's additive mask is the exception, -Inf
// being how masks are written.
import fc from "fast-check";
import { emptyGraph, numel, type Attrs, type DType, type FusedStep, type Graph } from "../../src/ir/graph.js";
import { activationOf, broadcastShapes, getOp, unaryOps, type BinaryOp, type CompareOp, type OpName, type OpTable, type UnaryAttrs, type UnaryOp } from "../../src/ir/ops.js";
import { addConstant, addNode } from "../../src/ir/rewrite.js";
import { PAD_MODES, sliceRange, strides } from "../../src/ir/shape.js";
import { interpret, type TensorData } from "../../src/interp/index.js";
import { rng } from "../support/source.js";
import { activationAttrs, activationError, U2 } from "../support/gemm-tolerance.js";

/** |got - want| <= rel |want| + abs, plus `dot`'s bound where the op sums products. */
export interface Tolerance {
  readonly rel: number;
  readonly abs: number;
  /**
   * GEMM class: K-term float32 sums err by at most (K + 3) 2^-23 S, S = the node on |operands|
   * without its activation (test/wasm/gemm.test.ts derives it), times the activation's slope.
   */
  readonly dot?: { readonly K: number; readonly S: Float32Array; readonly act: string | undefined };
  /** Why this bound, in one line. */
  readonly why: string;
}

export interface Case {
  readonly op: OpName;
  /** Inputs x0, x1, ... and outputs y0, y1, ...; parameters are constants, as bound weights are. */
  readonly graph: Graph;
  readonly inputs: Readonly<Record<string, TensorData>>;
  readonly tol: Tolerance;
  /** The node, its operand shapes and the seed: what a failure prints. */
  readonly what: string;
}

// ---- tolerances (derived as the wasm kernel tests do: test/wasm/math, pool and gemm keep theirs) --

const EXACT: Tolerance = { rel: 0, abs: 0, why: "data movement, selection, or one correctly rounded f32 operation on f32 operands (the interpreter's double result rounds to the same float)" };
const ROUNDED: Tolerance = { rel: 3e-7, abs: 0, why: "a double attribute (slope) against its f32 rounding, or WGSL's 2.5-ulp division: within 3e-7 relative" };
const POLY: Tolerance = { rel: 1e-6, abs: 1e-14, why: "polynomial transcendentals within 2e-7 (test/wasm/math) with margin; abs: the interpreter's double 1 + erf cancels for gelu below -5" };
const GELU_TANH: Tolerance = { rel: 3e-6, abs: 1e-14, why: "gelu's tanh form: rounding its argument z costs up to 2|z| 1.2e-7 relative (test/wasm/math)" };
const CHAIN: Tolerance = { rel: 1e-5, abs: 1e-6, why: "a chain of a few rounded steps, each within POLY, with the chain's conditioning" };
const SUMS: Tolerance = { rel: 1e-5, abs: 1e-4, why: "f32 sums of n terms of magnitude <= 3 in four-lane partial sums: ~n 6e-8 3 for n <= 9^3 (random signs grow as sqrt(n) beyond)" };
const HARD_SIGMOID: Tolerance = { rel: 1e-6, abs: 2 ** -24, why: "(x + beta / alpha) alpha in f32: a few roundings relative, and beta / alpha rounded to f32 costs |beta| 2^-24 absolute near the kink at 0" };
const SOFTMAX: Tolerance = { rel: 1e-5, abs: 1e-7, why: "exp within 2e-7, a max-subtracted f32 sum of at most 9 terms and one division" };

// ---- building cases ------------------------------------------------------------------------------

type Range = readonly [number, number];

const SPECIALS = [NaN, Infinity, -Infinity] as const;
/** The share of elements replaced by a special value, in a case that holds them. */
const SPECIAL_RATE = 0.04;

/** Builds one case graph: inputs x0, x1, ... with seeded data, constants, nodes. */
class Build {
  readonly g: Graph;
  readonly inputs: Record<string, TensorData> = {};
  private readonly rand: () => number;
  /** Whether this case's f32 inputs hold NaN and ±Inf. */
  readonly specials: boolean;

  constructor(readonly op: OpName, private readonly seed: number) {
    this.g = emptyGraph(op);
    this.rand = rng(seed);
    this.specials = this.rand() < 0.5;
  }

  private special(): number {
    return SPECIALS[Math.floor(this.rand() * SPECIALS.length)]!;
  }

  /** In a case with specials, a few percent of `data` (in place) become NaN, +Inf or -Inf. */
  sprinkle(data: Float32Array): Float32Array {
    if (this.specials) for (let i = 0; i < data.length; i++) if (this.rand() < SPECIAL_RATE) data[i] = this.special();
    return data;
  }

  /**
   * In a case with specials, one whole slab of `data` (in place): every element sharing a random
   * element's coordinates outside `axes` (the row, plane or slice an op reduces) becomes one
   * special value, or `value`.
   */
  slab(data: Float32Array, shape: readonly number[], axes: readonly number[], value = this.special()): Float32Array {
    if (!this.specials || data.length === 0) return data;
    const st = strides(shape);
    const coord = (i: number, d: number) => Math.floor(i / st[d]!) % shape[d]!;
    const pick = Math.floor(this.rand() * data.length);
    const kept = shape.map((_, d) => d).filter((d) => !axes.includes(d));
    for (let i = 0; i < data.length; i++) if (kept.every((d) => coord(i, d) === coord(pick, d))) data[i] = value;
    return data;
  }

  uniform(shape: readonly number[], [lo, hi]: Range): Float32Array {
    return Float32Array.from({ length: numel(shape) }, () => lo + (hi - lo) * this.rand());
  }

  /** Magnitudes in [lo, hi], signs at random (divisors, bases of integer powers). */
  signed(shape: readonly number[], range: Range): Float32Array {
    return this.uniform(shape, range).map((v) => (this.rand() < 0.5 ? -v : v));
  }

  /** Integers in [lo, hi]. */
  ints(shape: readonly number[], [lo, hi]: Range): Int32Array {
    return Int32Array.from({ length: numel(shape) }, () => lo + Math.floor((hi - lo + 1) * this.rand()));
  }

  /** A model input (f32 data sprinkled with specials unless `plain`); integer data becomes i64 (BigInt64Array) for an i64 input. */
  input(shape: readonly number[], data: Float32Array | Int32Array, dtype: DType = data instanceof Float32Array ? "f32" : "i32", plain = false): number {
    if (data instanceof Float32Array && !plain) this.sprinkle(data);
    const id = this.g.values.length;
    const name = `x${this.g.inputs.length}`;
    this.g.values.push({ id, type: { dtype, shape: [...shape] }, kind: "input" });
    this.g.inputs.push({ name, value: id });
    this.inputs[name] = dtype === "i64" ? BigInt64Array.from(data, (v) => BigInt(v)) : data;
    return id;
  }

  constant(shape: readonly number[], data: Float32Array | Int32Array): number {
    return addConstant(this.g, [...shape], data);
  }

  /**
   * An f32 operand drawn from `range`: a constant (like a bound weight) or a model input; `slab`:
   * the axes of a slab of specials (see slab()), for inputs of ops that reduce.
   */
  f32(shape: readonly number[], range: Range, constant = false, slab?: readonly number[]): number {
    const data = this.uniform(shape, range);
    if (constant) return this.constant(shape, data);
    return this.input(shape, slab ? this.slab(data, shape, slab) : data);
  }

  node(op: string, inputs: number[], attrs: Attrs): number[] {
    return addNode(this.g, op, inputs, attrs);
  }

  /** The case: `outputs` become y0, y1, ... */
  done(outputs: number[], tol: Tolerance): Case {
    outputs.forEach((value, i) => this.g.outputs.push({ name: `y${i}`, value }));
    const main = this.g.nodes.find((n) => n.op === this.op)!;
    const shapes = main.inputs.map((v) => `${this.g.values[v]!.type.dtype}[${this.g.values[v]!.type.shape}]${this.g.values[v]!.kind === "const" ? " const" : ""}`);
    const what = `${this.op} ${JSON.stringify(main.attrs)} on ${shapes.join(", ")} (seed ${this.seed})`;
    return { op: this.op, graph: this.g, inputs: this.inputs, tol, what };
  }
}

/** A case arbitrary that fast-check prints as its description (not its data). */
function cases<T>(arb: fc.Arbitrary<T>, build: (v: T) => Case): fc.Arbitrary<Case> {
  return arb.map((v) => {
    const c = build(v);
    return Object.assign(c, { [fc.toStringMethod]: () => c.what });
  });
}

const seed = fc.integer({ min: 0, max: 2 ** 30 });
const dim = (max = 9) => fc.integer({ min: 1, max });
const shape = (minRank: number, maxRank: number, max = 9) => fc.array(dim(max), { minLength: minRank, maxLength: maxRank });
const layout = fc.constantFrom<Attrs>({}, { layout: "NCHW" }, { layout: "NHWC" });

/** Two shapes that broadcast: suffixes of one base shape with some dims set to 1. */
const broadcastPair = (maxRank = 4, max = 9) =>
  shape(1, maxRank, max).chain((base) =>
    fc.tuple(
      ...[0, 1].map(() =>
        fc.tuple(fc.integer({ min: 0, max: base.length - 1 }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length })).map(([drop, ones]) =>
          base.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)),
        ),
      ),
    ),
  );

/** An axis of a rank-r tensor, negative half the time. */
const axisOf = (r: number) => fc.tuple(fc.integer({ min: 0, max: r - 1 }), fc.boolean()).map(([a, neg]) => (neg ? a - r : a));

// ---- elementwise -----------------------------------------------------------------------------------

const hundredths = (min: number, max: number) => fc.integer({ min, max }).map((k) => k / 100);
const thousandths = (min: number, max: number) => fc.integer({ min, max }).map((k) => k / 1000);

const unaryAttrs: { [N in UnaryOp]: fc.Arbitrary<UnaryAttrs<N>> } = {
  relu: fc.constant({}), relu6: fc.constant({}), sigmoid: fc.constant({}), tanh: fc.constant({}), selu: fc.constant({}), silu: fc.constant({}),
  // PyTorch's alpha (1/6) and ONNX's and Paddle's (0.2), beta 0.5 or another.
  hard_sigmoid: fc.record({ alpha: fc.constantFrom(1 / 6, 0.2), beta: fc.constantFrom(0.5, 0.3) }), hard_swish: fc.constant({}), exp: fc.constant({}), log: fc.constant({}), sqrt: fc.constant({}), erf: fc.constant({}),
  neg: fc.constant({}), abs: fc.constant({}),
  // Attributes in steps of 0.01 or 0.001 (0 included): nothing an f32 would hold as a subnormal.
  clip: fc.tuple(hundredths(-300, 0), hundredths(0, 300)).map(([min, max]) => ({ min, max })),
  leaky_relu: thousandths(0, 1000).map((slope) => ({ slope })),
  elu: thousandths(100, 2000).map((alpha) => ({ alpha })),
  gelu: fc.constantFrom("none", "tanh").map((approximate) => ({ approximate })),
};

const unaryTolerance: { [N in UnaryOp]: (a: UnaryAttrs<N>) => Tolerance } = {
  relu: () => EXACT, relu6: () => EXACT, neg: () => EXACT, abs: () => EXACT, clip: () => EXACT,
  leaky_relu: () => ROUNDED,
  sigmoid: () => POLY, tanh: () => POLY, selu: () => POLY, silu: () => POLY, hard_sigmoid: () => HARD_SIGMOID, hard_swish: () => POLY,
  exp: () => POLY, log: () => POLY, sqrt: () => POLY, erf: () => POLY, elu: () => POLY,
  gelu: (a) => (a.approximate === "tanh" ? GELU_TANH : POLY),
};

/** log and sqrt need positive inputs. */
const unaryDomain = (op: UnaryOp): Range => (op === "log" || op === "sqrt" ? [0.01, 10] : [-8, 8]);

function unary<N extends UnaryOp>(op: N): fc.Arbitrary<Case> {
  return cases(fc.record({ s: shape(1, 4), attrs: unaryAttrs[op] as fc.Arbitrary<UnaryAttrs<N>>, seed }), ({ s, attrs, seed }) => {
    const b = new Build(op, seed);
    return b.done(b.node(op, [b.input(s, b.uniform(s, unaryDomain(op)))], attrs), unaryTolerance[op](attrs));
  });
}

/**
 * A binary op: two broadcasting inputs, or a constant right operand (a tensor or a scalar, which
 * kernels specialise), or a scalar on the left; f32, i32 or i64 (pow: f32 only).
 */
function binary(op: BinaryOp): fc.Arbitrary<Case> {
  const form = fc.constantFrom("inputs", "constant", "scalar", "scalar-left");
  const dtype = op === "pow" ? fc.constant<DType>("f32") : fc.constantFrom<DType>("f32", "i32", "i64");
  const scalarShape = fc.constantFrom<number[]>([], [1]);
  return cases(fc.record({ pair: broadcastPair(), form, dtype, scalarShape, intPower: fc.boolean(), seed }), ({ pair: [sa, sb], form, dtype, scalarShape, intPower, seed }) => {
    const b = new Build(op, seed);
    // i64 tensors exist only as model inputs.
    const kind = dtype === "i64" ? "inputs" : form;
    const [left, right] = [kind === "scalar-left" ? scalarShape : sa, kind === "scalar" ? scalarShape : sb];
    const operand = (s: number[], data: Float32Array | Int32Array, constant: boolean) => (constant ? b.constant(s, data) : b.input(s, data, dtype));
    let a: Float32Array | Int32Array;
    let d: Float32Array | Int32Array;
    if (dtype !== "f32") {
      a = b.ints(left, [-50, 50]);
      // 2k + 1 is odd: integer division never divides by zero.
      d = op === "div" ? b.ints(right, [-25, 24]).map((v) => 2 * v + 1) : b.ints(right, [-50, 50]);
    } else if (op === "pow") {
      // An integer exponent takes negative bases; exp(b log a) errs by 1.2e-7 |b ln a| <= 8e-7 here.
      const integer = kind === "scalar" && intPower;
      a = integer ? b.signed(left, [0.5, 3]) : b.uniform(left, [0.1, 3]);
      d = integer ? Float32Array.from(b.ints(right, [-3, 4])) : b.uniform(right, [-3, 3]);
    } else {
      a = b.uniform(left, [-3, 3]);
      d = op === "div" ? b.signed(right, [0.25, 3]) : b.uniform(right, [-3, 3]);
    }
    const x = operand(left, a, kind === "scalar-left");
    const y = operand(right, d, kind === "constant" || kind === "scalar");
    const tol = op === "pow" ? POLY : op === "div" && dtype === "f32" ? ROUNDED : EXACT;
    return b.done(b.node(op, [x, y], {}), tol);
  });
}

/**
 * A comparison: operands as binary()'s (two broadcasting inputs, a constant tensor or scalar on
 * either side), f32, i32 or i64, their values on a grid of halves (f32) or small integers so
 * that ties are frequent; f32 inputs hold NaN and ±Inf in half the cases.
 */
function comparison(op: CompareOp): fc.Arbitrary<Case> {
  const form = fc.constantFrom("inputs", "constant", "scalar", "scalar-left");
  const scalarShape = fc.constantFrom<number[]>([], [1]);
  return cases(fc.record({ pair: broadcastPair(), form, dtype: fc.constantFrom<DType>("f32", "i32", "i64"), scalarShape, seed }), ({ pair: [sa, sb], form, dtype, scalarShape, seed }) => {
    const b = new Build(op, seed);
    const kind = dtype === "i64" ? "inputs" : form;
    const [left, right] = [kind === "scalar-left" ? scalarShape : sa, kind === "scalar" ? scalarShape : sb];
    const operand = (s: number[], constant: boolean) => {
      const data = dtype === "f32" ? Float32Array.from(b.ints(s, [-6, 6]), (v) => v / 2) : b.ints(s, [-3, 3]);
      return constant ? b.constant(s, data) : b.input(s, data, dtype);
    };
    const x = operand(left, kind === "scalar-left");
    const y = operand(right, kind === "constant" || kind === "scalar");
    return b.done(b.node(op, [x, y], {}), EXACT);
  });
}

/** A bool tensor of `shape`: x > 0 of an input (with specials: NaN > 0 is false). */
function condition(b: Build, shape: readonly number[]): number {
  return b.node("greater", [b.f32(shape, [-1, 1]), b.constant([], Float32Array.of(0))], {})[0]!;
}

/**
 * where(cond, a, b) over three broadcasting shapes, a and b f32, i32 or i64, each an input or a
 * scalar constant (the attention-mask form where(mask == 0, -1e9, 0)).
 */
const where = cases(
  fc.record({ pair: broadcastPair(), cond: fc.integer({ min: 0, max: 2 }), scalars: fc.constantFrom("none", "a", "b", "both"), dtype: fc.constantFrom<DType>("f32", "i32", "i64"), seed }),
  ({ pair: [sa, sb], cond, scalars, dtype, seed }) => {
    const b = new Build("where", seed);
    const c = condition(b, [sa, sb, broadcastShapes(sa, sb)][cond]!);
    const kinds = dtype === "i64" ? "none" : scalars;
    const branch = (s: number[], scalar: boolean, k: number) => {
      const data = dtype === "f32" ? (scalar ? Float32Array.of(k === 0 ? -1e9 : 0) : b.uniform(s, [-3, 3])) : b.ints(scalar ? [] : s, [-50, 50]);
      return scalar ? b.constant([], data) : b.input(s, data, dtype);
    };
    const x = branch(sb, kinds === "a" || kinds === "both", 0);
    const y = branch(sa, kinds === "b" || kinds === "both", 1);
    return b.done(b.node("where", [c, x, y], {}), EXACT);
  },
);

const logicalNot = cases(fc.record({ s: shape(1, 4), seed }), ({ s, seed }) => {
  const b = new Build("logical_not", seed);
  return b.done(b.node("logical_not", [condition(b, s)], {}), EXACT);
});

/**
 * random_uniform over shapes with tails, every seed and stream range, step counters from the first
 * to 2^24 (the step input is plain: a counter is a finite step count, src/ir/random.ts).
 */
const randomUniform = cases(
  fc.record({ s: shape(1, 4), seed: fc.integer({ min: 0, max: 2 ** 32 - 1 }), stream: fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { nil: undefined }), step: fc.constantFrom(0, 1, 2, 17, 1000, 2 ** 24, 3.5) }),
  ({ s, seed, stream, step }) => {
    const b = new Build("random_uniform", seed);
    const counter = b.input([], Float32Array.of(step), "f32", true);
    return b.done(b.node("random_uniform", [counter], { shape: s, seed, ...(stream === undefined ? {} : { stream }) }), EXACT);
  },
);

/** dropout is the identity outside a training graph, specials included. */
const dropout = cases(fc.record({ s: shape(1, 4), p: fc.constantFrom(0, 0.1, 0.5, 0.9), seed }), ({ s, p, seed }) => {
  const b = new Build("dropout", seed);
  return b.done(b.node("dropout", [b.f32(s, [-3, 3])], { p }), EXACT);
});

// ---- GEMM class ------------------------------------------------------------------------------------

/** The allowed |got - want| at element i of an output whose reference value is `want`. */
export function allowance(t: Tolerance, i: number, want: number): number {
  // S is not finite where an operand is: the pre-activation value is then ±Inf or NaN, exactly.
  const S = t.dot?.S[i]!;
  const dot = t.dot && Number.isFinite(S) ? activationError(t.dot.act, want, (t.dot.K + 3) * U2 * S) : 0;
  return dot + t.rel * Math.abs(want) + t.abs;
}

const epilogueAct = fc.constantFrom<string | undefined>(undefined, "prelu", ...unaryOps);
const epilogue = fc.record({ bias: fc.boolean(), residual: fc.boolean(), act: epilogueAct, approximate: fc.constantFrom("none", "tanh"), scalarSlope: fc.boolean() });
type EpilogueCase = typeof epilogue extends fc.Arbitrary<infer T> ? T : never;
const DATA: Range = [-1, 1];

/** The epilogue's attributes and its inputs after [x, w]: bias, residual, prelu slopes. */
function epilogueOf(b: Build, e: EpilogueCase, channels: number, yShape: number[]): [Attrs, number[]] {
  const attrs: Attrs = { bias: e.bias, residual: e.residual };
  if (e.act !== undefined) Object.assign(attrs, { act: e.act }, activationAttrs[e.act], e.act === "gelu" ? { approximate: e.approximate } : {});
  const extra: number[] = [];
  if (e.bias) extra.push(b.f32([channels], DATA, true));
  if (e.residual) extra.push(b.f32(yShape, DATA));
  if (e.act === "prelu") extra.push(b.f32([e.scalarSlope ? 1 : channels], DATA, true));
  return [attrs, extra];
}

/**
 * Finishes a GEMM-class case: the bound (K + 3) 2^-23 S with S from the node run on |operands|
 * without its activation, plus the activation's own error, 1e-6 |y| (3e-6 for gelu's tanh form).
 */
function gemmCase(b: Build, op: OpName, ins: number[], attrs: Attrs, K: number): Case {
  const [y] = b.node(op, ins, attrs);
  const activation = activationOf(attrs);
  const act = activation === "prelu" ? "prelu" : activation?.op;
  const plain: Attrs = { ...attrs };
  for (const k of ["act", ...(activation && activation !== "prelu" ? Object.keys(activation.attrs) : [])]) delete plain[k];
  const absolute = emptyGraph("S");
  const operands = (act === "prelu" ? ins.slice(0, -1) : ins).map((v) => {
    const t = b.g.values[v]!.type;
    const data = b.g.values[v]!.kind === "const" ? b.g.constants.find((c) => c.value === v)!.data : b.inputs[b.g.inputs.find((p) => p.value === v)!.name]!;
    return addConstant(absolute, [...t.shape], Float32Array.from(data as Float32Array, Math.abs));
  });
  absolute.outputs.push({ name: "S", value: addNode(absolute, op, operands, plain)[0]! });
  const S = interpret(absolute, new Map(), {}).S as Float32Array;
  const rel = attrs.approximate === "tanh" ? 3e-6 : 1e-6;
  return b.done([y!], { rel, abs: 1e-14, dot: { K, S, act }, why: "(K + 3) 2^-23 S for K-term f32 dot products (Higham 3.1, 2x margin), the activation's slope and its own error (test/wasm/gemm)" });
}

const conv2d = cases(
  fc.record({
    n: dim(2), groups: dim(3), cg: dim(6), kg: dim(10), depthwise: fc.boolean(), h: dim(12), w: dim(12), kh: dim(4), kw: dim(4),
    stride: fc.tuple(dim(3), dim(3)), pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))), dilation: fc.tuple(dim(2), dim(2)),
    layout, epi: epilogue, seed,
  }).filter((c) => c.h + c.pads[0] + c.pads[2] >= c.dilation[0] * (c.kh - 1) + 1 && c.w + c.pads[1] + c.pads[3] >= c.dilation[1] * (c.kw - 1) + 1),
  (c) => {
    const b = new Build("conv2d", c.seed);
    const groups = c.depthwise ? c.cg * c.groups : c.groups;
    const [C, K, cg] = c.depthwise ? [groups, groups, 1] : [c.groups * c.cg, c.groups * c.kg, c.cg];
    const nhwc = c.layout.layout === "NHWC";
    const oh = Math.floor((c.h + c.pads[0] + c.pads[2] - c.dilation[0] * (c.kh - 1) - 1) / c.stride[0]) + 1;
    const ow = Math.floor((c.w + c.pads[1] + c.pads[3] - c.dilation[1] * (c.kw - 1) - 1) / c.stride[1]) + 1;
    const x = b.f32(nhwc ? [c.n, c.h, c.w, C] : [c.n, C, c.h, c.w], DATA);
    const w = b.f32([K, cg, c.kh, c.kw], DATA, true);
    const [epi, extra] = epilogueOf(b, c.epi, K, nhwc ? [c.n, oh, ow, K] : [c.n, K, oh, ow]);
    const attrs: Attrs = { stride: c.stride, pads: c.pads, dilation: c.dilation, groups, ...c.layout, ...epi };
    return gemmCase(b, "conv2d", [x, w, ...extra], attrs, cg * c.kh * c.kw);
  },
);

/** conv_transpose2d's output size along one axis (the registry's formula). */
const transposedSize = (size: number, k: number, s: number, p0: number, p1: number, d: number, extra: number) => (size - 1) * s - p0 - p1 + d * (k - 1) + extra + 1;

// Every stride, pad, output_padding (below the stride or the dilation), dilation and group count,
// depthwise included; `tiling` makes stride == kernel (dilation 1, no output_padding), the
// upsampling the wasm kernel writes without adding. Each output sums at most C/g * kh * kw terms.
const convTranspose2d = cases(
  fc.record({
    n: dim(2), groups: dim(3), cg: dim(6), kg: dim(10), depthwise: fc.boolean(), tiling: fc.boolean(), h: dim(8), w: dim(8), kh: dim(4), kw: dim(4),
    stride: fc.tuple(dim(3), dim(3)), pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))), dilation: fc.tuple(dim(2), dim(2)),
    extra: fc.tuple(fc.nat(2), fc.nat(2)), layout, epi: epilogue, seed,
  }).map((c) => {
    const stride = c.tiling ? [c.kh, c.kw] : c.stride;
    const dilation = c.tiling ? [1, 1] : c.dilation;
    const extra = c.tiling ? [0, 0] : c.extra.map((e, i) => e % Math.max(stride[i]!, dilation[i]!));
    const oh = transposedSize(c.h, c.kh, stride[0]!, c.pads[0], c.pads[2], dilation[0]!, extra[0]!);
    const ow = transposedSize(c.w, c.kw, stride[1]!, c.pads[1], c.pads[3], dilation[1]!, extra[1]!);
    return { ...c, stride, dilation, extra, oh, ow };
  }).filter((c) => c.oh >= 1 && c.ow >= 1),
  (c) => {
    const b = new Build("conv_transpose2d", c.seed);
    const groups = c.depthwise ? c.cg * c.groups : c.groups;
    const [C, K, cg, kg] = c.depthwise ? [groups, groups, 1, 1] : [c.groups * c.cg, c.groups * c.kg, c.cg, c.kg];
    const nhwc = c.layout.layout === "NHWC";
    const x = b.f32(nhwc ? [c.n, c.h, c.w, C] : [c.n, C, c.h, c.w], DATA);
    const w = b.f32([C, kg, c.kh, c.kw], DATA, true);
    const [epi, extra] = epilogueOf(b, c.epi, K, nhwc ? [c.n, c.oh, c.ow, K] : [c.n, K, c.oh, c.ow]);
    const attrs: Attrs = { stride: c.stride, pads: c.pads, dilation: c.dilation, output_padding: c.extra, groups, ...c.layout, ...epi };
    return gemmCase(b, "conv_transpose2d", [x, w, ...extra], attrs, cg * c.kh * c.kw);
  },
);

const linear = cases(
  fc.record({ rows: fc.array(fc.integer({ min: 1, max: 14 }), { maxLength: 3 }), K: fc.integer({ min: 1, max: 21 }), N: fc.integer({ min: 1, max: 26 }), wConst: fc.boolean(), epi: epilogue, seed }),
  (c) => {
    const b = new Build("linear", c.seed);
    const x = b.f32([...c.rows, c.K], DATA);
    const w = b.f32([c.N, c.K], DATA, c.wConst);
    const [attrs, extra] = epilogueOf(b, c.epi, c.N, [...c.rows, c.N]);
    return gemmCase(b, "linear", [x, w, ...extra], attrs, c.K);
  },
);

const matmul = cases(
  fc.record({ batch: broadcastPair(2, 4), batched: fc.boolean(), M: fc.integer({ min: 1, max: 14 }), K: fc.integer({ min: 1, max: 21 }), N: fc.integer({ min: 1, max: 26 }), bConst: fc.boolean(), epi: epilogue, seed }),
  (c) => {
    const b = new Build("matmul", c.seed);
    const [ba, bb] = c.batched ? c.batch : [[], []];
    const x = b.f32([...ba, c.M, c.K], DATA);
    const w = b.f32([...bb, c.K, c.N], DATA, c.bConst);
    const yShape = getOp("matmul").infer([b.g.values[x]!.type, b.g.values[w]!.type], {})[0]!.shape;
    const [attrs, extra] = epilogueOf(b, c.epi, c.N, yShape);
    return gemmCase(b, "matmul", [x, w, ...extra], attrs, c.K);
  },
);

/**
 * The score error (D-long dots, scaled) shifts each probability by at most about twice its size
 * relative, plus exp's ~2 ulp; the output is an Sk-long convex combination of v (test/wasm/gemm).
 */
const attention = cases(
  fc.record({ b: dim(2), h: dim(3), sq: fc.integer({ min: 1, max: 13 }), sk: fc.integer({ min: 1, max: 19 }), d: fc.integer({ min: 1, max: 17 }), dv: fc.integer({ min: 1, max: 17 }), mask: fc.integer({ min: 0, max: 6 }), seed }),
  (c) => {
    const b = new Build("attention", c.seed);
    const masks = [undefined, [c.b, c.h, c.sq, c.sk], [c.b, 1, 1, c.sk], [1, 1, c.sq, c.sk], [c.sk], [c.sq, 1], [c.h, 1, c.sk]];
    const ins = [[c.b, c.h, c.sq, c.d], [c.b, c.h, c.sk, c.d], [c.b, c.h, c.sk, c.dv]].map((s) => b.f32(s, DATA));
    const mask = masks[c.mask];
    // A mask holds -Inf (a fully masked row, too) and other specials in a case with specials.
    if (mask) ins.push(b.constant(mask, b.slab(b.sprinkle(b.uniform(mask, [-3, 3])), mask, [mask.length - 1], -Infinity)));
    const scale = 1 / Math.sqrt(c.d);
    const abs = 2 * (c.d + 2) * U2 * scale * c.d + (c.sk + 4) * U2 + 1e-6;
    return b.done(b.node("attention", ins, { scale }), { rel: 0, abs, why: "|v| <= 1: 2 (D + 2) 2^-23 scale D for the scores, (Sk + 4) 2^-23 for the weighted sum, 1e-6 for exp (test/wasm/gemm)" });
  },
);

// ---- spatial ---------------------------------------------------------------------------------------

/**
 * A maxpool / avgpool: kernel, stride, pads (at most half the kernel), dilation (maxpool),
 * ceil_mode, count_include_pad (avgpool), both layouts, on an input just large enough for one
 * window plus up to 6 more rows and columns (test/support's poolCase).
 */
function pool(op: "maxpool" | "avgpool"): fc.Arbitrary<Case> {
  return cases(
    fc.record({
      n: dim(2), c: dim(9), kh: dim(4), kw: dim(4), sh: dim(3), sw: dim(3), dh: dim(2), dw: dim(2),
      pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))), ceil: fc.option(fc.boolean()), cip: fc.option(fc.boolean()),
      eh: fc.integer({ min: 0, max: 6 }), ew: fc.integer({ min: 0, max: 6 }), layout, seed,
    }),
    (c) => {
      const b = new Build(op, c.seed);
      const pads = c.pads.map((p, i) => Math.min(p, Math.floor((i % 2 === 0 ? c.kh : c.kw) / 2)));
      const [dh, dw] = op === "avgpool" ? [1, 1] : [c.dh, c.dw];
      const h = Math.max(1, dh * (c.kh - 1) + 1 - pads[0]! - pads[2]!) + c.eh;
      const w = Math.max(1, dw * (c.kw - 1) + 1 - pads[1]! - pads[3]!) + c.ew;
      // count_include_pad rides along on maxpool too: an engine must ignore it there.
      const attrs: Attrs = { kernel: [c.kh, c.kw], stride: [c.sh, c.sw], pads, ...(c.ceil !== null ? { ceil_mode: c.ceil } : {}), ...(c.cip !== null ? { count_include_pad: c.cip } : {}), ...c.layout };
      if (op === "maxpool") attrs.dilation = [dh, dw];
      const s = c.layout.layout === "NHWC" ? [c.n, h, w, c.c] : [c.n, c.c, h, w];
      const tol = op === "maxpool" ? EXACT : { rel: 2e-6, abs: 0, why: "an f32 sum of at most 16 positive values and one division: (k + 1) 6e-8 relative (core-pool)" };
      const plane = c.layout.layout === "NHWC" ? [1, 2] : [2, 3];
      return b.done(b.node(op, [b.f32(s, op === "maxpool" ? [-3, 3] : [0.1, 3], false, plane)], attrs), tol);
    },
  );
}

const globalAvgpool = cases(fc.record({ s: fc.tuple(dim(2), dim(9), dim(7), dim(7)), layout, seed }), ({ s: [n, c, h, w], layout, seed }) => {
  const b = new Build("global_avgpool", seed);
  const nhwc = layout.layout === "NHWC";
  const x = b.f32(nhwc ? [n, h, w, c] : [n, c, h, w], [0.1, 3], false, nhwc ? [1, 2] : [2, 3]);
  return b.done(b.node("global_avgpool", [x], layout), { rel: 4e-6, abs: 0, why: "an f32 sum of at most 49 positive values and one division: (k + 1) 6e-8 relative (core-pool)" });
});

/**
 * A resize: nearest (every nearest mode, or the default) or linear, every coordinate transform,
 * by size (up, down, the same, 1x1 -> HxW as an ASPP pooling branch) or by scale factor (ONNX's
 * scales input), both layouts.
 */
const resize = cases(
  fc.record({
    // A quarter of the inputs are 1x1 (by size: the ASPP pooling branch's upsampling).
    n: dim(2), c: dim(6), h: fc.oneof(fc.constant(1), dim(7)), w: fc.oneof(fc.constant(1), dim(7)), oh: dim(12), ow: dim(12),
    scales: fc.option(fc.tuple(fc.constantFrom(0.5, 1, 1.5, 2, 3, 0.25), fc.constantFrom(0.5, 1, 1.5, 2, 3, 0.25))),
    mode: fc.constantFrom("nearest", "linear"),
    coordinate: fc.constantFrom("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nearest"),
    nearest: fc.option(fc.constantFrom("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")),
    layout, seed,
  }),
  (c) => {
    const b = new Build("resize", c.seed);
    // A scale needs an output of at least one element: the input grows to 4 where it would not.
    const [h, w] = c.scales ? [Math.max(c.h, 4), Math.max(c.w, 4)] : [c.h, c.w];
    const [oh, ow] = c.scales ? [Math.floor(h * c.scales[0]), Math.floor(w * c.scales[1])] : [c.oh, c.ow];
    const attrs: Attrs = { sizes: [c.n, c.c, oh, ow], mode: c.mode, coordinate: c.coordinate, ...c.layout };
    if (c.scales) attrs.scales = [1, 1, ...c.scales];
    if (c.nearest !== null) attrs.nearest = c.nearest;
    const x = b.f32(c.layout.layout === "NHWC" ? [c.n, h, w, c.c] : [c.n, c.c, h, w], [-3, 3]);
    const tol = c.mode === "nearest" ? EXACT : { rel: 1e-6, abs: 2e-6, why: "linear: a weighted sum of 4 values |v| <= 3 with f32 weights, ~8 roundings of 2^-24 of 3" };
    return b.done(b.node("resize", [x], attrs), tol);
  },
);

// Half the shapes are 4-D, where layouts apply (channels-last is a fused form).
const spatialShape = (minRank: number) => fc.oneof(shape(minRank, 3), shape(4, 4));

const batchnorm = cases(
  fc.record({ s: spatialShape(2), nhwc: fc.boolean(), eps: fc.constantFrom(1e-5, 1e-3, 0.1), seed }),
  ({ s, nhwc, eps, seed }) => {
    const b = new Build("batchnorm", seed);
    const layout: Attrs = s.length === 4 ? { layout: nhwc ? "NHWC" : "NCHW" } : {};
    const c = layout.layout === "NHWC" ? s[3]! : s[1]!;
    const stats = [b.f32([c], DATA, true), b.f32([c], DATA, true), b.f32([c], DATA, true), b.f32([c], [0.5, 1.5], true)];
    return b.done(b.node("batchnorm", [b.f32(s, [-3, 3]), ...stats], { eps, ...layout }), CHAIN);
  },
);

const prelu = cases(fc.record({ s: spatialShape(1), layout, one: fc.boolean(), seed }), ({ s, layout, one, seed }) => {
  const b = new Build("prelu", seed);
  // Layouts apply to 4-D activations; slopes, one or per channel, multiply in f32 as in double.
  const attrs = s.length === 4 ? layout : {};
  const c = s.length < 2 ? 1 : attrs.layout === "NHWC" ? s[3]! : s[1]!;
  return b.done(b.node("prelu", [b.f32(s, [-3, 3]), b.f32([one ? 1 : c], DATA, true)], attrs), EXACT);
});

// ---- normalisation and reductions ------------------------------------------------------------------

const layernorm = cases(fc.record({ lead: shape(0, 2), d: dim(40), eps: fc.constantFrom(1e-5, 1e-3, 0.1), seed }), ({ lead, d, eps, seed }) => {
  const b = new Build("layernorm", seed);
  const ins = [b.f32([...lead, d], [-3, 3], false, [lead.length]), b.f32([d], DATA, true), b.f32([d], DATA, true)];
  return b.done(b.node("layernorm", ins, { eps }), { rel: 1e-5, abs: 2e-6 / Math.sqrt(eps), why: "the f32 mean errs by ~|x| u sqrt(d) (|x| <= 3, d <= 40), which 1 / sqrt(var + eps) amplifies to 1.2e-6 / sqrt(eps)" });
});

const softmax = cases(
  shape(1, 4).chain((s) => fc.record({ s: fc.constant(s), axis: axisOf(s.length), seed })),
  ({ s, axis, seed }) => {
    const b = new Build("softmax", seed);
    return b.done(b.node("softmax", [b.f32(s, [-10, 10], false, [axis < 0 ? axis + s.length : axis])], { axis }), SOFTMAX);
  },
);

/** A reduction over a random non-empty set of axes (negative half the time), f32 or i32. */
function reduction(op: "reduce_mean" | "reduce_sum" | "reduce_max"): fc.Arbitrary<Case> {
  return cases(
    shape(1, 4).chain((s) =>
      fc.record({ s: fc.constant(s), axes: fc.subarray([...s.keys()], { minLength: 1 }), neg: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), keepdim: fc.option(fc.boolean()), int: fc.boolean(), seed }),
    ),
    ({ s, axes, neg, keepdim, int, seed }) => {
      const b = new Build(op, seed);
      const x = int ? b.input(s, b.ints(s, [-30, 30])) : b.f32(s, [-3, 3], false, axes);
      const attrs: Attrs = { axes: axes.map((a) => (neg[a] ? a - s.length : a)), ...(keepdim !== null ? { keepdim } : {}) };
      // Integer sums are exact; integer means truncate like the interpreter's.
      return b.done(b.node(op, [x], attrs), int || op === "reduce_max" ? EXACT : SUMS);
    },
  );
}

// ---- data movement ---------------------------------------------------------------------------------

const movementDtype = fc.constantFrom<DType>("f32", "i32", "i64");

/** Data of any dtype for exact ops: f32 in [-3, 3], integers in [-1000, 1000]. */
function anyTensor(b: Build, s: readonly number[], dtype: DType): number {
  return dtype === "f32" ? b.f32(s, [-3, 3]) : b.input(s, b.ints(s, [-1000, 1000]), dtype);
}

/** A shape with `n` elements: divisors picked by `picks`, the rest last (1s included). */
function factor(n: number, picks: readonly number[]): number[] {
  const out: number[] = [];
  let rest = n;
  for (const p of picks) {
    const divisors = Array.from({ length: rest }, (_, i) => i + 1).filter((d) => rest % d === 0);
    const d = divisors[p % divisors.length]!;
    out.push(d);
    rest /= d;
  }
  return [...out, rest];
}

/** A reshape of an input, of an intermediate, or feeding another node (x + x, exact): a view in memory. */
const reshape = cases(
  fc.record({ s: shape(0, 4), picks: fc.array(fc.nat(), { maxLength: 4 }), dtype: movementDtype, around: fc.constantFrom("alone", "of a node", "into a node"), seed }),
  ({ s, picks, dtype, around, seed }) => {
    const b = new Build("reshape", seed);
    const twice = (v: number) => b.node("add", [v, v], {})[0]!;
    const x = anyTensor(b, s, dtype);
    const [y] = b.node("reshape", [around === "of a node" ? twice(x) : x], { shape: factor(numel(s), picks) });
    return b.done([around === "into a node" ? twice(y!) : y!], EXACT);
  },
);

const transpose = cases(
  shape(1, 5, 6).chain((s) => fc.record({ s: fc.constant(s), perm: fc.shuffledSubarray([...s.keys()], { minLength: s.length, maxLength: s.length }), dtype: movementDtype, seed })),
  ({ s, perm, dtype, seed }) => {
    const b = new Build("transpose", seed);
    return b.done(b.node("transpose", [anyTensor(b, s, dtype)], { perm }), EXACT);
  },
);

const concat = cases(
  shape(1, 4, 6).chain((s) => fc.record({ s: fc.constant(s), axis: axisOf(s.length), sizes: fc.array(dim(6), { minLength: 1, maxLength: 3 }), dtype: movementDtype, seed })),
  ({ s, axis, sizes, dtype, seed }) => {
    const b = new Build("concat", seed);
    const at = axis < 0 ? axis + s.length : axis;
    return b.done(b.node("concat", sizes.map((k) => anyTensor(b, s.map((d, j) => (j === at ? k : d)), dtype)), { axis }), EXACT);
  },
);

const split = cases(
  shape(1, 4, 6).chain((s) => fc.record({ s: fc.constant(s), axis: axisOf(s.length), sizes: fc.array(dim(5), { minLength: 1, maxLength: 3 }), dtype: movementDtype, seed })),
  ({ s, axis, sizes, dtype, seed }) => {
    const b = new Build("split", seed);
    const at = axis < 0 ? axis + s.length : axis;
    const full = s.map((d, j) => (j === at ? sizes.reduce((p, q) => p + q, 0) : d));
    return b.done(b.node("split", [anyTensor(b, full, dtype)], { axis, sizes }), EXACT);
  },
);

/** Bounds in [-d - 2, d + 2] (clamped by the op), any step in [-3, 3] but 0, or none (1); the slice must take something. */
const slice = cases(
  shape(1, 4).chain((s) =>
    fc.record({
      s: fc.constant(s), axis: axisOf(s.length), bounds: fc.tuple(fc.integer({ min: -11, max: 11 }), fc.integer({ min: -11, max: 11 })),
      step: fc.option(fc.integer({ min: -3, max: 3 }).filter((k) => k !== 0)), dtype: movementDtype, seed,
    }),
  ).filter(({ s, axis, bounds: [start, end], step }) => sliceRange(s.at(axis)!, start, end, step ?? 1).count > 0),
  ({ s, axis, bounds: [start, end], step, dtype, seed }) => {
    const b = new Build("slice", seed);
    return b.done(b.node("slice", [anyTensor(b, s, dtype)], { axis, start, end, ...(step !== null ? { step } : {}) }), EXACT);
  },
);

/** Ids over any axis, negative ones half the time (unless negative_ids is "error"); the table a constant or an input of any dtype. */
const gather = cases(
  shape(1, 3, 6).chain((s) =>
    fc.record({ s: fc.constant(s), axis: fc.option(axisOf(s.length)), ids: shape(0, 2, 4), strict: fc.option(fc.constantFrom("wrap", "error")), table: fc.constantFrom<"const" | DType>("const", "f32", "i32", "i64"), idType: fc.constantFrom<DType>("i32", "i64"), seed }),
  ),
  ({ s, axis, ids, strict, table, idType, seed }) => {
    const b = new Build("gather", seed);
    const d = s.at(axis ?? 0)!;
    const x = table === "const" ? b.f32(s, [-3, 3], true) : anyTensor(b, s, table);
    const attrs: Attrs = { ...(axis !== null ? { axis } : {}), ...(strict !== null ? { negative_ids: strict } : {}) };
    return b.done(b.node("gather", [x, b.input(ids, b.ints(ids, [strict === "error" ? 0 : -d, d - 1]), idType)], attrs), EXACT);
  },
);

/**
 * Per axis, pads in [-2, 3] (cropping at most all but one element; reflect's below what is kept),
 * every mode, the value left out or set (integral for integer tensors).
 */
const pad = cases(
  shape(1, 4, 6).chain((s) =>
    fc.record({
      s: fc.constant(s), raw: fc.array(fc.integer({ min: -2, max: 3 }), { minLength: 2 * s.length, maxLength: 2 * s.length }),
      mode: fc.option(fc.constantFrom(...PAD_MODES)), value: fc.option(fc.constantFrom(-2, 1.5, 7)), dtype: movementDtype, seed,
    }),
  ),
  ({ s, raw, mode, value, dtype, seed }) => {
    const b = new Build("pad", seed);
    const r = s.length;
    const pads = [...raw];
    s.forEach((d, k) => {
      pads[k] = Math.max(pads[k]!, 1 - d);
      pads[k + r] = Math.max(pads[k + r]!, 1 - d + Math.max(0, -pads[k]!));
      if (mode === "reflect") {
        const kept = d - Math.max(0, -pads[k]!) - Math.max(0, -pads[k + r]!);
        pads[k] = Math.min(pads[k]!, kept - 1);
        pads[k + r] = Math.min(pads[k + r]!, kept - 1);
      }
    });
    const v: Attrs = value === null ? {} : { value: dtype === "f32" ? value : Math.trunc(value) };
    return b.done(b.node("pad", [anyTensor(b, s, dtype)], { pads, ...(mode !== null ? { mode } : {}), ...v }), EXACT);
  },
);

/** Both directions of ONNX's broadcast: x and the shape are suffixes of one base shape with some dims 1. */
const expand = cases(fc.record({ pair: broadcastPair(4, 6), dtype: movementDtype, seed }), ({ pair: [sx, shape], dtype, seed }) => {
  const b = new Build("expand", seed);
  return b.done(b.node("expand", [anyTensor(b, sx, dtype)], { shape }), EXACT);
});

const tile = cases(
  shape(1, 4, 5).chain((s) => fc.record({ s: fc.constant(s), repeats: fc.array(dim(3), { minLength: s.length, maxLength: s.length }), dtype: movementDtype, seed })),
  ({ s, repeats, dtype, seed }) => {
    const b = new Build("tile", seed);
    return b.done(b.node("tile", [anyTensor(b, s, dtype)], { repeats }), EXACT);
  },
);

const castTypes = fc.constantFrom<[DType, DType]>(["f32", "i32"], ["f32", "i64"], ["i32", "f32"], ["i64", "f32"], ["i32", "i64"], ["i64", "i32"], ["f32", "f32"]);
const cast = cases(fc.record({ s: shape(1, 4), types: castTypes, seed }), ({ s, types: [from, to], seed }) => {
  const b = new Build("cast", seed);
  // Floats truncate toward zero; the range keeps every value representable in each type.
  const x = from === "f32" ? b.f32(s, [-20, 20]) : b.input(s, b.ints(s, [-1000, 1000]), from);
  return b.done(b.node("cast", [x], { to }), EXACT);
});

// ---- fused elementwise programs ----------------------------------------------------------------

const programUnary = fc.constantFrom<[string, Attrs]>(
  ["relu", {}], ["sigmoid", {}], ["tanh", {}], ["neg", {}], ["abs", {}], ["relu6", {}], ["hard_sigmoid", { alpha: 1 / 6, beta: 0.5 }], ["hard_sigmoid", { alpha: 0.2, beta: 0.5 }], ["hard_swish", {}], ["silu", {}], ["erf", {}],
  ["gelu", { approximate: "none" }], ["gelu", { approximate: "tanh" }], ["leaky_relu", { slope: 0.2 }], ["elu", { alpha: 0.7 }], ["clip", { min: -1, max: 1 }],
);

/**
 * A fused_elementwise program over 1..3 broadcasting inputs in [-1, 1] and perhaps a scalar
 * constant (which kernels specialise, as in x * 0.5): the first steps read every input in turn,
 * each later one the previous register and, if binary, any other.
 */
const fusedElementwise = cases(
  fc.record({
    shapes: broadcastPair(3, 9).chain(([a, c]) => fc.constantFrom([a], [a, c], [a, c, c.slice(-1)])),
    scalar: fc.option(fc.constantFrom<number[]>([], [1])),
    steps: fc.array(fc.oneof(programUnary.map(([op, attrs]) => ({ op, attrs, binary: false })), fc.constantFrom("add", "sub", "mul", "maximum", "minimum").map((op) => ({ op, attrs: {}, binary: true }))), { minLength: 1, maxLength: 4 }),
    picks: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    seed,
  }),
  ({ shapes, scalar, steps, picks, seed }) => {
    const b = new Build("fused_elementwise", seed);
    const ins = shapes.map((s) => b.f32(s, DATA));
    if (scalar) ins.push(b.f32(scalar, [-2, 2], true));
    const n = ins.length;
    const program: FusedStep[] = [n === 1 ? { op: "tanh", args: [0] } : { op: "mul", args: [0, 1] }];
    for (let i = 2; i < n; i++) program.push({ op: "add", args: [n + program.length - 1, i] });
    steps.forEach((st, k) => {
      const last = n + program.length - 1;
      program.push({ op: st.op, args: st.binary ? [last, picks[k]! % (last + 1)] : [last], ...(Object.keys(st.attrs).length ? { attrs: st.attrs } : {}) });
    });
    return b.done(b.node("fused_elementwise", ins, { program }), CHAIN);
  },
);

// ---- the table -------------------------------------------------------------------------------------

export const opCases: OpTable<fc.Arbitrary<Case>> = {
  relu: unary("relu"), relu6: unary("relu6"), sigmoid: unary("sigmoid"), tanh: unary("tanh"), selu: unary("selu"), silu: unary("silu"),
  hard_sigmoid: unary("hard_sigmoid"), hard_swish: unary("hard_swish"), exp: unary("exp"), log: unary("log"), sqrt: unary("sqrt"), erf: unary("erf"),
  neg: unary("neg"), abs: unary("abs"), clip: unary("clip"), leaky_relu: unary("leaky_relu"), elu: unary("elu"), gelu: unary("gelu"),
  add: binary("add"), sub: binary("sub"), mul: binary("mul"), div: binary("div"), pow: binary("pow"), maximum: binary("maximum"), minimum: binary("minimum"),
  prelu, cast,
  less: comparison("less"), less_equal: comparison("less_equal"), greater: comparison("greater"), greater_equal: comparison("greater_equal"),
  equal: comparison("equal"), not_equal: comparison("not_equal"), where, logical_not: logicalNot, random_uniform: randomUniform,
  conv2d, conv_transpose2d: convTranspose2d, maxpool: pool("maxpool"), avgpool: pool("avgpool"), global_avgpool: globalAvgpool, resize, batchnorm, layernorm, linear, matmul, softmax,
  reduce_mean: reduction("reduce_mean"), reduce_sum: reduction("reduce_sum"), reduce_max: reduction("reduce_max"),
  reshape, transpose, concat, split, slice, gather, pad, expand, tile, fused_elementwise: fusedElementwise, dropout, attention,
};
