// linear and matmul: one GEMM each (per batch for batched matmul), B packed at load time
// when it is a constant, else at run time into scratch.
import binaryen from "binaryen";
import { numel } from "../../../src/ir/graph.js";
import type { NodeOf } from "../../../src/ir/ops.js";
import { broadcastOffsets } from "../../../src/ir/shape.js";
import type { KernelContext, Kernels } from "../context.js";
import { Fn, type V } from "./fn.js";
import { gemm, packBRuntime, packedB, packedFloats } from "./gemm.js";
import { at, constData, nodeEpilogue, plus, shapeOf } from "./node.js";

/**
 * B [K x N] from value `w`, read as w[k * sk + n * sn] for batch slice `slice` (slice size K*N):
 * packed into the data region at load time when constant, else a statement packing it into `scratch`.
 */
export function operandB(ctx: KernelContext, w: number, K: number, N: number, sk: number, sn: number, slices: number, scratch: V): { b: (slice: V) => V; pack?: (slice: V) => binaryen.ExpressionRef } {
  const bytes = packedFloats(K, N) * 4;
  if (constData(ctx.graph, w)) {
    const base = at(ctx, ctx.addPacked(w, packedB(K, N, [{ count: K, src: sk }], sn, slices, K * N)));
    return { b: (slice) => plus(ctx, base, slice, bytes)! };
  }
  const fn = packBRuntime(ctx, K, N, sk, sn);
  const src = at(ctx, ctx.addr(w));
  return { b: () => scratch, pack: (slice) => ctx.mod.call(fn, [plus(ctx, src, slice, K * N * 4)!(), scratch()], binaryen.none) };
}

/** A run-time packing of B into shared scratch, before a partitioned GEMM reads it: on one thread, then a barrier. */
const packOnce = (ctx: KernelContext, pack: binaryen.ExpressionRef) => [ctx.serial(pack), ctx.barrier()];

function linear(ctx: KernelContext, node: NodeOf<"linear">): string {
  const [x, w] = node.inputs as [number, number];
  const [N, K] = shapeOf(ctx.graph, w) as [number, number];
  const M = numel(shapeOf(ctx.graph, x)) / K;
  const f = new Fn(ctx.mod, ctx.relaxed);
  const needs = constData(ctx.graph, w) ? 0 : packedFloats(K, N) * 4;
  const B = operandB(ctx, w, K, N, 1, K, 1, at(ctx, needs ? ctx.scratch(needs) : 0));
  const zero = () => ctx.mod.i32.const(0);
  return f.finish(ctx.fnName("linear"), [
    ...(B.pack ? packOnce(ctx, B.pack(zero)) : []),
    gemm(ctx, f, { M, N, K, lda: K, ldc: N, a: at(ctx, ctx.addr(x)), b: B.b(zero), c: at(ctx, ctx.addr(node.outputs[0]!)), ...nodeEpilogue(ctx, node), part: ctx.part }),
  ]);
}

function matmul(ctx: KernelContext, node: NodeOf<"matmul">): string {
  const g = ctx.graph;
  const [a, bv] = node.inputs as [number, number];
  const [as, bs, ys] = [shapeOf(g, a), shapeOf(g, bv), shapeOf(g, node.outputs[0]!)];
  const [M, K] = as.slice(-2) as [number, number];
  const N = bs[bs.length - 1]!;
  const f = new Fn(ctx.mod, ctx.relaxed);
  const e = nodeEpilogue(ctx, node);
  const bSlices = numel(bs.slice(0, -2));
  // One B for every batch: the batches stack into the rows of a single GEMM.
  const batches = bSlices === 1 ? 1 : numel(ys.slice(0, -2));
  const rows = bSlices === 1 ? numel(as) / K : M;
  const packBytes = constData(g, bv) ? 0 : packedFloats(K, N) * 4;
  const base = { M: rows, N, K, lda: K, ldc: N, ...e };
  const [aAddr, cAddr] = [at(ctx, ctx.addr(a)), at(ctx, ctx.addr(node.outputs[0]!))];
  const name = ctx.fnName("matmul");
  if (batches === 1) {
    const B = operandB(ctx, bv, K, N, N, 1, bSlices, at(ctx, packBytes ? ctx.scratch(packBytes) : 0));
    const zero = () => ctx.mod.i32.const(0);
    return f.finish(name, [...(B.pack ? packOnce(ctx, B.pack(zero)) : []), gemm(ctx, f, { ...base, a: aAddr, b: B.b(zero), c: cAddr, part: ctx.part })]);
  }
  // Batches go to the threads whole, each packing its B slices into its own scratch.
  const B = operandB(ctx, bv, K, N, N, 1, bSlices, packBytes ? ctx.threadScratch(packBytes).mine : at(ctx, 0));
  // Broadcast batch dims: a table of (A slice, B slice) indices per output batch.
  const [ai, bi] = [broadcastOffsets(as.slice(0, -2), ys.slice(0, -2)), broadcastOffsets(bs.slice(0, -2), ys.slice(0, -2))];
  const table = ctx.addData(Int32Array.from([...ai].flatMap((v, i) => [v, bi[i]!])));
  const [aSlice, bSlice] = [f.local(binaryen.i32), f.local(binaryen.i32)];
  const m = ctx.mod;
  const [lo, hi] = ctx.part(batches);
  return f.finish(name, [
    f.loop(lo(), hi, 1, (i) => {
      const row = () => m.i32.add(m.i32.mul(i(), f.c(8)), f.c(table));
      const res = plus(ctx, e.residual, i, M * N * 4);
      return [
        f.set(aSlice, m.i32.load(0, 4, row())),
        f.set(bSlice, m.i32.load(4, 4, row())),
        ...(B.pack ? [B.pack(f.get(bSlice))] : []),
        gemm(ctx, f, { ...base, ...(res ? { residual: res } : {}), a: plus(ctx, aAddr, f.get(aSlice), M * K * 4)!, b: B.b(f.get(bSlice)), c: plus(ctx, cAddr, i, M * N * 4)! }),
      ];
    }),
  ]);
}

export const gemmKernels: Kernels<"linear" | "matmul"> = { linear, matmul };
