// conv2d on the GEMM: in NHWC the output [N*OH*OW, K] is A . B with B the weight packed as
// [(ky, kx, c), k] panels at load time (the module's prepare, weights.ts).
// - 1x1, stride 1, no padding, one group: A is the input itself.
// - otherwise im2col: rows of A (one per output pixel, C/g * kh * kw long) are gathered into
//   scratch a chunk at a time, then the GEMM runs on the chunk. Chosen over an indirect /
//   implicit GEMM because the micro-kernel stays the one tuned kernel (contiguous A rows), the
//   copy is O(M K) against the GEMM's O(M K N), and a chunk of ~256 KiB stays in L2.
// - grouped convs: one GEMM per group, writing its column slice of C (ldc = K).
// - depthwise (groups == C == K): a dedicated channel-SIMD kernel (conv-depthwise.ts).
// - 3x3 stride 1 with enough channels: Winograd (winograd.ts).
// - NCHW (the layout pass did not run): transpose into scratch, NHWC conv, transpose back.
import binaryen from "binaryen";
import { isNHWC, type NodeOf } from "../../src/ir/ops.js";
import { depthwise } from "./conv-depthwise.js";
import { convShape, type ConvScratch, type ConvShape, type Scratch } from "./conv-shape.js";
import type { KernelContext, Kernels } from "./context.js";
import { Fn, type V } from "./gemm/fn.js";
import { gemm, packedB, packedFloats } from "./gemm/gemm.js";
import { at, constData, nodeEpilogue, plus, type NodeEpilogue } from "./gemm/node.js";
import { winograd, winogradScratch, winogradTile } from "./winograd.js";

type Expr = binaryen.ExpressionRef;

/** Bytes of scratch the NHWC conv needs: shared by the threads, and each thread's own. */
function convScratch(s: ConvShape): ConvScratch {
  const wino = winogradTile(s);
  return wino ? winogradScratch(s, wino) : { shared: 0, perThread: im2colRows(s) * (s.C / s.groups) * s.kh * s.kw * 4 };
}


/**
 * How much more than an even share of the rows the busiest thread may take when threads take
 * whole im2col chunks; beyond it, all threads work on each chunk (a barrier per chunk).
 */
const CHUNK_IMBALANCE = 1.08;

/** Rows of A im2col gathers at a time (0 when A is the input itself). */
function im2colRows(s: ConvShape): number {
  const direct = s.kh === 1 && s.kw === 1 && s.sh === 1 && s.sw === 1 && s.pt === 0 && s.pl === 0 && s.groups === 1;
  const depthwise = s.groups === s.C && s.K === s.C;
  if (direct || depthwise) return 0;
  const kd = (s.C / s.groups) * s.kh * s.kw;
  const rows = Math.max(96, Math.floor(65536 / kd));
  return Math.min(s.N * s.OH * s.OW, rows - (rows % 12));
}

/** (m0, g, dst, lo, hi) -> (): im2col rows m0+lo .. m0+hi-1 of group g into rows lo .. hi-1 of dst, columns ordered (ky, kx, c). */
function im2col(ctx: KernelContext, s: ConvShape, x: V): string {
  const m = ctx.mod;
  const I32 = binaryen.i32;
  const f = new Fn(m, ctx.relaxed, [I32, I32, I32, I32, I32]);
  const cg = s.C / s.groups;
  const [mi, src, d, iy, ix] = [0, 0, 0, 0, 0].map(() => f.local(binaryen.i32)) as [number, number, number, number, number];
  const g = (i: number) => f.get(i)();
  const add = (a: Expr, b: Expr) => m.i32.add(a, b);
  const mul = (a: Expr, k: number) => m.i32.mul(a, f.c(k));
  const ohw = s.OH * s.OW;
  // Copies (or zeroes) cg floats to d, then advances d.
  const row = (from?: V): Expr[] => {
    const piece = (o: V, lanes: number) => f.store(() => add(g(d), o()), 0, lanes, () => (from ? f.load(() => add(from(), o()), 0, lanes) : f.splat(0)));
    const full = cg - (cg % 4);
    return [
      ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (o) => [piece(o, 4)])] : []),
      ...(cg % 4 ? [piece(() => f.c(full * 4), cg % 4)] : []),
      f.set(d, add(g(d), f.c(cg * 4))),
    ];
  };
  const body = f.loop(f.get(3)(), f.get(4), 1, (r) => [
    f.set(mi, add(f.get(0)(), r())),
    // src: pixel (n, 0, 0), channel g*cg; iy, ix: the window's top-left corner.
    f.set(src, add(add(x(), mul(m.i32.div_u(g(mi), f.c(ohw)), s.H * s.W * s.C * 4)), mul(f.get(1)(), cg * 4))),
    f.set(iy, add(mul(m.i32.div_u(m.i32.rem_u(g(mi), f.c(ohw)), f.c(s.OW)), s.sh), f.c(-s.pt))),
    f.set(ix, add(mul(m.i32.rem_u(g(mi), f.c(s.OW)), s.sw), f.c(-s.pl))),
    f.loop(f.c(0), s.kh, 1, (ky) => [
      f.loop(f.c(0), s.kw, 1, (kx) => {
        const y = () => add(g(iy), mul(ky(), s.dh));
        const xx = () => add(g(ix), mul(kx(), s.dw));
        const inside = m.i32.and(m.i32.lt_u(y(), f.c(s.H)), m.i32.lt_u(xx(), f.c(s.W)));
        return [m.if(inside, m.block(null, row(() => add(g(src), mul(add(mul(y(), s.W), xx()), s.C * 4)))), m.block(null, row()))];
      }),
    ]),
  ]);
  return f.finish(ctx.fnName("im2col"), [f.set(d, add(f.get(2)(), mul(f.get(3)(), cg * s.kh * s.kw * 4))), body]);
}

/** The NHWC conv from x to y (addresses), epilogue included, split over the threads. */
function convNHWC(ctx: KernelContext, f: Fn, s: ConvShape, w: number, x: V, y: V, e: NodeEpilogue, scratch: Scratch): Expr {
  if (s.groups === s.C && s.K === s.C) return depthwise(ctx, f, s, w, x, y, e);
  const wino = winogradTile(s);
  if (wino) return winograd(ctx, f, s, wino, w, x, y, e, scratch);
  const m = ctx.mod;
  const [cg, kg, taps] = [s.C / s.groups, s.K / s.groups, s.kh * s.kw];
  const Kd = cg * taps;
  const slice = packedFloats(Kd, kg);
  // B[(ky, kx, c)][n] of group g = w[g*kg + n][c][ky][kx].
  const b = at(ctx, ctx.addPacked(w, packedB(Kd, kg, [{ count: taps, src: 1 }, { count: cg, src: taps }], cg * taps, s.groups, kg * cg * taps)));
  const M = s.N * s.OH * s.OW;
  const chunk = im2colRows(s);
  const common = { N: kg, K: Kd, ldc: s.K, epi: e.epi };
  if (chunk === 0) return gemm(ctx, f, { ...common, ...e, M, lda: Kd, a: x, b, c: y, part: ctx.part });
  const gi = f.local(binaryen.i32);
  const group = (g: V | undefined, bytes: number) => plus(ctx, g, f.get(gi), bytes);
  const perChannel = (v: V | undefined) => group(v, kg * 4);
  const fill = im2col(ctx, s, x);
  // Rows m0 .. m0+rows-1 of group g's output from the im2col rows in `a`; `part` splits the GEMM.
  const groupRows = (m0: V, rows: number, a: V, part?: KernelContext["part"]): Expr => {
    const out = (v: V | undefined) => v && group(plus(ctx, v, m0, s.K * 4), kg * 4);
    return gemm(ctx, f, {
      ...common, M: rows, lda: Kd, a, b: group(b, slice * 4)!, c: out(y)!,
      ...(e.bias ? { bias: perChannel(e.bias) } : {}),
      ...(e.residual ? { residual: out(e.residual) } : {}),
      ...(e.slope ? { slope: e.epi.slope === "vector" ? perChannel(e.slope) : e.slope } : {}),
      ...(part ? { part } : {}),
    });
  };
  const eachGroup = (body: (g: V) => Expr[]) => f.loop(f.c(0), s.groups, 1, (g) => [f.set(gi, g()), ...body(g)]);
  // Whole chunks per thread, each gathered into the thread's own scratch; the short last one with the last share.
  const fullChunks = Math.floor(M / chunk);
  const chunks = Math.ceil(M / chunk);
  const byChunks = (): Expr => {
    const rowsAt = (m0: V, rows: number) => eachGroup((g) => [m.call(fill, [m0(), g(), scratch.mine(), f.c(0), f.c(rows)], binaryen.none), groupRows(m0, rows, scratch.mine)]);
    const [lo, hi] = ctx.part(chunks);
    const end = () => m.select(m.i32.lt_s(hi(), f.c(fullChunks)), hi(), f.c(fullChunks));
    return m.block(null, [
      f.loop(m.i32.mul(lo(), f.c(chunk)), () => m.i32.mul(end(), f.c(chunk)), chunk, (m0) => [rowsAt(m0, chunk)]),
      ...(M % chunk ? [m.if(m.i32.gt_s(hi(), f.c(fullChunks)), rowsAt(() => f.c(fullChunks * chunk), M % chunk))] : []),
    ]);
  };
  // Too few chunks to split evenly (the 7x7 maps at the end of ResNet-50 are one): every thread
  // on each chunk, gathering its share of the rows, then its share of the GEMM. Two buffers (the
  // first two threads' scratch) taken in turn, so one barrier per chunk: a thread writing a buffer
  // has passed the barrier every thread reached after its last GEMM on that buffer.
  const together = (): Expr => {
    const turn = f.local(binaryen.i32);
    const buffer = () => m.select(m.i32.and(f.get(turn)(), f.c(1)), f.c(scratch.of!(1)), f.c(scratch.of!(0)));
    const rowsAt = (m0: V, rows: number) => {
      const [lo, hi] = ctx.part(rows);
      return eachGroup((g) => [
        m.call(fill, [m0(), g(), buffer(), lo(), hi()], binaryen.none),
        ctx.barrier(),
        groupRows(m0, rows, buffer, ctx.part),
        f.set(turn, m.i32.add(f.get(turn)(), f.c(1))),
      ]);
    };
    return m.block(null, [
      f.set(turn, f.c(0)),
      ...(fullChunks > 0 ? [f.loop(f.c(0), fullChunks * chunk, chunk, (m0) => [rowsAt(m0, chunk)])] : []),
      ...(M % chunk ? [rowsAt(() => f.c(fullChunks * chunk), M % chunk)] : []),
    ]);
  };
  // The busiest thread's rows with whole chunks, against an even split.
  const evenly = (count: number) => {
    const rows = (k: number) => Math.min(M, Math.floor((chunks * (k + 1)) / count) * chunk) - Math.min(M, Math.floor((chunks * k) / count) * chunk);
    return Math.max(...Array.from({ length: count }, (_, k) => rows(k))) <= (M / count) * CHUNK_IMBALANCE;
  };
  if (!scratch.of) throw new Error("wasm conv2d: im2col needs per-thread scratch");
  return m.if(ctx.threadCountIn(evenly), byChunks(), together());
}

/** (src, dst) -> (): dst[b][c][r] = src[b][r][c]. */
function transpose(ctx: KernelContext, batch: number, rows: number, cols: number): string {
  const m = ctx.mod;
  const f = new Fn(m, ctx.relaxed, [binaryen.i32, binaryen.i32]);
  const body = f.loop(f.c(0), batch * rows, 1, (br) => [
    f.loop(f.c(0), cols, 1, (c) => {
      const b = m.i32.div_u(br(), f.c(rows));
      const dst = m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(m.i32.add(m.i32.mul(b, f.c(cols)), c()), f.c(rows)), m.i32.rem_u(br(), f.c(rows))), f.c(4)), f.get(1)());
      return [m.f32.store(0, 4, dst, m.f32.load(0, 4, m.i32.add(f.get(0)(), m.i32.mul(m.i32.add(m.i32.mul(br(), f.c(cols)), c()), f.c(4)))))];
    }),
  ]);
  return f.finish(ctx.fnName("transpose"), [body]);
}

/** The NHWC body of a convolution: x to y (addresses), its epilogue and its scratch. */
export type ConvBody = (f: Fn, x: V, y: V, e: NodeEpilogue, scratch: Scratch) => Expr;

/**
 * The kernel function of a convolution node whose NHWC form is `body` (needing `need` scratch;
 * `parallel`: the body splits itself over the threads, else the kernel runs on one). NCHW: x, y
 * and the residual go through NHWC copies in shared scratch, after the body's, copied on one thread.
 */
export function convKernel(ctx: KernelContext, node: NodeOf<"conv2d" | "conv_transpose2d">, s: ConvShape, need: ConvScratch, parallel: boolean, body: ConvBody): string {
  const f = new Fn(ctx.mod, ctx.relaxed);
  const e = nodeEpilogue(ctx, node);
  const [x, y] = [ctx.addr(node.inputs[0]!), ctx.addr(node.outputs[0]!)];
  const name = ctx.fnName(node.op);
  const nchw = !isNHWC(node.attrs);
  const [xb, yb] = nchw ? [s.N * s.C * s.H * s.W * 4, s.N * s.K * s.OH * s.OW * 4] : [0, 0];
  const shared = need.shared + xb + yb * (e.residual ? 2 : 1);
  const scratch: Scratch = need.perThread ? ctx.threadScratch(need.perThread, shared) : { shared: shared ? ctx.scratch(shared) : 0, mine: at(ctx, 0) };
  if (!nchw) return f.finish(name, [body(f, at(ctx, x), at(ctx, y), e, scratch)]);
  const base = scratch.shared;
  const [xs, ys, rs] = [base + need.shared, base + need.shared + xb, base + need.shared + xb + yb];
  const call = (fn: string, a: number | V, b: number) => ctx.mod.call(fn, [typeof a === "number" ? f.c(a) : a(), f.c(b)], binaryen.none);
  // Copies on thread 0, with barriers around a parallel body.
  const copy = (fn: string, a: number | V, b: number) => (parallel ? ctx.serial(call(fn, a, b)) : call(fn, a, b));
  const sync = parallel ? [ctx.barrier()] : [];
  return f.finish(name, [
    copy(transpose(ctx, s.N, s.C, s.H * s.W), x, xs),
    ...(e.residual ? [copy(transpose(ctx, s.N, s.K, s.OH * s.OW), e.residual, rs)] : []),
    ...sync,
    body(f, at(ctx, xs), at(ctx, ys), { ...e, ...(e.residual ? { residual: at(ctx, rs) } : {}) }, scratch),
    ...sync,
    copy(transpose(ctx, s.N, s.OH * s.OW, s.K), ys, y),
  ]);
}

function conv2d(ctx: KernelContext, node: NodeOf<"conv2d">): string {
  const s = convShape(ctx, node);
  const w = node.inputs[1]!;
  if (!constData(ctx.graph, w)) throw new Error("wasm conv2d: the weight must be a constant");
  return convKernel(ctx, node, s, convScratch(s), true, (f, x, y, e, scratch) => convNHWC(ctx, f, s, w, x, y, e, scratch));
}

export const convKernels: Kernels<"conv2d"> = { conv2d };
