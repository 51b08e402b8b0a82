// Winograd 3x3 convs (both builds) against the interpreter: F(4x4) and F(2x2) tiles, every
// output-tile remainder, asymmetric pads, channel counts off the vector width, several chunks.
//
// Tolerance. A bilinear algorithm's rounding error is bounded componentwise by the same
// computation on absolute values (Higham 3.1, applied to each of its sums): with
// S' = Σ_c |Aᵀ| [(|G| |w| |G|ᵀ) ⊙ (|Bᵀ| |d| |B|)] |A| for the output's tile position, the input
// transform's two passes round at most 8 times (4-term sums, x5 inexact), the weight transform
// 8 times (at load, in float32: two passes of 3-term sums, 3 each, and G's inexact 1/6, 1/12, 1/24), the C-long GEMM 2C times (mul+add), the output transform's passes 8
// times (5-term sums; x2, x4, x8 are exact), bias and residual once each: (2C + 26) u S', u = 2^-24.
// We allow twice that, (2C + 26) 2^-23 S', and relu (slope 1) keeps it. S' exceeds the direct
// conv's Σ|w||x| by the transforms' growth (up to ~100x for F(4x4)), which is the accuracy
// Winograd gives up; for ResNet-like data the relative error measured is ~1e-6 .. 1e-5.
import fc from "fast-check";
import { expect, test } from "vitest";
import type { Attrs } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { winogradTile } from "../../codegen/wasm/winograd.js";
import { inputsOf, instantiate, oneNode, rand, type Operand } from "./gemm-harness.js";

const U2 = 2 ** -23;


interface Case { n: number; h: number; w: number; C: number; K: number; pads: number[]; bias: boolean; residual: boolean; relu: boolean; seed: number }

/** |M| X |N|ᵀ for a square X (row-major, side = M's columns). */
function absSandwich(M: number[][], X: number[], N: number[][]): number[] {
  const [r, s] = [M.length, M[0]!.length];
  const out: number[] = [];
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++) {
      let v = 0;
      for (let p = 0; p < s; p++) for (let q = 0; q < s; q++) v += Math.abs(M[i]![p]!) * X[p * s + q]! * Math.abs(N[j]![q]!);
      out.push(v);
    }
  return out;
}

async function check(c: Case): Promise<void> {
  const r = rand(c.seed);
  const [pt, pl, pb, pr] = c.pads as [number, number, number, number];
  const [OH, OW] = [c.h + pt + pb - 2, c.w + pl + pr - 2];
  const t = winogradTile({ N: c.n, H: c.h, W: c.w, C: c.C, K: c.K, OH, OW, kh: 3, kw: 3, sh: 1, sw: 1, pt, pl, dh: 1, dw: 1, groups: 1 });
  expect(t).toBeDefined();
  const { m, BT, G, AT } = t!;
  const a = m + 2;
  const data = (shape: number[]) => Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, r);
  const [xs, ws, ys] = [[c.n, c.h, c.w, c.C], [c.K, c.C, 3, 3], [c.n, OH, OW, c.K]];
  const ops: Operand[] = [{ shape: xs, data: data(xs) }, { shape: ws, data: data(ws), constant: true }];
  if (c.bias) ops.push({ shape: [c.K], data: data([c.K]), constant: true });
  if (c.residual) ops.push({ shape: ys, data: data(ys) });
  const attrs: Attrs = { stride: [1, 1], pads: c.pads, dilation: [1, 1], groups: 1, layout: "NHWC", ...(c.bias ? { bias: true } : {}), ...(c.residual ? { residual: true } : {}), ...(c.relu ? { act: "relu" } : {}) };
  const g = oneNode("conv2d", ops, attrs);
  const ref = interpret(g, new Map(), inputsOf(ops)).y as Float32Array;
  // S' per output, from the absolute transforms of the weights and of each tile's patches.
  const [x, w] = [ops[0]!.data, ops[1]!.data];
  const gw = Array.from({ length: c.K * c.C }, (_, kc) => absSandwich(G, Array.from({ length: 9 }, (_, i) => Math.abs(w[kc * 9 + i]!)), G));
  const S = new Float64Array(ref.length);
  for (let n = 0; n < c.n; n++)
    for (let ty = 0; ty * m < OH; ty++)
      for (let tx = 0; tx * m < OW; tx++) {
        const v = Array.from({ length: c.C }, (_, ch) => {
          const d = Array.from({ length: a * a }, (_, ij) => {
            const [iy, ix] = [ty * m + Math.floor(ij / a) - pt, tx * m + (ij % a) - pl];
            return iy >= 0 && iy < c.h && ix >= 0 && ix < c.w ? Math.abs(x[((n * c.h + iy) * c.w + ix) * c.C + ch]!) : 0;
          });
          return absSandwich(BT, d, BT);
        });
        for (let k = 0; k < c.K; k++) {
          const prod = new Float64Array(a * a);
          for (let ch = 0; ch < c.C; ch++) for (let ij = 0; ij < a * a; ij++) prod[ij]! += gw[k * c.C + ch]![ij]! * v[ch]![ij]!;
          const y = absSandwich(AT, Array.from(prod), AT);
          for (let rr = 0; rr < m && ty * m + rr < OH; rr++)
            for (let q = 0; q < m && tx * m + q < OW; q++) S[((n * OH + ty * m + rr) * OW + tx * m + q) * c.K + k] = y[rr * m + q]!;
        }
      }
  const extra = (i: number) => (c.bias ? Math.abs(ops[2]!.data[i % c.K]!) : 0) + (c.residual ? Math.abs(ops[ops.length - 1]!.data[i]!) : 0);
  for (const relaxed of [false, true]) {
    const y = (await instantiate(g, inputsOf(ops), relaxed))();
    for (let i = 0; i < ref.length; i++) {
      const tol = (2 * c.C + 26) * U2 * (S[i]! + extra(i)) + 1e-6 * (1 + Math.abs(ref[i]!));
      if (!(Math.abs(y[i]! - ref[i]!) <= tol)) expect.fail(`${relaxed ? "relaxed" : "baseline"} F(${m}) ${JSON.stringify(c)}: y[${i}] = ${y[i]}, want ${ref[i]} (tol ${tol})`);
    }
  }
}

test("winograd: F(4x4) and F(2x2), every tile remainder, pads, channel tails", { timeout: 600_000 }, async () => {
  const arb = fc.record({
    n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 3, max: 19 }), w: fc.integer({ min: 3, max: 19 }),
    C: fc.integer({ min: 16, max: 21 }), K: fc.integer({ min: 16, max: 27 }),
    pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))), bias: fc.boolean(), residual: fc.boolean(), relu: fc.boolean(), seed: fc.integer({ min: 0, max: 2 ** 30 }),
  }).filter((c) => c.h + c.pads[0]! + c.pads[2]! >= 3 && c.w + c.pads[1]! + c.pads[3]! >= 3);
  await fc.assert(fc.asyncProperty(arb, check), { numRuns: 40 });
});

test("winograd: several tile chunks", { timeout: 600_000 }, async () => {
  // 2 x 25 tiles of F(2x2) at 256 + 256 channels (32 fit a chunk): chunks of 30 tiles, then 20.
  await check({ n: 2, h: 10, w: 10, C: 256, K: 256, pads: [1, 1, 1, 1], bias: true, residual: true, relu: true, seed: 5 });
});

// A NaN or ±Inf input: the transforms add and subtract it across the tile's patch, so the direct
// conv's non-finite outputs (the 3x3 reach of the pixel) are non-finite here too, NaN spreads to the
// rest of their output tiles (all channels), ±Inf comes out NaN, and every other output is unchanged.
test.each([NaN, Infinity, -Infinity])("winograd: %s in one input pixel stays non-finite, within its output tiles", async (special) => {
  const [n, h, w, C, K] = [1, 15, 14, 16, 17];
  const r = rand(9);
  const x = Float32Array.from({ length: n * h * w * C }, r);
  x[(6 * w + 5) * C + 3] = special;
  const ops: Operand[] = [{ shape: [n, h, w, C], data: x }, { shape: [K, C, 3, 3], data: Float32Array.from({ length: K * C * 9 }, r), constant: true }];
  const g = oneNode("conv2d", ops, { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1, layout: "NHWC" });
  const { m } = winogradTile({ N: n, H: h, W: w, C, K, OH: h, OW: w, kh: 3, kw: 3, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 })!;
  const ref = interpret(g, new Map(), inputsOf(ops)).y as Float32Array;
  const tileOf = (i: number) => `${Math.floor(Math.floor(i / K / w) / m)},${Math.floor((Math.floor(i / K) % w) / m)}`;
  const reached = new Set([...ref.keys()].filter((i) => !Number.isFinite(ref[i]!)).map(tileOf));
  expect(reached.size).toBeGreaterThan(0);
  for (const relaxed of [false, true]) {
    const y = (await instantiate(g, inputsOf(ops), relaxed))();
    for (let i = 0; i < ref.length; i++) {
      const [got, want] = [y[i]!, ref[i]!];
      const close = Math.abs(got - want) <= 1e-4 * (1 + Math.abs(want));
      const ok = !Number.isFinite(want) ? Number.isNaN(got) || got === want : reached.has(tileOf(i)) ? Number.isNaN(got) || close : close;
      if (!ok) expect.fail(`${relaxed ? "relaxed" : "baseline"} F(${m}): y[${i}] = ${got}, want ${want}`);
    }
  }
});
