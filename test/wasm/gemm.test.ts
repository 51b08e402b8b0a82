// linear, matmul, conv2d and attention kernels in both builds (baseline mul+add, relaxed madd)
// against the interpreter, over random shapes that hit every tile remainder (M mod 6 and 4, N
// mod 8, K mod 4), column blocks, every fused epilogue, groups, strides, asymmetric pads,
// dilation and both layouts.
//
// Tolerance. The interpreter sums in double and rounds once; the kernels sum K products in
// float32. Recursive summation of K products errs by at most about K u S with u = 2^-24 and
// S = sum |a_k b_k| (Higham, 3.1; the fused madd only removes roundings); mul+add rounds twice
// per term, and bias and residual add one rounding each: we allow (K + 3) 2^-23 S, i.e. a 2x
// margin over (K + 3) 2 u S. S is computed exactly the same way as the result, by running the
// interpreter on |inputs| with the activation removed. The activation then scales that error by
// its slope (<= 2 for every activation here; e^x for exp, 1/x for log, 1/(2 sqrt x) for sqrt),
// and adds its own approximation error: the epilogue runs math.ts's activations, relative to a few
// ulp, so we allow the bounds test/wasm/math.test.ts holds them to, 1e-6 |y| (3e-6 |y| for
// gelu's tanh form, whose argument rounds), plus 1e-14 for gelu at x < -5, where the interpreter's
// double 1 + erf (1 + tanh) cancels.
import fc from "fast-check";
import { expect, test } from "vitest";
import { unaryOps } from "../../src/ir/ops.js";
import type { Attrs } from "../../src/ir/graph.js";
import { interpret } from "../../src/interp/index.js";
import { inputsOf, instantiate, oneNode, rand, type Operand } from "./gemm-harness.js";
import { activationAttrs, activationError, U2 } from "../support/gemm-tolerance.js";

const data = (r: () => number, shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r);

const same = (a: number, b: number, tol: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= tol;

/** Compiles in both builds, compares with the interpreter: |y - ref| <= tol(i, ref). */
async function check(op: string, ops: Operand[], attrs: Attrs, tol: (i: number, ref: number) => number, what: string): Promise<void> {
  const g = oneNode(op, ops, attrs);
  const inputs = inputsOf(ops);
  const ref = interpret(g, new Map(), inputs).y as Float32Array;
  for (const relaxed of [false, true]) {
    const y = (await instantiate(g, inputs, relaxed))();
    for (let i = 0; i < ref.length; i++)
      if (!same(y[i]!, ref[i]!, tol(i, ref[i]!))) expect.fail(`${relaxed ? "relaxed" : "baseline"} ${what}: y[${i}] = ${y[i]}, want ${ref[i]} (tol ${tol(i, ref[i]!)})`);
  }
}

/** The GEMM-class tolerance above, for a node whose dot products are K long. */
async function checkGemm(op: string, ops: Operand[], attrs: Attrs, K: number, what: string): Promise<void> {
  const { act, ...linear } = attrs;
  const abs = ops.map((o) => ({ ...o, data: o.data.map(Math.abs) }));
  const S = interpret(oneNode(op, act === "prelu" ? abs.slice(0, -1) : abs, linear), new Map(), inputsOf(abs)).y as Float32Array;
  const a = typeof act === "string" ? act : undefined;
  const rel = attrs.approximate === "tanh" ? 3e-6 : 1e-6;
  await check(op, ops, attrs, (i, ref) => activationError(a, ref, (K + 3) * U2 * S[i]!) + rel * Math.abs(ref) + 1e-14, `${what} ${JSON.stringify(attrs)}`);
}

const epilogueArb = fc.record({
  bias: fc.boolean(),
  residual: fc.boolean(),
  act: fc.constantFrom(undefined, "prelu", "gelu_tanh", ...unaryOps),
  scalarSlope: fc.boolean(),
});
type EpiCase = typeof epilogueArb extends fc.Arbitrary<infer T> ? T : never;

/** Attributes and operands (after x and w) of an epilogue over `channels` channels and output `shape`. */
function epilogueOf(e: EpiCase, r: () => number, channels: number, shape: number[]): [Attrs, Operand[]] {
  const act = e.act === "gelu_tanh" ? "gelu" : e.act;
  const attrs: Attrs = { ...(e.bias ? { bias: true } : {}), ...(e.residual ? { residual: true } : {}), ...(act ? { act, ...activationAttrs[act] } : {}), ...(e.act === "gelu_tanh" ? { approximate: "tanh" } : {}) };
  const ops: Operand[] = [];
  if (e.bias) ops.push({ shape: [channels], data: data(r, [channels]), constant: true });
  if (e.residual) ops.push({ shape, data: data(r, shape) });
  if (act === "prelu") ops.push({ shape: [e.scalarSlope ? 1 : channels], data: data(r, [e.scalarSlope ? 1 : channels]), constant: true });
  return [attrs, ops];
}

const seed = fc.integer({ min: 0, max: 2 ** 30 });
const runs = (n: number) => ({ numRuns: n });

test("linear: every tile remainder and epilogue, constant or run-time weight", { timeout: 600_000 }, async () => {
  const arb = fc.record({ rows: fc.array(fc.integer({ min: 1, max: 14 }), { minLength: 1, maxLength: 2 }), K: fc.integer({ min: 1, max: 21 }), N: fc.integer({ min: 1, max: 26 }), wConst: fc.boolean(), epi: epilogueArb, seed });
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    const r = rand(c.seed);
    const x = [...c.rows, c.K];
    const y = [...c.rows, c.N];
    const [attrs, extra] = epilogueOf(c.epi, r, c.N, y);
    await checkGemm("linear", [{ shape: x, data: data(r, x) }, { shape: [c.N, c.K], data: data(r, [c.N, c.K]), constant: c.wConst }, ...extra], attrs, c.K, `linear ${x} x ${c.N}`);
  }), runs(50));
});

test("matmul: broadcast batches, constant or run-time B", { timeout: 600_000 }, async () => {
  const batches: [number[], number[]][] = [[[], []], [[3], [3]], [[2], []], [[2, 1], [1, 3]], [[1], [2]], [[2, 2], [2]]];
  const arb = fc.record({ M: fc.integer({ min: 1, max: 14 }), K: fc.integer({ min: 1, max: 21 }), N: fc.integer({ min: 1, max: 26 }), batch: fc.constantFrom(...batches), bConst: fc.boolean(), epi: epilogueArb, seed });
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    const r = rand(c.seed);
    const [a, b] = [[...c.batch[0], c.M, c.K], [...c.batch[1], c.K, c.N]];
    const y = [...(c.batch[0].length >= c.batch[1].length ? c.batch[0] : c.batch[1]).map((_, i, s) => {
      const n = s.length;
      const pa = [...Array(n - c.batch[0].length).fill(1), ...c.batch[0]][i]!;
      const pb = [...Array(n - c.batch[1].length).fill(1), ...c.batch[1]][i]!;
      return Math.max(pa, pb);
    }), c.M, c.N];
    const [attrs, extra] = epilogueOf(c.epi, r, c.N, y);
    await checkGemm("matmul", [{ shape: a, data: data(r, a) }, { shape: b, data: data(r, b), constant: c.bConst }, ...extra], attrs, c.K, `matmul ${a} x ${b}`);
  }), runs(50));
});

test("GEMM column blocks and long K", { timeout: 600_000 }, async () => {
  const r = rand(7);
  for (const [M, K, N] of [[19, 67, 150], [6, 300, 270]] as const) {
    const [attrs, extra] = epilogueOf({ bias: true, residual: true, act: "relu", scalarSlope: false }, r, N, [M, N]);
    await checkGemm("linear", [{ shape: [M, K], data: data(r, [M, K]) }, { shape: [N, K], data: data(r, [N, K]), constant: true }, ...extra], attrs, K, `linear ${M}x${K}x${N}`);
  }
});

test("conv2d: NHWC and NCHW, groups, depthwise, strides, asymmetric pads, dilation", { timeout: 600_000 }, async () => {
  const arb = fc.record({
    n: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 3 }), cg: fc.integer({ min: 1, max: 6 }), kg: fc.integer({ min: 1, max: 10 }),
    depthwise: fc.boolean(), h: fc.integer({ min: 1, max: 8 }), w: fc.integer({ min: 1, max: 8 }), kh: fc.integer({ min: 1, max: 4 }), kw: fc.integer({ min: 1, max: 4 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })), nhwc: fc.boolean(), epi: epilogueArb, seed,
  }).filter((c) => c.h + c.pads[0] + c.pads[2] >= c.dilation[0] * (c.kh - 1) + 1 && c.w + c.pads[1] + c.pads[3] >= c.dilation[1] * (c.kw - 1) + 1);
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    const r = rand(c.seed);
    const groups = c.depthwise ? c.cg * c.groups : c.groups;
    const [C, K, cg] = c.depthwise ? [groups, groups, 1] : [c.groups * c.cg, c.groups * c.kg, c.cg];
    const oh = Math.floor((c.h + c.pads[0] + c.pads[2] - c.dilation[0] * (c.kh - 1) - 1) / c.stride[0]) + 1;
    const ow = Math.floor((c.w + c.pads[1] + c.pads[3] - c.dilation[1] * (c.kw - 1) - 1) / c.stride[1]) + 1;
    const [x, y] = c.nhwc ? [[c.n, c.h, c.w, C], [c.n, oh, ow, K]] : [[c.n, C, c.h, c.w], [c.n, K, oh, ow]];
    const [epi, extra] = epilogueOf(c.epi, r, K, y);
    const attrs: Attrs = { stride: c.stride, pads: c.pads, dilation: c.dilation, groups, ...(c.nhwc ? { layout: "NHWC" } : {}), ...epi };
    await checkGemm("conv2d", [{ shape: x, data: data(r, x) }, { shape: [K, cg, c.kh, c.kw], data: data(r, [K, cg, c.kh, c.kw]), constant: true }, ...extra], attrs, cg * c.kh * c.kw, `conv2d x ${x} w ${[K, cg, c.kh, c.kw]}`);
  }), runs(80));
});

// Attention: the score error (D-long dots, scaled) shifts each probability by at most about
// twice its size in relative terms, plus the exp approximation (~2 ulp); the output is then an
// Sk-long convex combination of v. Allowed: |v|max (2 (D + 2) 2^-23 scale Sqk + (Sk + 4) 2^-23) + 1e-6,
// with Sqk = max |q| |k| D.
test("attention: with and without masks of every broadcast shape", { timeout: 600_000 }, async () => {
  const masks = (b: number, h: number, sq: number, sk: number): (number[] | undefined)[] => [undefined, [b, h, sq, sk], [b, 1, 1, sk], [1, 1, sq, sk], [sk], [sq, 1], [h, 1, sk]];
  const arb = fc.record({ b: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 3 }), sq: fc.integer({ min: 1, max: 13 }), sk: fc.integer({ min: 1, max: 19 }), d: fc.integer({ min: 1, max: 17 }), dv: fc.integer({ min: 1, max: 17 }), mask: fc.integer({ min: 0, max: 6 }), seed });
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    const r = rand(c.seed);
    const [q, k, v] = [[c.b, c.h, c.sq, c.d], [c.b, c.h, c.sk, c.d], [c.b, c.h, c.sk, c.dv]];
    const ms = masks(c.b, c.h, c.sq, c.sk)[c.mask];
    const ops: Operand[] = [q, k, v].map((s) => ({ shape: s, data: data(r, s) }));
    if (ms) ops.push({ shape: ms, data: data(r, ms).map((x) => 3 * x), constant: true });
    const scale = 1 / Math.sqrt(c.d);
    const tol = 2 * (c.d + 2) * U2 * scale * c.d + (c.sk + 4) * U2 + 1e-6;
    await check("attention", ops, { scale }, () => tol, `attention q ${q} k ${k} v ${v} mask ${ms}`);
  }), runs(40));
});

test("depthwise conv2d: interior pixel groups and borders on wider maps", { timeout: 600_000 }, async () => {
  const arb = fc.record({
    c: fc.integer({ min: 1, max: 9 }), h: fc.integer({ min: 1, max: 7 }), w: fc.integer({ min: 1, max: 23 }), k: fc.integer({ min: 1, max: 5 }),
    stride: fc.integer({ min: 1, max: 2 }), dilation: fc.integer({ min: 1, max: 2 }), pads: fc.tuple(...[0, 0, 0, 0].map(() => fc.integer({ min: 0, max: 2 }))), epi: epilogueArb, seed,
  }).filter((c) => c.h + c.pads[0] + c.pads[2] >= c.dilation * (c.k - 1) + 1 && c.w + c.pads[1] + c.pads[3] >= c.dilation * (c.k - 1) + 1);
  await fc.assert(fc.asyncProperty(arb, async (c) => {
    const r = rand(c.seed);
    const [oh, ow] = [0, 1].map((i) => Math.floor(([c.h, c.w][i]! + c.pads[i]! + c.pads[i + 2]! - c.dilation * (c.k - 1) - 1) / c.stride) + 1);
    const [x, y] = [[1, c.h, c.w, c.c], [1, oh!, ow!, c.c]];
    const [epi, extra] = epilogueOf(c.epi, r, c.c, y);
    const attrs: Attrs = { stride: [c.stride, c.stride], pads: c.pads, dilation: [c.dilation, c.dilation], groups: c.c, layout: "NHWC", ...epi };
    await checkGemm("conv2d", [{ shape: x, data: data(r, x) }, { shape: [c.c, 1, c.k, c.k], data: data(r, [c.c, 1, c.k, c.k]), constant: true }, ...extra], attrs, c.k * c.k, `depthwise x ${x} k${c.k}`);
  }), runs(60));
});
