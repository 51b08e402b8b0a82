// attention: per (batch, head) two GEMMs around a row softmax, in scratch:
//   S = (q kᵀ) * scale + mask   (GEMM epilogue: alpha = scale, mask as a residual with row stride)
//   P = softmax_rows(S)          (SIMD max / exp / sum / scale passes)
//   y = P v                      (GEMM)
// kᵀ and v are packed into panels at run time. A mask constant along the last axis adds one value
// c to a whole row of scores, which softmax ignores unless c is NaN or ±Inf (the row is then NaN,
// Inf - Inf): it is not added, but c - c (0, or NaN) is added to the row's outputs.
import binaryen from "binaryen";
import type { NodeOf } from "../../../src/ir/ops.js";
import { broadcastOffsets } from "../../../src/ir/shape.js";
import type { KernelContext, Kernels } from "../context.js";
import { Lanes } from "../lanes.js";
import { exp } from "../math.js";
import { Fn, type V } from "./fn.js";
import { gemm, packBRuntime, packedFloats, type Emit } from "./gemm.js";
import { at, plus, shapeOf } from "./node.js";

type Expr = binaryen.ExpressionRef;

/** (row) -> (): in-place softmax of `n` floats. */
function softmaxRow(e: Emit, n: number): string {
  const name = e.fnName(`softmax_row_${n}`);
  const m = e.mod;
  const f = new Fn(m, e.relaxed, [binaryen.i32]);
  const [F, B] = [m.f32x4, m.v128];
  const row = f.get(0);
  const full = n - (n % 4);
  const rem = n % 4;
  // All-ones in the `rem` valid lanes of the tail vector.
  const valid = () => B.const(Array.from({ length: 16 }, (_, i) => (i < rem * 4 ? 255 : 0)));
  const acc = f.local(binaryen.v128);
  const scalar = f.local(binaryen.v128);
  // Folds `acc` across lanes with op, leaving the result in every lane.
  const fold = (op: (a: Expr, b: Expr) => Expr): Expr[] =>
    [[8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11]].map((perm) =>
      f.set(acc, op(f.get(acc)(), m.i8x16.shuffle(f.get(acc)(), f.get(acc)(), perm))));
  // For each vector (4 lanes, then the tail): body(ptr, offset, lanes) -> statements.
  const sweep = (body: (p: V, lanes: number) => Expr[]): Expr[] => [
    ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (o) => body(() => m.i32.add(row(), o()), 4))] : []),
    ...(rem ? body(() => m.i32.add(row(), f.c(full * 4)), rem) : []),
  ];
  const x = (p: V, lanes: number) => f.load(p, 0, lanes);
  const body: Expr[] = [
    f.set(acc, f.splat(-Infinity)),
    ...sweep((p, lanes) => [f.set(acc, F.max(f.get(acc)(), lanes === 4 ? x(p, 4) : B.bitselect(x(p, lanes), f.splat(-Infinity), valid())))]),
    ...fold(F.max),
    f.set(scalar, f.get(acc)()),
    f.set(acc, f.splat(0)),
    ...sweep((p, lanes) => {
      const ex = exp(new Lanes(f, 4, e.relaxed), () => F.sub(x(p, lanes), f.get(scalar)()))();
      const v = f.tmp(lanes === 4 ? ex : B.and(ex, valid()));
      return [...f.take(), f.store(p, 0, lanes, v), f.set(acc, F.add(f.get(acc)(), v()))];
    }),
    ...fold(F.add),
    f.set(scalar, F.div(f.splat(1), f.get(acc)())),
    ...sweep((p, lanes) => [f.store(p, 0, lanes, () => F.mul(x(p, lanes), f.get(scalar)()))]),
  ];
  return f.finish(name, body);
}

function attention(ctx: KernelContext, node: NodeOf<"attention">): string {
  const g = ctx.graph;
  const m = ctx.mod;
  const [q, k, v, mask] = node.inputs as [number, number, number, number | undefined];
  const [Bn, H, Sq, D] = shapeOf(g, q) as [number, number, number, number];
  const [Sk, Dv] = [shapeOf(g, k)[2]!, shapeOf(g, v)[3]!];
  const ms = mask === undefined ? undefined : shapeOf(g, mask);
  const useMask = ms !== undefined && (ms[ms.length - 1] ?? 1) !== 1;
  const [kp, vp] = [packedFloats(D, Sk) * 4, packedFloats(Sk, Dv) * 4];
  const packK = packBRuntime(ctx, D, Sk, 1, D);
  const packV = packBRuntime(ctx, Sk, Dv, Dv, 1);
  const soft = softmaxRow(ctx, Sk);
  const f = new Fn(m, ctx.relaxed);
  // (batch, head) pairs split over the threads, each with its own packed K, V and scores.
  const mine = f.local(binaryen.i32);
  const from = (bytes: number): V => () => m.i32.add(f.get(mine)(), f.c(bytes));
  const [kAt, vAt, sAt] = [from(0), from(kp), from(kp + vp)];
  const [lo, hi] = ctx.part(Bn * H);
  const bh = f.local(binaryen.i32);
  const slice = (value: number, floats: number) => plus(ctx, at(ctx, ctx.addr(value)), f.get(bh), floats * 4)!;
  let maskArgs = {};
  if (useMask) {
    // Per (batch, head): where its [Sq, Sk] mask slice starts; rows repeat when the mask's row axis is 1.
    const full = [Bn, H, Sq, Sk];
    const table = ctx.addData(broadcastOffsets(ms, full).filter((_, i) => i % (Sq * Sk) === 0).map((o) => ctx.addr(mask!) + o * 4));
    const ldr = (ms[ms.length - 2] ?? 1) === 1 ? 0 : Sk;
    maskArgs = { residual: () => m.i32.load(0, 4, m.i32.add(m.i32.mul(f.get(bh)(), f.c(4)), f.c(table))), ldr };
  }
  const call = (fn: string, args: Expr[]) => m.call(fn, args, binaryen.none);
  const out = slice(node.outputs[0]!, Sq * Dv);
  return f.finish(ctx.fnName("attention"), [
    f.set(mine, ctx.threadScratch(kp + vp + Sq * Sk * 4).mine()),
    f.loop(lo(), hi, 1, (i) => [
      f.set(bh, i()),
      call(packK, [slice(k, Sk * D)(), kAt()]),
      call(packV, [slice(v, Sk * Dv)(), vAt()]),
      gemm(ctx, f, {
        M: Sq, N: Sk, K: D, lda: D, ldc: Sk, a: slice(q, Sq * D), b: kAt, c: sAt,
        epi: { alpha: node.attrs.scale, bias: false, residual: useMask, attrs: {} }, ...maskArgs,
      }),
      f.loop(f.c(0), Sq, 1, (r) => [call(soft, [m.i32.add(sAt(), m.i32.mul(r(), f.c(Sk * 4)))])]),
      gemm(ctx, f, { M: Sq, N: Dv, K: Sk, lda: Sk, ldc: Dv, a: sAt, b: vAt, c: out, epi: { bias: false, residual: false, attrs: {} } }),
      ...(ms !== undefined && !useMask ? [rowMaskNaN(ctx, f, { bh, Sq, Dv, out, rows: broadcastOffsets(ms, [Bn, H, Sq, 1]).map((o) => ctx.addr(mask!) + o * 4) })] : []),
    ]),
  ]);
}

/** y[row] += c - c for each query row's mask value c (at the address rows[bh * Sq + row]): NaN where c is not finite. */
function rowMaskNaN(ctx: KernelContext, f: Fn, p: { bh: number; Sq: number; Dv: number; out: V; rows: Int32Array }): Expr {
  const m = ctx.mod;
  const table = ctx.addData(p.rows);
  const [c, d, y] = [f.local(binaryen.f32), f.local(binaryen.v128), f.local(binaryen.i32)];
  const full = p.Dv - (p.Dv % 4);
  const add = (o: V, lanes: number) => f.store(() => m.i32.add(f.get(y)(), o()), 0, lanes, () => m.f32x4.add(f.load(() => m.i32.add(f.get(y)(), o()), 0, lanes), f.get(d)()));
  return f.loop(f.c(0), p.Sq, 1, (r) => [
    f.set(c, m.f32.load(0, 4, m.i32.load(0, 4, m.i32.add(f.c(table), m.i32.mul(m.i32.add(m.i32.mul(f.get(p.bh)(), f.c(p.Sq)), r()), f.c(4)))))),
    f.set(d, m.f32x4.splat(m.f32.sub(f.get(c)(), f.get(c)()))),
    f.set(y, m.i32.add(p.out(), m.i32.mul(r(), f.c(p.Dv * 4)))),
    ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (o) => [add(o, 4)])] : []),
    ...(p.Dv % 4 ? [add(() => f.c(full * 4), p.Dv % 4)] : []),
  ]);
}

export const attentionKernels: Kernels<"attention"> = { attention };
