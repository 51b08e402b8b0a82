// Accuracy of the polynomial math (exp, log, erf, tanh, sigmoid, gelu, ...) over dense grids,
// both builds, against the interpreter (double precision, rounded to f32). The error measure is
// |got - want| / |want| for |want| >= 1e-30 (below, absolute). Measured maxima (both builds,
// GRAPHC_WASM_MATH_REPORT=1 prints them): exp 1.2e-7, log 1.2e-7, erf 1.8e-7, tanh 1.7e-7,
// sigmoid 1.4e-7, silu 2.0e-7, elu / selu 1.3e-7; the bounds leave headroom for other CPUs.
import { describe, expect, it } from "vitest";
import { buildWasm } from "../../codegen/wasm/module.js";
import { interpret } from "../../src/interp/index.js";
import { model, runBuild } from "./helpers.js";

/** Grid points: linear over [lo, hi] plus log-spaced magnitudes of both signs within it. */
function grid(lo: number, hi: number, n = 20000): Float32Array {
  const xs: number[] = [];
  for (let i = 0; i <= n; i++) xs.push(lo + ((hi - lo) * i) / n);
  for (let e = -30; e <= Math.log10(Math.max(-lo, hi)); e += 0.01) for (const s of [1, -1]) if (s * 10 ** e >= lo && s * 10 ** e <= hi) xs.push(s * 10 ** e);
  return Float32Array.from(xs);
}

const cases: { call: string; lo: number; hi: number; bound: number }[] = [
  { call: "exp(x)", lo: -87, hi: 88, bound: 3e-7 },
  { call: "log(x)", lo: 1e-30, hi: 1e30, bound: 3e-7 },
  { call: "erf(x)", lo: -6, hi: 6, bound: 1e-6 },
  { call: "tanh(x)", lo: -12, hi: 12, bound: 1e-6 },
  { call: "sigmoid(x)", lo: -80, hi: 30, bound: 1e-6 },
  { call: "silu(x)", lo: -80, hi: 30, bound: 1e-6 },
  // Below -5 the interpreter's own 1 + erf (in double) cancels; the kernel uses erfc there.
  { call: "gelu(x)", lo: -5, hi: 12, bound: 1e-6 },
  // f32 rounding of the tanh form's argument z alone costs up to 2|z| 1.2e-7 relative.
  { call: 'gelu(x, approximate="tanh")', lo: -5, hi: 12, bound: 3e-6 },
  { call: "elu(x, alpha=1.0)", lo: -20, hi: 5, bound: 1e-6 },
  { call: "selu(x)", lo: -20, hi: 5, bound: 1e-6 },
  { call: "hard_swish(x)", lo: -5, hi: 5, bound: 3e-7 },
  // exp(b log a): the error grows as 1.2e-7 |b ln a| (here |b ln a| <= 5.8).
  { call: "pow(x, 2.5)", lo: 0.1, hi: 10, bound: 1e-6 },
  { call: "pow(x, 3.0)", lo: -10, hi: 10, bound: 3e-7 },
];

describe("wasm math accuracy", () => {
  for (const c of cases) {
    it(c.call, async () => {
      const x = grid(c.lo, c.hi);
      const g = model(`  input x: f32[${x.length}]\n  output y = ${c.call}`);
      const want = interpret(g, new Map(), { x }).y as Float32Array;
      for (const relaxed of [false, true]) {
        const got = (await runBuild(buildWasm(g, { relaxed }), { x })).y as Float32Array;
        let [worst, at] = [0, 0];
        for (let i = 0; i < x.length; i++) {
          const err = Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-30);
          if (!(err <= worst)) [worst, at] = [err, i];
        }
        if (process.env.GRAPHC_WASM_MATH_REPORT) console.log(`${c.call} ${relaxed ? "relaxed" : "baseline"}: max rel err ${worst.toExponential(2)} at x=${x[at]}`);
        expect(worst, `${c.call} at x=${x[at]}: ${got[at]} vs ${want[at]}`).toBeLessThanOrEqual(c.bound);
      }
    });
  }
});

// NaN, ±Inf and the edges of each formula: both builds give exactly the interpreter's NaN or
// infinity (sign included), and its finite values within the grid tests' bound.
const SPECIAL = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1, -1, 3, -3, 6, -6, 9.5, -9.5, 30, -30, 88.8, -88.8, 104, -104, 1e30, -1e30, 3.4e38, -3.4e38]);

/**
 * Where got is off want: a NaN or an infinity (with its sign) that differs, or a finite value off
 * by more than `bound` relative plus 1e-14 (the interpreter's double 1 + erf cancels for gelu below -5).
 */
function offSpecial(got: ArrayLike<number>, want: ArrayLike<number>, bound: number): number {
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i]!, want[i]!];
    if (Number.isNaN(w) ? !Number.isNaN(g) : !Number.isFinite(w) ? g !== w : !(Math.abs(g - w) <= bound * Math.abs(w) + 1e-14)) return i;
  }
  return -1;
}

describe("wasm math at NaN, ±Inf and extremes", () => {
  const unaryCalls = [
    "relu(x)", "relu6(x)", "sigmoid(x)", "tanh(x)", "selu(x)", "silu(x)", "hard_sigmoid(x)", "hard_swish(x)", "exp(x)", "log(x)", "sqrt(x)", "erf(x)",
    "neg(x)", "abs(x)", "clip(x, -2.0, 2.0)", "leaky_relu(x)", "leaky_relu(x, 0.0)", "elu(x)", "gelu(x)", 'gelu(x, approximate="tanh")',
  ];
  it.each(unaryCalls)("%s", async (call) => {
    const g = model(`  input x: f32[${SPECIAL.length}]\n  output y = ${call}`);
    const want = interpret(g, new Map(), { x: SPECIAL }).y as Float32Array;
    for (const relaxed of [false, true]) {
      const got = (await runBuild(buildWasm(g, { relaxed }), { x: SPECIAL })).y as Float32Array;
      const at = offSpecial(got, want, 3e-6);
      expect(at, `${call} (${relaxed ? "relaxed" : "baseline"}) at x=${SPECIAL[at]}: ${got[at]} vs ${want[at]}`).toBe(-1);
    }
  });

  // Every pair (a, b) of special values; pow's edges are C's (1^NaN = 1, (-1)^Inf = 1, (-0)^-1 = -Inf, (-Inf)^0.5 = Inf).
  const operands = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 2, -2, 3, -3, 2.5, -2.5]);
  const n = operands.length;
  const a = Float32Array.from({ length: n * n }, (_, i) => operands[Math.floor(i / n)]!);
  const b = Float32Array.from({ length: n * n }, (_, i) => operands[i % n]!);
  it.each(["pow(a, b)", "maximum(a, b)", "minimum(a, b)", "div(a, b)"])("%s", async (call) => {
    const g = model(`  input a: f32[${n * n}]\n  input b: f32[${n * n}]\n  output y = ${call}`);
    const want = interpret(g, new Map(), { a, b }).y as Float32Array;
    for (const relaxed of [false, true]) {
      const got = (await runBuild(buildWasm(g, { relaxed }), { a, b })).y as Float32Array;
      const at = offSpecial(got, want, 1e-6);
      expect(at, `${call} (${relaxed ? "relaxed" : "baseline"}) at a=${a[at]}, b=${b[at]}: ${got[at]} vs ${want[at]}`).toBe(-1);
    }
  });
});
