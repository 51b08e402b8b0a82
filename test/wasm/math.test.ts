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
