// The fused epilogue of conv2d / linear / matmul on one f32x4 vector:
//   act(acc * alpha + bias + residual)
// with every activation of the IR in SIMD (exp/log Cephes-style, erf Abramowitz-Stegun 7.1.26:
// |err| <= 1.5e-7). Temporaries go through Fn.tmp, so the caller emits f.take() first.
import binaryen from "binaryen";
import type { Attrs } from "../../../src/ir/graph.js";
import type { Fn, V } from "./fn.js";

type Expr = binaryen.ExpressionRef;

export interface Epi {
  /** Scales the accumulator (attention's 1/sqrt(d)). */
  alpha?: number;
  bias: boolean;
  residual: boolean;
  /** prelu slopes: one for all channels, or one per channel. */
  slope?: "scalar" | "vector";
  act?: string;
  attrs: Attrs;
}

/** The epilogue an IR node asks for (its slope count decides scalar vs vector prelu). */
export function nodeEpi(attrs: Attrs, slopeCount: number): Epi {
  const act = typeof attrs.act === "string" ? attrs.act : undefined;
  return {
    bias: attrs.bias === true,
    residual: attrs.residual === true,
    ...(act === "prelu" ? { slope: slopeCount === 1 ? "scalar" : "vector" } : {}),
    ...(act ? { act } : {}),
    attrs,
  };
}

/** Where the epilogue operands of one output vector lie: pointer and byte offset. */
export interface EpiAt {
  bias?: [V, number];
  residual?: [V, number];
  slope?: [V, number];
}

export function epilogue(f: Fn, e: Epi, acc: Expr, lanes: number, at: EpiAt): Expr {
  const F = f.m.f32x4;
  let v = acc;
  if (e.alpha !== undefined && e.alpha !== 1) v = F.mul(v, f.splat(e.alpha));
  if (e.bias) v = F.add(v, f.load(at.bias![0], at.bias![1], lanes));
  if (e.residual) v = F.add(v, f.load(at.residual![0], at.residual![1], lanes));
  if (!e.act) return v;
  const slope = e.slope === undefined ? undefined : e.slope === "scalar" ? f.m.v128.load32_splat(0, 4, at.slope![0]()) : f.load(at.slope![0], at.slope![1], lanes);
  return activation(f, e.act, e.attrs, f.tmp(v), slope);
}

const LOG2E = Math.LOG2E;

/** e^x: x clamped to [-87.3, 88.3], n = round(x log2 e), e^x = 2^n e^r with a degree-7 polynomial for e^r. */
export function vexp(f: Fn, x: V): Expr {
  const m = f.m;
  const F = m.f32x4;
  const xc = f.tmp(F.pmin(f.splat(88.3), F.pmax(f.splat(-87.3), x())));
  const n = f.tmp(F.nearest(F.mul(xc(), f.splat(LOG2E))));
  const r = f.tmp(F.sub(F.sub(xc(), F.mul(n(), f.splat(0.693359375))), F.mul(n(), f.splat(-2.12194440e-4))));
  const p = horner(f, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  const er = F.add(F.add(F.mul(p, F.mul(r(), r())), r()), f.splat(1));
  const scale = m.i32x4.shl(m.i32x4.add(m.i32x4.trunc_sat_f32x4_s(n()), m.i32x4.splat(m.i32.const(127))), m.i32.const(23));
  return F.mul(er, scale);
}

/** ln x (Cephes logf): x = 2^e m with m in [sqrt(1/2), sqrt 2); 0 -> -inf, x < 0 -> NaN, inf and NaN pass through. */
function vlog(f: Fn, x: V): Expr {
  const m = f.m;
  const [F, I, B] = [m.f32x4, m.i32x4, m.v128];
  const mant = f.tmp(B.or(B.and(x(), I.splat(m.i32.const(0x007fffff))), I.splat(m.i32.const(0x3f000000))));
  const small = f.tmp(F.lt(mant(), f.splat(Math.SQRT1_2)));
  const e = f.tmp(F.sub(F.convert_i32x4_s(I.sub(I.shr_u(x(), m.i32.const(23)), I.splat(m.i32.const(126)))), B.and(small(), f.splat(1))));
  const t = f.tmp(F.sub(F.add(mant(), B.and(small(), mant())), f.splat(1)));
  const z = f.tmp(F.mul(t(), t()));
  const poly = horner(f, t, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
  let y = F.add(F.mul(F.mul(t(), z()), poly), F.mul(e(), f.splat(-2.12194440e-4)));
  y = F.add(F.add(F.sub(y, F.mul(z(), f.splat(0.5))), t()), F.mul(e(), f.splat(0.693359375)));
  const special = (val: Expr, cond: Expr, res: Expr) => B.bitselect(val, res, cond);
  const r1 = special(x(), m.v128.not(F.lt(x(), f.splat(Infinity))), y);
  return special(f.splat(NaN), F.lt(x(), f.splat(0)), special(f.splat(-Infinity), F.eq(x(), f.splat(0)), r1));
}

function horner(f: Fn, x: V, coeffs: number[]): Expr {
  let p = f.splat(coeffs[0]!);
  for (const c of coeffs.slice(1)) p = f.madd(p, x(), f.splat(c));
  return p;
}

function sigmoid(f: Fn, x: V): Expr {
  return f.m.f32x4.div(f.splat(1), f.m.f32x4.add(f.splat(1), vexp(f, () => f.m.f32x4.neg(x()))));
}

function copysign(f: Fn, mag: Expr, sign: V): Expr {
  return f.m.v128.bitselect(sign(), mag, f.m.i32x4.splat(f.m.i32.const(-0x80000000)));
}

/** tanh |x| = (1 - e^-2|x|) / (1 + e^-2|x|), sign restored. */
function tanh(f: Fn, x: V): Expr {
  const F = f.m.f32x4;
  const e = f.tmp(vexp(f, () => F.mul(F.abs(x()), f.splat(-2))));
  return copysign(f, F.div(F.sub(f.splat(1), e()), F.add(f.splat(1), e())), x);
}

function erf(f: Fn, x: V): Expr {
  const F = f.m.f32x4;
  const t = f.tmp(F.div(f.splat(1), F.add(f.splat(1), F.mul(f.splat(0.3275911), F.abs(x())))));
  const p = F.mul(horner(f, t, [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]), t());
  return copysign(f, F.sub(f.splat(1), F.mul(p, vexp(f, () => F.neg(F.mul(x(), x()))))), x);
}

/** x where x > 0 (>= 0 when `orZero`), else `neg`. */
function where(f: Fn, x: V, neg: Expr, orZero = false): Expr {
  const F = f.m.f32x4;
  return f.m.v128.bitselect(x(), neg, (orZero ? F.ge : F.gt)(x(), f.splat(0)));
}

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** The IR's unary activations (and prelu with `slope`) on one vector, as the interpreter defines them. */
export function activation(f: Fn, act: string, a: Attrs, x: V, slope?: Expr): Expr {
  const F = f.m.f32x4;
  const relu6 = (v: Expr) => F.pmin(f.splat(6), F.pmax(f.splat(0), v));
  const expm1 = () => F.sub(vexp(f, x), f.splat(1));
  switch (act) {
    case "relu": return F.pmax(f.splat(0), x());
    case "relu6": return relu6(x());
    case "clip": return F.pmin(f.splat(a.max as number), F.pmax(f.splat(a.min as number), x()));
    case "leaky_relu": return where(f, x, F.mul(x(), f.splat(a.slope as number)), true);
    case "prelu": return where(f, x, F.mul(x(), slope!), true);
    case "sigmoid": return sigmoid(f, x);
    case "silu": return F.mul(x(), sigmoid(f, x));
    case "tanh": return tanh(f, x);
    case "hard_sigmoid": return F.mul(relu6(F.add(x(), f.splat(3))), f.splat(1 / 6));
    case "hard_swish": return F.mul(F.mul(x(), relu6(F.add(x(), f.splat(3)))), f.splat(1 / 6));
    case "elu": return where(f, x, F.mul(expm1(), f.splat(a.alpha as number)));
    case "selu": return F.mul(where(f, x, F.mul(expm1(), f.splat(SELU_ALPHA))), f.splat(SELU_SCALE));
    case "exp": return vexp(f, x);
    case "log": return vlog(f, x);
    case "sqrt": return F.sqrt(x());
    case "neg": return F.neg(x());
    case "abs": return F.abs(x());
    case "erf": return erf(f, x);
    case "gelu": {
      const inner = a.approximate === "tanh"
        ? tanh(f, f.tmp(F.mul(f.splat(Math.sqrt(2 / Math.PI)), F.add(x(), F.mul(f.splat(0.044715), F.mul(x(), F.mul(x(), x())))))))
        : erf(f, f.tmp(F.mul(x(), f.splat(Math.SQRT1_2))));
      return F.mul(F.mul(x(), f.splat(0.5)), F.add(f.splat(1), inner));
    }
    default: throw new Error(`wasm epilogue: unsupported activation ${act}`);
  }
}
