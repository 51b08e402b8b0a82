// One vector-Jacobian product per core op, typed against the registry: `tsc` names an op
// without an entry. A rule gets the forward node's inputs and outputs and the gradients of its
// outputs, and returns the gradients of the inputs it is asked for (`needs`), built from core ops.
// Non-smooth points follow PyTorch's backward formulas (relu'(0) = 0, clamp's bounds inclusive,
// maximum/minimum split ties evenly, reduce_max shares the gradient among ties, maxpool gives it
// to the first maximum of a window, sqrt'(0) is the norm's 0).
import { GELU_TANH_CUBIC, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI } from "../base/math.js";
import { numel } from "../ir/graph.js";
import { type AttrsOf, type BinaryOp, binaryOps, type OpName, type UnaryOp, type UnaryAttrs, unaryOps, unsupported, type Unsupported } from "../ir/ops.js";
import { resizeTables, type AxisTaps } from "../ir/resize.js";
import { normAxis, padAxes, padSource, sliceRange, type PadMode } from "../ir/shape.js";
import type { Emit } from "./emit.js";

/** A graph gradients() cannot differentiate (a node left in a fused form, an op without a rule). */
export class NotDifferentiable extends Error {}

export interface GradArgs<N extends OpName> {
  e: Emit;
  /** The forward node's inputs and outputs (value ids). */
  x: number[];
  y: number[];
  attrs: AttrsOf<N>;
  /** The gradient of each output, undefined for an output the loss does not read. */
  dy: (number | undefined)[];
  /** Which inputs need a gradient. */
  needs: boolean[];
}

export type GradRule<N extends OpName> = (a: GradArgs<N>) => (number | undefined)[];

/** An op whose result is not differentiable (a bool): no input gets a gradient. */
const noGradient = ({ x }: { x: number[] }) => x.map(() => undefined);

/** Fused-tier ops are differentiated through their registry decompositions. */
export const DECOMPOSED = unsupported("differentiated through its decomposition into core ops");

// ---- unary ops: dx = dy * f'(x) --------------------------------------------------------------

type Derivative<N extends UnaryOp> = (e: Emit, x: number, y: number, a: UnaryAttrs<N>) => number;

const derivatives: { readonly [N in UnaryOp]: Derivative<N> } = {
  relu: (e, x) => e.positive(x),
  // PyTorch's hardtanh backward: the bounds themselves get no gradient.
  relu6: (e, x) => e.mul(e.positive(x), e.positive(e.sub(e.c(6), x))),
  sigmoid: (e, _x, y) => e.mul(y, e.oneMinus(y)),
  tanh: (e, _x, y) => e.oneMinus(e.mul(y, y)),
  selu: (e, x) => eluDerivative(e, x, SELU_ALPHA * SELU_SCALE, SELU_SCALE),
  silu: (e, x) => {
    const s = e.un("sigmoid", x);
    return e.mul(s, e.add(e.c(1), e.mul(x, e.oneMinus(s))));
  },
  // alpha inside the open interval 0 < alpha x + beta < 1, as PyTorch's (the bounds get none).
  hard_sigmoid: (e, x, _y, a) => {
    const u = e.add(e.mul(x, e.c(a.alpha)), e.c(a.beta));
    return e.mul(e.c(a.alpha), e.mul(e.positive(u), e.positive(e.oneMinus(u))));
  },
  // PyTorch: 0 below -3, x / 3 + 1/2 on [-3, 3], 1 above.
  hard_swish: (e, x) => {
    const inside = e.mul(e.oneMinus(e.positive(e.sub(e.c(-3), x))), e.oneMinus(e.positive(e.sub(x, e.c(3)))));
    return e.add(e.mul(inside, e.add(e.mul(x, e.c(1 / 3)), e.c(0.5))), e.positive(e.sub(x, e.c(3))));
  },
  exp: (_e, _x, y) => y,
  log: (e, x) => e.div(e.c(1), x),
  // 1 / (2 sqrt x), taken as 0 at 0 where it is infinite: sqrt(sum(d * d)) is a norm, and 0 is
  // its subgradient there (PyTorch's norm backward), so a distance of identical embeddings gives 0, not NaN.
  sqrt: (e, _x, y) => {
    const zero = e.isZero(y);
    return e.mul(e.oneMinus(zero), e.div(e.c(0.5), e.add(y, zero)));
  },
  erf: (e, x) => e.mul(e.c(2 / Math.sqrt(Math.PI)), e.un("exp", e.neg(e.mul(x, x)))),
  neg: (e) => e.c(-1),
  // sign(x), 0 at 0.
  abs: (e, x) => e.sub(e.positive(x), e.positive(e.neg(x))),
  // PyTorch's clamp backward: the bounds themselves pass the gradient.
  clip: (e, x, _y, a) => e.mul(e.oneMinus(e.positive(e.sub(e.c(a.min), x))), e.oneMinus(e.positive(e.sub(x, e.c(a.max))))),
  leaky_relu: (e, x, _y, a) => {
    const slope = a.slope ?? 0.01;
    return e.add(e.c(slope), e.mul(e.c(1 - slope), e.positive(x)));
  },
  elu: (e, x, _y, a) => eluDerivative(e, x, a.alpha ?? 1, 1),
  gelu: (e, x, _y, a) => {
    if (a.approximate === "tanh") {
      // PyTorch's GeluBackward with approximate="tanh".
      const x2 = e.mul(x, x);
      const t = e.un("tanh", e.mul(e.c(SQRT_2_OVER_PI), e.add(x, e.mul(e.c(GELU_TANH_CUBIC), e.mul(x2, x)))));
      const left = e.mul(e.c(0.5), e.add(e.c(1), t));
      const inner = e.mul(e.c(SQRT_2_OVER_PI), e.add(e.c(1), e.mul(e.c(3 * GELU_TANH_CUBIC), x2)));
      return e.add(left, e.mul(e.mul(e.mul(e.c(0.5), x), e.oneMinus(e.mul(t, t))), inner));
    }
    const cdf = e.mul(e.c(0.5), e.add(e.c(1), e.un("erf", e.mul(x, e.c(Math.SQRT1_2)))));
    const pdf = e.mul(e.c(1 / Math.sqrt(2 * Math.PI)), e.un("exp", e.mul(e.c(-0.5), e.mul(x, x))));
    return e.add(cdf, e.mul(x, pdf));
  },
};

/** scale above 0, negScale * exp(x) at and below it (PyTorch's elu_backward on the input). */
function eluDerivative(e: Emit, x: number, negScale: number, scale: number): number {
  const p = e.positive(x);
  return e.add(e.mul(p, e.c(scale)), e.mul(e.oneMinus(p), e.mul(e.c(negScale), e.un("exp", x))));
}

function unaryRule<N extends UnaryOp>(op: N): GradRule<N> {
  return ({ e, x, y, attrs, dy }) => [e.mul(dy[0]!, derivatives[op](e, x[0]!, y[0]!, attrs as UnaryAttrs<N>))];
}

// ---- binary ops: broadcast operands get their gradients summed back ------------------------------

type Partials = (e: Emit, a: number, b: number, y: number, dy: number, needs: boolean[]) => [number | undefined, number | undefined];

const partials: { readonly [N in BinaryOp]: Partials } = {
  add: (_e, _a, _b, _y, dy) => [dy, dy],
  sub: (e, _a, _b, _y, dy, needs) => [dy, needs[1] ? e.neg(dy) : undefined],
  mul: (e, a, b, _y, dy, needs) => [needs[0] ? e.mul(dy, b) : undefined, needs[1] ? e.mul(dy, a) : undefined],
  div: (e, _a, b, y, dy, needs) => [needs[0] ? e.div(dy, b) : undefined, needs[1] ? e.neg(e.div(e.mul(dy, y), b)) : undefined],
  // d/db a^b = a^b log a, taken as 0 where a is 0 (PyTorch's pow backward).
  pow: (e, a, b, y, dy, needs) => [
    needs[0] ? e.mul(dy, e.mul(b, e.node("pow", [a, e.sub(b, e.c(1))]))) : undefined,
    needs[1] ? e.mul(dy, e.mul(y, e.un("log", e.add(a, e.isZero(a))))) : undefined,
  ],
  maximum: (e, a, b, _y, dy) => tieSplit(e, dy, e.sub(a, b)),
  minimum: (e, a, b, _y, dy) => tieSplit(e, dy, e.sub(b, a)),
};

/** maximum's / minimum's gradients: all to the winner (`lead` > 0: the left operand), half each on a tie. */
function tieSplit(e: Emit, dy: number, lead: number): [number, number] {
  const left = e.mul(e.c(0.5), e.add(e.c(1), e.sub(e.positive(lead), e.positive(e.neg(lead)))));
  return [e.mul(dy, left), e.mul(dy, e.oneMinus(left))];
}

function binaryRule(op: BinaryOp): GradRule<BinaryOp> {
  return ({ e, x: [a, b], y: [y], dy: [dy], needs }) => {
    const [da, db] = partials[op](e, a!, b!, y!, dy!, needs);
    return [needs[0] && da !== undefined ? e.sumTo(da, e.shape(a!)) : undefined, needs[1] && db !== undefined ? e.sumTo(db, e.shape(b!)) : undefined];
  };
}

// ---- shared pieces ------------------------------------------------------------------------------

/** The shape of a reduction's input with the reduced axes kept as 1s. */
function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  const reduced = axes.map((a) => normAxis(a, shape.length));
  return shape.map((d, i) => (reduced.includes(i) ? 1 : d));
}

/** The last two axes of a rank-r tensor swapped. */
const swapLast = (r: number) => [...Array(r - 2).keys(), r - 1, r - 2];

/**
 * conv2d's input gradient: the transposed convolution of the output gradient with the same
 * kernel, its output_padding restoring the rows and columns the stride left over.
 */
function convInputGrad(e: Emit, dy: number, w: number, xShape: readonly number[], a: AttrsOf<"conv2d">): number {
  const [, , kh, kw] = e.shape(w) as [number, number, number, number];
  const left = (i: number, size: number, k: number) => (size + a.pads[i]! + a.pads[i + 2]! - a.dilation[i]! * (k - 1) - 1) % a.stride[i]!;
  const output_padding = [left(0, xShape[2]!, kh), left(1, xShape[3]!, kw)];
  return e.node("conv_transpose2d", [dy, w], { stride: [...a.stride], pads: [...a.pads], dilation: [...a.dilation], output_padding, groups: a.groups });
}

/**
 * conv2d's weight gradient: a convolution of the input (batch and channels swapped, per group)
 * with the output gradient as the kernel, stride and dilation exchanged, cropped to the kernel.
 */
function convWeightGrad(e: Emit, x: number, dy: number, wShape: readonly number[], a: Pick<AttrsOf<"conv2d">, "stride" | "pads" | "dilation" | "groups">): number {
  const [n, c, h, wd] = e.shape(x) as [number, number, number, number];
  const [k, cg, kh, kw] = wShape as [number, number, number, number];
  const [, , oh, ow] = e.shape(dy) as [number, number, number, number];
  const g = a.groups;
  const xs = e.reshape(e.transpose(e.reshape(x, [n, g, c / g, h, wd]), [2, 1, 0, 3, 4]), [cg, g * n, h, wd]);
  const dys = e.reshape(e.transpose(e.reshape(dy, [n, g, k / g, oh, ow]), [1, 2, 0, 3, 4]), [k, n, oh, ow]);
  let gw = e.node("conv2d", [xs, dys], { stride: [...a.dilation], pads: [...a.pads], dilation: [...a.stride], groups: g });
  const [, , gh, gwd] = e.shape(gw) as [number, number, number, number];
  if (gh > kh) gw = e.node("slice", [gw], { axis: 2, start: 0, end: kh });
  if (gwd > kw) gw = e.node("slice", [gw], { axis: 3, start: 0, end: kw });
  return e.transpose(gw, [1, 0, 2, 3]);
}

/** The avgpool divisor of each output position (the interpreter's rule), as a [1, 1, OH, OW] constant. */
function avgpoolDivisors(e: Emit, xShape: readonly number[], yShape: readonly number[], a: AttrsOf<"avgpool">): number {
  const [, , h, w] = xShape as [number, number, number, number];
  const [, , oh, ow] = yShape as [number, number, number, number];
  const [kh, kw] = a.kernel as [number, number];
  const [sh, sw] = a.stride as [number, number];
  const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
  const inv = new Float32Array(oh * ow);
  for (let oy = 0; oy < oh; oy++)
    for (let ox = 0; ox < ow; ox++) {
      const [y0, x0] = [oy * sh - pt, ox * sw - pl];
      const count = a.count_include_pad === true
        ? (Math.min(y0 + kh, h + pb) - y0) * (Math.min(x0 + kw, w + pr) - x0)
        : (Math.min(y0 + kh, h) - Math.max(y0, 0)) * (Math.min(x0 + kw, w) - Math.max(x0, 0));
      inv[oy * ow + ox] = 1 / count;
    }
  return e.constant([1, 1, oh, ow], inv);
}

/** sum over o of g[..., o, ...] m[o, i] along `axis`: g with that axis mapped through m [out, in]. */
function alongAxis(e: Emit, g: number, axis: number, m: number): number {
  const shape = e.shape(g);
  const last = shape.length - 1;
  const perm = shape.map((_, i) => (i === axis ? last : i === last ? axis : i));
  const moved = e.transpose(g, perm);
  const rows = shape.length === 1 ? e.reshape(moved, [1, shape[0]!]) : moved;
  const mapped = e.node("matmul", [rows, m]);
  return e.transpose(shape.length === 1 ? e.reshape(mapped, [e.shape(m)[1]!]) : mapped, perm);
}

/** An axis' resize taps as the dense [out, in] matrix (or its transpose [in, out]): (1 - w1) at i0, w1 at i1. */
function tapMatrix(t: AxisTaps, out: number, size: number, transposed: boolean): Float32Array {
  const m = new Float64Array(out * size);
  const at = (o: number, i: number) => (transposed ? i * out + o : o * size + i);
  for (let o = 0; o < out; o++) {
    m[at(o, t.i0[o]!)]! += 1 - t.w1[o]!;
    m[at(o, t.i1[o]!)]! += t.w1[o]!;
  }
  return Float32Array.from(m);
}

/** The gradient of a strided pick along `axis` (`count` elements from `first`, `step` apart) placed back into a `dim`-long axis. */
function placeStrided(e: Emit, g: number, axis: number, dim: number, first: number, count: number, step: number): number {
  const [from, forward] = step > 0 ? [first, g] : [first + (count - 1) * step, e.flip(g, axis)];
  const stride = Math.abs(step);
  return e.padAxes(e.dilate(forward, axis, stride), [axis], [from], [dim - from - ((count - 1) * stride + 1)]);
}

// ---- the table ----------------------------------------------------------------------------------

export const gradRules: { readonly [N in OpName]: GradRule<N> | Unsupported } = {
  ...(Object.fromEntries(unaryOps.map((op) => [op, unaryRule(op)])) as { [N in UnaryOp]: GradRule<N> }),
  ...(Object.fromEntries(binaryOps.map((op) => [op, binaryRule(op)])) as { [N in BinaryOp]: GradRule<N> }),

  prelu: ({ e, x: [x, slope], dy: [dy], needs }) => {
    const rank = e.shape(x!).length;
    const perChannel = numel(e.shape(slope!)) > 1;
    const s = perChannel ? e.alongAxis(slope!, 1, rank) : e.reshape(slope!, []);
    const p = e.positive(x!);
    const negative = e.oneMinus(p);
    const dx = needs[0] ? e.mul(dy!, e.add(p, e.mul(negative, s))) : undefined;
    const contrib = needs[1] ? e.mul(dy!, e.mul(x!, negative)) : undefined;
    const dslope = contrib === undefined ? undefined : e.reshape(perChannel ? e.sumExcept(contrib, 1) : e.node("reduce_sum", [contrib], { axes: [...Array(rank).keys()] }), e.shape(slope!));
    return [dx, dslope];
  },

  // Comparisons give bools: no gradient flows through them. where routes dy to the branch it chose.
  less: noGradient, less_equal: noGradient, greater: noGradient, greater_equal: noGradient, equal: noGradient, not_equal: noGradient, logical_not: noGradient,
  // Random draws depend on the step counter only: no gradient.
  random_uniform: noGradient,
  where: ({ e, x: [c, a, b], dy: [dy], needs }) => {
    const zero = e.c(0);
    return [undefined, needs[1] ? e.sumTo(e.node("where", [c!, dy!, zero]), e.shape(a!)) : undefined, needs[2] ? e.sumTo(e.node("where", [c!, zero, dy!]), e.shape(b!)) : undefined];
  },

  // Casts between floats pass the gradient; integers carry none.
  cast: ({ e, x: [x], attrs, dy: [dy] }) => [e.type(x!).dtype === "f32" && attrs.to === "f32" ? dy : undefined],

  conv2d: ({ e, x: [x, w, bias], attrs, dy: [dy], needs }) => {
    return [
      needs[0] ? convInputGrad(e, dy!, w!, e.shape(x!), attrs) : undefined,
      needs[1] ? convWeightGrad(e, x!, dy!, e.shape(w!), attrs) : undefined,
      bias !== undefined && needs[2] ? e.node("reduce_sum", [dy!], { axes: [0, 2, 3] }) : undefined,
    ];
  },

  // The gradient goes to the first maximum of each window in row-major order, as PyTorch's.
  // The adjoint of conv2d with the same kernel: its input gradient is that conv2d of the output
  // gradient, its weight gradient conv2d's with the roles of input and output gradient exchanged.
  conv_transpose2d: ({ e, x: [x, w, bias], attrs, dy: [dy], needs }) => {
    const { stride, pads, dilation, groups } = attrs;
    // An output_padding of a stride or more (below the dilation) adds rows no input reaches:
    // conv2d then reads positions past the input, which are cropped.
    const crop = (v: number) => {
      const [, , h, wd] = e.shape(x!);
      const [, , ch, cw] = e.shape(v);
      const rows = ch! > h! ? e.node("slice", [v], { axis: 2, start: 0, end: h! }) : v;
      return cw! > wd! ? e.node("slice", [rows], { axis: 3, start: 0, end: wd! }) : rows;
    };
    return [
      needs[0] ? crop(e.node("conv2d", [dy!, w!], { stride: [...stride], pads: [...pads], dilation: [...dilation], groups })) : undefined,
      needs[1] ? convWeightGrad(e, dy!, x!, e.shape(w!), attrs) : undefined,
      bias !== undefined && needs[2] ? e.node("reduce_sum", [dy!], { axes: [0, 2, 3] }) : undefined,
    ];
  },

  maxpool: ({ e, x: [x], y: [y], attrs, dy: [dy] }) => {
    const win = e.windows(x!, e.shape(y!), attrs, -Infinity);
    let taken: number | undefined;
    let sum: number | undefined;
    for (const tap of win.taps) {
      const hit = e.isZero(e.sub(y!, win.view(tap)));
      const first = taken === undefined ? hit : e.mul(hit, e.oneMinus(taken));
      taken = taken === undefined ? first : e.add(taken, first);
      const placed = win.place(e.mul(first, dy!), tap);
      sum = sum === undefined ? placed : e.add(sum, placed);
    }
    return [win.crop(sum!)];
  },

  avgpool: ({ e, x: [x], y: [y], attrs, dy: [dy] }) => {
    const win = e.windows(x!, e.shape(y!), attrs, 0);
    const share = e.mul(dy!, avgpoolDivisors(e, e.shape(x!), e.shape(y!), attrs));
    const sum = win.taps.map((tap) => win.place(share, tap)).reduce((s, p) => e.add(s, p));
    return [win.crop(sum)];
  },

  global_avgpool: ({ e, x: [x], dy: [dy] }) => {
    const [, , h, w] = e.shape(x!) as [number, number, number, number];
    return [e.expandTo(e.mul(dy!, e.c(1 / (h * w))), e.shape(x!))];
  },

  // Resizing H and W is Rh X Rw^T per plane for the tap matrices R [out, in]: the gradient is Rh^T dY Rw.
  resize: ({ e, x: [x], y: [y], attrs, dy: [dy] }) => {
    const [, , h, w] = e.shape(x!) as [number, number, number, number];
    const [, , oh, ow] = e.shape(y!) as [number, number, number, number];
    const [th, tw] = resizeTables(e.shape(x!), e.shape(y!), attrs.scales, attrs);
    const rows = e.constant([h, oh], tapMatrix(th, oh, h, true));
    const cols = e.constant([ow, w], tapMatrix(tw, ow, w, false));
    return [e.node("matmul", [e.node("matmul", [rows, dy!]), cols])];
  },

  // Inference form: the statistics are inputs (the training graph rewrites batchnorm in training
  // mode into core ops on the batch statistics before differentiating).
  batchnorm: ({ e, x: [x, gamma, , mean, variance], attrs, dy: [dy], needs }) => {
    const rank = e.shape(x!).length;
    const bc = (v: number) => e.alongAxis(v, 1, rank);
    const inv = e.div(e.c(1), e.un("sqrt", e.add(variance!, e.c(attrs.eps))));
    const centred = e.sub(x!, bc(mean!));
    const dySum = e.sumExcept(dy!, 1);
    return [
      needs[0] ? e.mul(dy!, bc(e.mul(gamma!, inv))) : undefined,
      needs[1] ? e.mul(e.sumExcept(e.mul(dy!, centred), 1), inv) : undefined,
      needs[2] ? dySum : undefined,
      needs[3] ? e.neg(e.mul(dySum, e.mul(gamma!, inv))) : undefined,
      needs[4] ? e.mul(e.sumExcept(e.mul(dy!, centred), 1), e.mul(gamma!, e.mul(e.c(-0.5), e.mul(inv, e.mul(inv, inv))))) : undefined,
    ];
  },

  layernorm: ({ e, x: [x, gamma], attrs, dy: [dy], needs }) => {
    const shape = e.shape(x!);
    const last = shape.length - 1;
    const mean = e.node("reduce_mean", [x!], { axes: [last], keepdim: true });
    const centred = e.sub(x!, mean);
    const inv = e.div(e.c(1), e.un("sqrt", e.add(e.node("reduce_mean", [e.mul(centred, centred)], { axes: [last], keepdim: true }), e.c(attrs.eps))));
    const xhat = e.mul(centred, inv);
    const rows = [...Array(last).keys()];
    const overRows = (v: number) => (rows.length ? e.node("reduce_sum", [v], { axes: rows }) : v);
    let dx: number | undefined;
    if (needs[0]) {
      const dxhat = e.mul(dy!, gamma!);
      const meanOf = (v: number) => e.node("reduce_mean", [v], { axes: [last], keepdim: true });
      dx = e.mul(inv, e.sub(e.sub(dxhat, meanOf(dxhat)), e.mul(xhat, meanOf(e.mul(dxhat, xhat)))));
    }
    return [dx, needs[1] ? overRows(e.mul(dy!, xhat)) : undefined, needs[2] ? overRows(dy!) : undefined];
  },

  linear: ({ e, x: [x, w, bias], dy: [dy], needs }) => {
    const xs = e.shape(x!);
    const [out, inF] = e.shape(w!) as [number, number];
    const rows = numel(xs) / inF;
    const dy2 = e.reshape(dy!, [rows, out]);
    return [
      needs[0] ? e.reshape(e.node("matmul", [dy2, w!]), xs) : undefined,
      needs[1] ? e.node("matmul", [e.transpose(dy2, [1, 0]), e.reshape(x!, [rows, inF])]) : undefined,
      bias !== undefined && needs[2] ? e.node("reduce_sum", [dy2], { axes: [0] }) : undefined,
    ];
  },

  matmul: ({ e, x: [a, b], dy: [dy], needs }) => {
    const [as, bs] = [e.shape(a!), e.shape(b!)];
    return [
      needs[0] ? e.sumTo(e.node("matmul", [dy!, e.transpose(b!, swapLast(bs.length))]), as) : undefined,
      needs[1] ? e.sumTo(e.node("matmul", [e.transpose(a!, swapLast(as.length)), dy!]), bs) : undefined,
    ];
  },

  softmax: ({ e, y: [y], attrs, dy: [dy] }) => {
    const inner = e.node("reduce_sum", [e.mul(dy!, y!)], { axes: [attrs.axis], keepdim: true });
    return [e.mul(y!, e.sub(dy!, inner))];
  },

  reduce_sum: ({ e, x: [x], attrs, dy: [dy] }) => [e.expandTo(e.reshape(dy!, keptShape(e.shape(x!), attrs.axes)), e.shape(x!))],

  reduce_mean: ({ e, x: [x], y: [y], attrs, dy: [dy] }) => {
    const share = e.mul(dy!, e.c(numel(e.shape(y!)) / numel(e.shape(x!))));
    return [e.expandTo(e.reshape(share, keptShape(e.shape(x!), attrs.axes)), e.shape(x!))];
  },

  // Ties share the gradient evenly (PyTorch's amax).
  reduce_max: ({ e, x: [x], y: [y], attrs, dy: [dy] }) => {
    const kept = keptShape(e.shape(x!), attrs.axes);
    const hit = e.isZero(e.sub(e.reshape(y!, kept), x!));
    const ties = e.node("reduce_sum", [hit], { axes: [...attrs.axes], keepdim: true });
    return [e.mul(hit, e.div(e.reshape(dy!, kept), ties))];
  },

  reshape: ({ e, x: [x], dy: [dy] }) => [e.reshape(dy!, e.shape(x!))],

  transpose: ({ e, attrs, dy: [dy] }) => [e.transpose(dy!, attrs.perm.map((_, i) => attrs.perm.indexOf(i)))],

  concat: ({ e, x, attrs, dy: [dy], needs }) => {
    const axis = normAxis(attrs.axis, e.shape(dy!).length);
    let at = 0;
    return x.map((xi, i) => {
      const d = e.shape(xi)[axis]!;
      at += d;
      return needs[i] ? e.node("slice", [dy!], { axis, start: at - d, end: at }) : undefined;
    });
  },

  split: ({ e, y, attrs, dy }) => [e.node("concat", y.map((yi, i) => dy[i] ?? e.zeros(e.shape(yi))), { axis: attrs.axis })],

  slice: ({ e, x: [x], attrs, dy: [dy] }) => {
    const axis = normAxis(attrs.axis, e.shape(x!).length);
    const dim = e.shape(x!)[axis]!;
    const step = attrs.step ?? 1;
    const { first, count } = sliceRange(dim, attrs.start, attrs.end, step);
    return [placeStrided(e, dy!, axis, dim, first, count, step)];
  },

  // A one-hot [d, ids] matrix times the output gradient: rows picked twice get both shares.
  gather: ({ e, x: [x, ids], attrs, dy: [dy], needs }) => {
    const xs = e.shape(x!);
    const axis = normAxis(attrs.axis ?? 0, xs.length);
    const d = xs[axis]!;
    const m = numel(e.shape(ids!));
    const outer = numel(xs.slice(0, axis));
    const inner = numel(xs.slice(axis + 1));
    const id = e.node("cast", [e.reshape(ids!, [m, 1])], { to: "f32" });
    const wrapped = e.add(id, e.mul(e.c(d), e.positive(e.neg(id))));
    const rows = e.constant([1, d], Float32Array.from({ length: d }, (_, i) => i));
    // Ids and row numbers are integers (exact in f32 below 2^24).
    const oneHot = e.isZeroInteger(e.sub(wrapped, rows));
    const dx = e.node("matmul", [e.transpose(oneHot, [1, 0]), e.reshape(dy!, [outer, m, inner])]);
    return [needs[0] ? e.reshape(dx, xs) : undefined, undefined];
  },

  // A constant pad's gradient crops what it added (and pads what it cropped); a reflect or
  // replicate pad reads some elements twice: along each padded axis, the transpose of its
  // [out, in] selection matrix sums them.
  pad: ({ e, x: [x], attrs, dy: [dy] }) => {
    const mode = (attrs.mode ?? "constant") as PadMode;
    if (mode === "constant") return [e.node("pad", [dy!], { pads: attrs.pads.map((p) => -p) })];
    const rank = e.shape(x!).length;
    return [padAxes(e.shape(x!), attrs.pads, mode).reduce((g, p, axis) => {
      if (attrs.pads[axis] === 0 && attrs.pads[axis + rank] === 0) return g;
      const out = p.before + p.kept + p.after;
      const select = new Float32Array(out * e.shape(x!)[axis]!);
      for (let o = 0; o < out; o++) select[o * e.shape(x!)[axis]! + padSource(p, o, mode)]! += 1;
      return alongAxis(e, g, axis, e.constant([out, e.shape(x!)[axis]!], select));
    }, dy!)];
  },

  expand: ({ e, x: [x], dy: [dy] }) => [e.sumTo(dy!, e.shape(x!))],

  tile: ({ e, x: [x], attrs, dy: [dy] }) => {
    const xs = e.shape(x!);
    const split = e.reshape(dy!, xs.flatMap((d, i) => [attrs.repeats[i]!, d]));
    return [e.reshape(e.node("reduce_sum", [split], { axes: xs.map((_, i) => 2 * i) }), xs)];
  },

  fused_elementwise: DECOMPOSED,
  dropout: DECOMPOSED,
  attention: DECOMPOSED,
};
