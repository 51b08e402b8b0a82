// Elementwise math on `Lanes`: polynomial exp / expm1 / log / erf and every unary and binary op
// of the IR, written once for the f32x4 loops and their scalar tails. Errors (measured against the
// interpreter's double-precision functions, see test/wasm/math.test.ts) are a few ulp. NaN and
// ±Inf give the interpreter's values: clamps are pmin / pmax with x first (one instruction each
// on x86, and they pass a NaN in their first operand through), min / max (NaN-propagating,
// several instructions) only where either operand may be the NaN.
import { GELU_TANH_CUBIC, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI } from "../../src/base/math.js";
import type { Attrs } from "../../src/ir/graph.js";
import { isBinaryOp, isCompareOp, isUnaryOp, type BinaryOp, type CompareOp, type UnaryAttrs, type UnaryOp } from "../../src/ir/ops.js";
import type { Elem, Lanes, X } from "./lanes.js";

const LOG2E = 1.4426950408889634;
// ln 2 split so that n * LN2_HI is exact for |n| < 2^15 (Cody–Waite).
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
// expm1(r) = r + r^2 (1/2 + r/6 + ...): Taylor to degree 8, |r| <= ln2/2, truncation 1.4e-8 relative.
const EXPM1 = [1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040, 1 / 40320];

/**
 * Range reduction x - lo = n ln2 + r; returns n (as f32 lanes) and expm1(r). `lo` is a small
 * low-order part of the argument, subtracted after the exact Cody–Waite step so it is not rounded
 * against the large part.
 */
function reduce(L: Lanes, x: X, lo?: X): { n: X; em: X } {
  const n = L.let(L.nearest(L.mul(x, L.f(LOG2E))));
  const r0 = L.madd(n, L.f(-LN2_LO), L.madd(n, L.f(-LN2_HI), x));
  const r = L.let(lo ? L.sub(r0, lo) : r0);
  return { n, em: L.let(L.madd(L.mul(r, r), L.poly(r, EXPM1), r)) };
}

/** 2^k for integer lanes k in [-126, 127]. */
function pow2(L: Lanes, k: X): X {
  return L.bitsF(L.ishl(L.iadd(k, L.i(127)), 23));
}

/** e^(x - lo); see `reduce` for `lo`. */
export function exp(L: Lanes, x: X, lo?: X): X {
  // Clamped so that 2^n splits into two normal factors: overflow, underflow and subnormal
  // results then round as they should. pmin / pmax (one instruction each, unlike min / max) with
  // x first keep NaN.
  const { n, em } = reduce(L, L.let(L.pmin(L.pmax(x, L.f(-104)), L.f(89))), lo);
  const ni = L.let(L.ftoi(n), "i32");
  const half = L.let(L.ishr(ni, 1), "i32");
  return L.mul(L.mul(L.add(em, L.f(1)), pow2(L, half)), pow2(L, L.isub(ni, half)));
}

/** e^x - 1, accurate near 0 (elu, selu, tanh). */
export function expm1(L: Lanes, x: X): X {
  const { n, em } = reduce(L, L.let(L.pmin(L.pmax(x, L.f(-88)), L.f(88))));
  const t = L.let(pow2(L, L.ftoi(n)));
  return L.madd(t, em, L.sub(t, L.f(1)));
}

// Cephes logf: log(1 + f) = f - f^2/2 + f^3 P(f) for sqrt(1/2) <= 1 + f < sqrt(2).
const LOG_P = [3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1, 1.4249322787e-1, -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1, 7.0376836292e-2];

export function log(L: Lanes, x0: X): X {
  const x = L.let(x0);
  // Subnormals: scale into the normal range first.
  const sub = L.let(L.lt(x, L.f(2 ** -126)), "i32");
  const bits = L.let(L.bitsI(L.sel(sub, L.mul(x, L.f(2 ** 23)), x)), "i32");
  const m0 = L.let(L.bitsF(L.ior(L.and(bits, L.i(0x007fffff)), L.i(0x3f800000))));
  const big = L.let(L.gt(m0, L.f(Math.SQRT2)), "i32");
  const e0 = L.isub(L.ishr(bits, 23), L.sel(sub, L.i(127 + 23), L.i(127)));
  const e = L.let(L.itof(L.sel(big, L.iadd(e0, L.i(1)), e0)));
  const f = L.let(L.sub(L.sel(big, L.mul(m0, L.f(0.5)), m0), L.f(1)));
  const z = L.let(L.mul(f, f));
  let y = L.mul(L.mul(f, z), L.poly(f, LOG_P));
  y = L.madd(e, L.f(LN2_LO), y);
  y = L.madd(z, L.f(-0.5), y);
  const r = L.madd(e, L.f(LN2_HI), L.add(f, y));
  // Negative or NaN -> NaN, 0 -> -inf, inf -> inf.
  const inf = L.f(Infinity);
  return L.sel(L.eq(x, inf), inf, L.sel(L.eq(x, L.f(0)), L.f(-Infinity), L.sel(L.ge(x, L.f(0)), r, L.f(NaN))));
}

// erf(x) = x P(x^2) on |x| < 1 (relative error 1.2e-9 in exact arithmetic);
// erfc(x) = e^{-x^2} Q(1 / (1 + x)) on [1, 15] (4.8e-8). Fitted by reweighted least squares.
const ERF_P = [1.1283791065216064, -0.3761262595653534, 0.1128358542919159, -0.026853816583752632, 0.005188334733247757, -0.0008010247838683426, 7.854026625864208e-5];
const ERFC_Q = [2.6991729100700468e-6, 0.5640443563461304, 0.5674349665641785, 0.24271893501281738, 0.0018811109475791454, -1.9455981254577637, 2.960493803024292, -1.7109999656677246, 0.29489022493362427];

/** A |u| beyond which erfc(u) rounds to 0 in f32 (from 10.1 on): the erfc path clamps u there, as Inf - Inf would be NaN. */
const ERFC_ZERO = 16;

/**
 * erf(u) and 1 + erf(u) for u = x * scale (scale^2 a power of two), both to relative accuracy:
 * 1 + erf(u) via erfc(|u|) for u <= -1, and e^{-u^2} from x split into 12-bit halves, so
 * neither rounding u nor u^2 costs the 2u^2-fold error amplification of the tail. At u = ±Inf
 * erf is ±1 and 1 + erf 2 or exactly 0 (so gelu(-Inf) is -Inf * 0 = NaN, as the interpreter's).
 */
function erfParts(L: Lanes, x0: X, scale = 1): { erf: X; onePlus: X } {
  const x = L.let(x0);
  const u = L.let(scale === 1 ? x : L.mul(x, L.f(scale)));
  const ax = L.let(L.abs(u));
  const p = L.let(L.mul(u, L.poly(L.mul(u, u), ERF_P)));
  const s = L.div(L.f(1), L.add(ax, L.f(1)));
  const bound = ERFC_ZERO / scale;
  const xc = L.let(L.pmin(L.pmax(x, L.f(-bound)), L.f(bound)));
  const hi = L.let(L.bitsF(L.and(L.bitsI(xc), L.i(0xfffff000 | 0))));
  const sq = L.f(scale * scale);
  // u^2 = sq hi^2 (exact) + sq (x - hi)(x + hi)
  const tail = L.mul(sq, L.mul(L.sub(xc, hi), L.add(xc, hi)));
  const q = L.let(L.mul(exp(L, L.neg(L.mul(sq, L.mul(hi, hi))), tail), L.poly(s, ERFC_Q)));
  const small = L.let(L.lt(ax, L.f(1)), "i32");
  return {
    erf: L.sel(small, p, L.copysign(L.sub(L.f(1), q), u)),
    onePlus: L.sel(small, L.add(L.f(1), p), L.sel(L.gt(u, L.f(0)), L.sub(L.f(2), q), q)),
  };
}

const sigmoid = (L: Lanes, x: X): X => L.div(L.f(1), L.add(L.f(1), exp(L, L.neg(x))));
const relu6 = (L: Lanes, x: X): X => L.pmin(L.pmax(x, L.f(0)), L.f(6));

/** x > 0 ? x : alpha (e^x - 1) */
function elu(L: Lanes, x0: X, alpha: number): X {
  const x = L.let(x0);
  return L.sel(L.gt(x, L.f(0)), x, L.mul(L.f(alpha), expm1(L, x)));
}

/**
 * clip(alpha x + beta, 0, 1) as (x + beta / alpha) alpha: for PyTorch's and ONNX's constants
 * beta / alpha (3, 2.5) is exact, so the error stays relative near the kink at 0, where
 * alpha x + beta would cancel (the registry rejects alpha 0).
 */
function hardSigmoid(L: Lanes, x: X, alpha: number, beta: number): X {
  return L.pmin(L.pmax(L.mul(L.add(x, L.f(beta / alpha)), L.f(alpha)), L.f(0)), L.f(1));
}

/** Every unary op on lanes, its attributes typed by the registry. */
const unary: { [N in UnaryOp]: (L: Lanes, x: X, a: UnaryAttrs<N>) => X } = {
  relu: (L, x) => L.pmax(x, L.f(0)),
  relu6: (L, x) => relu6(L, x),
  sigmoid,
  tanh: (L, x) => {
    // tanh x = e / (e + 2), e = expm1(2x): accurate near 0; |x| >= 9 rounds to +-1.
    const e = L.let(expm1(L, L.mul(L.pmin(L.pmax(x, L.f(-9)), L.f(9)), L.f(2))));
    return L.div(e, L.add(e, L.f(2)));
  },
  selu: (L, x) => L.mul(L.f(SELU_SCALE), elu(L, x, SELU_ALPHA)),
  silu: (L, x0) => {
    const x = L.let(x0);
    return L.mul(x, sigmoid(L, x));
  },
  hard_sigmoid: (L, x, a) => hardSigmoid(L, x, a.alpha, a.beta),
  hard_swish: (L, x0) => {
    const x = L.let(x0);
    // x times PyTorch's hard_sigmoid(x): x * relu6(x + 3) would overflow f32 for |x| > FLT_MAX / 6.
    return L.mul(x, hardSigmoid(L, x, 1 / 6, 0.5));
  },
  exp: (L, x) => exp(L, x),
  log,
  sqrt: (L, x) => L.sqrt(x),
  erf: (L, x) => erfParts(L, x).erf,
  neg: (L, x) => L.neg(x),
  abs: (L, x) => L.abs(x),
  clip: (L, x, a) => L.pmin(L.pmax(x, L.f(a.min)), L.f(a.max)),
  leaky_relu: (L, x0, a) => {
    const x = L.let(x0);
    return L.sel(L.ge(x, L.f(0)), x, L.mul(x, L.f(a.slope)));
  },
  elu: (L, x, a) => elu(L, x, a.alpha),
  gelu: (L, x0, a) => {
    const x = L.let(x0);
    if (a.approximate === "tanh") {
      // 0.5 x (1 + tanh z) = x sigmoid(2z): no cancellation for x << 0.
      const cube = L.mul(L.mul(x, x), L.mul(x, L.f(GELU_TANH_CUBIC)));
      return L.mul(x, sigmoid(L, L.mul(L.add(x, cube), L.f(2 * SQRT_2_OVER_PI))));
    }
    return L.mul(L.mul(x, L.f(0.5)), erfParts(L, x, Math.SQRT1_2).onePlus);
  },
};

/** Unary `op` on lanes; `attrs` as a node of that op holds them (checked by the verifier). */
export function applyUnary(L: Lanes, op: UnaryOp, x: X, attrs: Attrs): X {
  return (unary[op] as (L: Lanes, x: X, a: Attrs) => X)(L, x, attrs);
}

/**
 * C's pow (the interpreter's): |a|^b with a's sign for an odd integer b (-0 and -Inf included),
 * NaN for a finite a < 0 and a non-integer b; 1 for b = 0, a = 1, and a = -1 with b = ±Inf.
 */
function pow(L: Lanes, a0: X, b0: X): X {
  const [a, b] = [L.let(a0), L.let(b0)];
  const r = L.let(exp(L, L.mul(b, log(L, L.abs(a)))));
  const half = L.let(L.mul(b, L.f(0.5)));
  const odd = L.and(L.eq(L.trunc(b), b), L.ne(L.trunc(half), half));
  const signed = L.sel(odd, L.copysign(r, a), r);
  const finiteNegative = L.and(L.lt(a, L.f(0)), L.gt(a, L.f(-Infinity)));
  const nan = L.and(finiteNegative, L.ne(L.trunc(b), b));
  const one = L.ior(L.ior(L.eq(b, L.f(0)), L.eq(a, L.f(1))), L.and(L.eq(a, L.f(-1)), L.eq(L.abs(b), L.f(Infinity))));
  return L.sel(one, L.f(1), L.sel(nan, L.f(NaN), signed));
}

/** Integer powers by repeated multiplication (exact as in double for small results). */
function ipow(L: Lanes, a0: X, n: number): X {
  if (n === 0) return L.f(1);
  const a = L.let(a0);
  let r = a;
  for (let k = 1; k < Math.abs(n); k++) r = L.mul(r, a);
  return n < 0 ? L.div(L.f(1), r) : r;
}

/** x >= 0 ? x : x s (elementwise and in the GEMM epilogue). */
export function prelu(L: Lanes, x0: X, s: X): X {
  const x = L.let(x0);
  return L.sel(L.ge(x, L.f(0)), x, L.mul(x, s));
}

type Binary = (L: Lanes, a: X, b: X) => X;

const binaryF32: Record<BinaryOp, Binary> = {
  add: (L, a, b) => L.add(a, b),
  sub: (L, a, b) => L.sub(a, b),
  mul: (L, a, b) => L.mul(a, b),
  div: (L, a, b) => L.div(a, b),
  pow,
  maximum: (L, a, b) => L.max(a, b),
  minimum: (L, a, b) => L.min(a, b),
};

// No integer pow.
const binaryI32: Record<Exclude<BinaryOp, "pow">, Binary> = {
  add: (L, a, b) => L.iadd(a, b),
  sub: (L, a, b) => L.isub(a, b),
  mul: (L, a, b) => L.imul(a, b),
  // Truncating; division by zero traps (the interpreter throws).
  div: (L, a, b) => () => L.m.i32.div_s(a(), b()),
  maximum: (L, a, b) => L.imax(a, b),
  minimum: (L, a, b) => L.imin(a, b),
};

const compareF32: Record<CompareOp, Binary> = {
  less: (L, a, b) => L.lt(a, b),
  less_equal: (L, a, b) => L.le(a, b),
  greater: (L, a, b) => L.gt(a, b),
  greater_equal: (L, a, b) => L.ge(a, b),
  equal: (L, a, b) => L.eq(a, b),
  not_equal: (L, a, b) => L.ne(a, b),
};

const compareI32: Record<CompareOp, Binary> = {
  less: (L, a, b) => L.ilt(a, b),
  less_equal: (L, a, b) => L.ile(a, b),
  greater: (L, a, b) => L.igt(a, b),
  greater_equal: (L, a, b) => L.ige(a, b),
  equal: (L, a, b) => L.ieq(a, b),
  not_equal: (L, a, b) => L.ine(a, b),
};

/** A comparison's lane mask (all ones in a v128 lane, 1 in a scalar) as bool elements, 0 or 1. */
const boolOf = (L: Lanes, mask: X): X => (L.w === 4 ? L.and(mask, L.i(1)) : mask);

/** One step of an elementwise program: its op applied to argument registers. */
export interface StepOp {
  op: string;
  attrs: Attrs;
  /** Argument element types. */
  types: Elem[];
  /** Result element type. */
  out: Elem;
  /** A scalar constant second operand, when known at compile time (for pow). */
  konst?: number;
}

/** Whether the step needs the scalar path (no i32x4 division). */
export function scalarOnly(s: StepOp): boolean {
  return s.types[0] === "i32" && s.op === "div";
}

export function applyStep(L: Lanes, s: StepOp, args: X[]): X {
  const [a, b] = args as [X, X];
  if (s.op === "cast") {
    if (s.types[0] === s.out) return a;
    return s.out === "f32" ? L.itof(a) : L.ftoi(a);
  }
  // bool elements are i32 0 / 1.
  if (isCompareOp(s.op)) return boolOf(L, (s.types[0] === "f32" ? compareF32 : compareI32)[s.op](L, a, b));
  if (s.op === "where") return L.sel(L.ine(a, L.i(0)), b, args[2]!);
  if (s.op === "logical_not") return boolOf(L, L.ieq(a, L.i(0)));
  if (args.length === 1) {
    if (!isUnaryOp(s.op)) throw new Error(`wasm: no elementwise kernel for ${s.op}`);
    return applyUnary(L, s.op, a, s.attrs);
  }
  if (s.op === "pow" && s.konst !== undefined && Number.isInteger(s.konst) && Math.abs(s.konst) <= 4) return ipow(L, a, s.konst);
  // prelu runs as a binary step (x, slope): float only, like the op.
  if (s.op === "prelu" && s.types[0] === "f32") return prelu(L, a, b);
  const table: Partial<Record<BinaryOp, Binary>> = s.types[0] === "f32" ? binaryF32 : binaryI32;
  const f = isBinaryOp(s.op) ? table[s.op] : undefined;
  if (!f) throw new Error(`wasm: no ${s.types[0]} kernel for ${s.op}`);
  return f(L, a, b);
}
