// resize (nearest and linear) from tap tables computed at compile time (ir/resize.ts) and baked
// into the weights region: per output row and column, the byte offsets of the two input taps
// and their f32 weights. NHWC runs f32x4 across channels per output pixel. NCHW nearest copies
// one element per output; NCHW linear blends the two input rows of an output row into scratch
// (f32x4 along W), then each output column from two elements of that row.
import binaryen from "binaryen";
import type { NodeOf } from "../../src/ir/ops.js";
import { resizeTables, type AxisTaps } from "../../src/ir/resize.js";
import type { KernelContext, Kernels } from "./context.js";
import { address, Code, Lanes, type X } from "./lanes.js";
import { spatialLayout } from "./pool.js";

function resize(ctx: KernelContext, node: NodeOf<"resize">): string {
  const a = node.attrs;
  const { nhwc, x, y, n, ch, h, w, oh, ow, xs, ys } = spatialLayout(ctx, node);
  const linear = a.mode === "linear";
  const [ty, tx] = resizeTables([n, ch, h, w], a.sizes, a.scales, a);
  const c = new Code(ctx.mod);
  const m = c.m;
  const k = (v: number) => () => m.i32.const(v);
  const i32 = (e: X) => c.let(e, binaryen.i32);
  const f32 = (e: X) => c.let(e, binaryen.f32);

  /** An axis's tables in memory: tap byte offsets (index times `stride` bytes) and weights. */
  const baked = (t: AxisTaps, stride: number) => {
    const offsets = (i: Int32Array) => ctx.addData(i.map((v) => v * stride));
    const [i0, i1] = [offsets(t.i0), offsets(t.i1)];
    const [w0, w1] = [ctx.addData(Float32Array.from(t.w1, (v) => 1 - v)), ctx.addData(Float32Array.from(t.w1))];
    return (o: X) => {
      const at = (base: number) => address(m, k(base), [[o, 4]]);
      return { i0: i32(() => m.i32.load(0, 4, at(i0)())), i1: i32(() => m.i32.load(0, 4, at(i1)())), w0: f32(() => m.f32.load(0, 4, at(w0)())), w1: f32(() => m.f32.load(0, 4, at(w1)())) };
    };
  };
  const [rows, cols] = [baked(ty, xs[2]!), baked(tx, xs[3]!)];
  const plus = (base: X, off: X) => () => m.i32.add(base(), off());

  if (nhwc)
    c.nestPart([n, oh, ow], ctx.part, ([ni, oy, ox]) => {
      const xb = i32(address(m, k(ctx.addr(x)), [[ni!, xs[0]!]]));
      const yb = i32(address(m, k(ctx.addr(y)), [[ni!, ys[0]!], [oy!, ys[2]!], [ox!, ys[3]!]]));
      const [r, q] = [rows(oy!), cols(ox!)];
      c.lanes(ch, ctx.relaxed, (L, j) => {
        const tap = (row: X, col: X) => L.load("f32", address(m, plus(plus(xb, row), col), [[j, 4]]), 1);
        const out = linear
          ? L.add(L.mul(L.splat(r.w0), L.add(L.mul(L.splat(q.w0), tap(r.i0, q.i0)), L.mul(L.splat(q.w1), tap(r.i0, q.i1)))),
              L.mul(L.splat(r.w1), L.add(L.mul(L.splat(q.w0), tap(r.i1, q.i0)), L.mul(L.splat(q.w1), tap(r.i1, q.i1)))))
          : tap(r.i0, q.i0);
        L.store("f32", address(m, yb, [[j, 4]]), 1, out);
      });
    });
  else {
    const row = linear ? ctx.scratch(w * 4) : 0;
    c.nest([n * ch, oh], ([plane, oy]) => {
      const xb = i32(address(m, k(ctx.addr(x)), [[plane!, xs[1]!]]));
      const yb = i32(address(m, k(ctx.addr(y)), [[plane!, ys[1]!], [oy!, ys[2]!]]));
      const r = rows(oy!);
      const L1 = new Lanes(c, 1, ctx.relaxed);
      if (!linear) {
        const src = i32(plus(xb, r.i0));
        c.loop(ow, 1, (ox) => L1.store("f32", address(m, yb, [[ox, 4]]), 1, L1.load("f32", plus(src, cols(ox).i0), 1)));
        return;
      }
      const [top, bottom] = [i32(plus(xb, r.i0)), i32(plus(xb, r.i1))];
      c.lanes(w, ctx.relaxed, (L, j) => {
        const at = (base: X) => L.load("f32", address(m, base, [[j, 4]]), 1);
        L.store("f32", address(m, k(row), [[j, 4]]), 1, L.add(L.mul(L.splat(r.w0), at(top)), L.mul(L.splat(r.w1), at(bottom))));
      });
      c.loop(ow, 1, (ox) => {
        const q = cols(ox);
        const at = (off: X) => L1.load("f32", plus(k(row), off), 1);
        L1.store("f32", address(m, yb, [[ox, 4]]), 1, L1.add(L1.mul(q.w0, at(q.i0)), L1.mul(q.w1, at(q.i1))));
      });
    });
  }
  return c.finish(ctx.fnName(node.op));
}

export const resizeKernels: Kernels<"resize"> = { resize };
