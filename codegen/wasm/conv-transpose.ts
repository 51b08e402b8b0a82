// conv_transpose2d on the GEMM, in NHWC: per group, the columns [pixels, (ky, kx, k)] of every
// input pixel's contribution are A . B, A the input's rows (C/g long, row stride C, no copy) and
// B the weight packed as [c, (ky, kx, k)] panels at compile time; col2im then adds each column
// block to its output pixel (iy*sh - pt + ky*dh, ix*sw - pl + kx*dw), f32x4 across channels.
// - Chosen over a gather (one conv2d per output phase) because the GEMM stays the one tuned
//   micro-kernel with no im2col copy (A is the input itself) and the scatter is O(outputs * taps
//   overlap) against the GEMM's O(outputs * C/g).
// - Input pixels go a chunk at a time (~256 KiB of columns, in L2) so scratch stays small.
// - stride == kernel (dilation 1, no output_padding), PaddleOCR's 2x upsampling: every output
//   pixel gets exactly one column block, so col2im stores it, through the epilogue (bias,
//   residual, activation), and nothing is zeroed.
// - Otherwise the epilogue is one pass over the finished output.
// - NCHW (the layout pass did not run): through NHWC copies, as conv2d (convKernel).
import binaryen from "binaryen";
import type { NodeOf } from "../../src/ir/ops.js";
import { convKernel } from "./conv.js";
import { convShape, type ConvShape } from "./conv-shape.js";
import type { KernelContext, Kernels } from "./context.js";
import { epilogue } from "./gemm/act.js";
import { Fn, type V } from "./gemm/fn.js";
import { gemm, NR, packedFloats } from "./gemm/gemm.js";
import { at, constData, type NodeEpilogue } from "./gemm/node.js";
import { copies, type Copy, type Transform } from "./weights.js";

type Expr = binaryen.ExpressionRef;

/** Input pixels whose columns are computed at a time (a multiple of both GEMM tile heights). */
function chunkRows(s: ConvShape): number {
  const cols = s.kh * s.kw * (s.K / s.groups);
  const rows = Math.max(12, Math.floor(65536 / cols));
  return Math.min(s.N * s.H * s.W, rows - (rows % 12));
}

/** Whether the taps tile the output: each output pixel is written by exactly one (pixel, tap). */
const tiles = (s: ConvShape, extra: readonly number[]) => s.sh === s.kh && s.sw === s.kw && s.dh === 1 && s.dw === 1 && extra[0] === 0 && extra[1] === 0;

/** What col2im stores at d (o bytes into the channel block) given the column vector `column`, bound to a local. */
type Write = (d: V, o: V, column: Expr, lanes: number) => V;

/** Writes `n` floats of the column block at src to dst (byte addresses), f32x4 at a time. */
function channels(f: Fn, n: number, dst: V, src: V, write: Write): Expr[] {
  const m = f.m;
  const piece = (o: V, lanes: number) => {
    const d = () => m.i32.add(dst(), o());
    const v = write(d, o, f.load(() => m.i32.add(src(), o()), 0, lanes), lanes);
    return m.block(null, [...f.take(), f.store(d, 0, lanes, v)]);
  };
  const full = n - (n % 4);
  return [...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (o) => [piece(o, 4)])] : []), ...(n % 4 ? [piece(() => f.c(full * 4), n % 4)] : [])];
}

/**
 * (m0, g) -> (): adds the columns of input pixels m0 .. m0+rows-1, group g, held at `cols` (a
 * row per pixel, (ky, kx, k) within it), to the NHWC output y; or, where the taps tile the output
 * (`add` false), stores them, through the epilogue `e` when given.
 */
function col2im(ctx: KernelContext, s: ConvShape, y: V, cols: number, rows: number, add: boolean, e?: NodeEpilogue): string {
  const m = ctx.mod;
  const f = new Fn(m, ctx.relaxed, [binaryen.i32, binaryen.i32]);
  const kg = s.K / s.groups;
  const [p, src, img, oy, ox] = [0, 0, 0, 0, 0].map(() => f.local(binaryen.i32)) as [number, number, number, number, number];
  const g = (i: number) => f.get(i)();
  const mul = (a: Expr, k: number) => m.i32.mul(a, f.c(k));
  // Channel o of group g's block, in a per-channel vector.
  const channel = (base: V, o: V): [V, number] => [() => m.i32.add(m.i32.add(base(), mul(f.get(1)(), kg * 4)), o()), 0];
  const write: Write = add
    ? (d, _o, column, lanes) => f.tmp(m.f32x4.add(f.load(d, 0, lanes), column))
    : !e
      ? (_d, _o, column) => f.tmp(column)
      : (d, o, column, lanes) => f.tmp(epilogue(f, e.epi, column, lanes, {
        ...(e.bias ? { bias: channel(e.bias, o) } : {}),
        ...(e.residual ? { residual: [() => m.i32.add(m.i32.sub(d(), y()), e.residual!()), 0] as [V, number] } : {}),
        ...(e.slope ? { slope: e.epi.slope === "vector" ? channel(e.slope, o) : [e.slope, 0] as [V, number] } : {}),
      }));
  const body = f.loop(f.c(0), rows, 1, (r) => [
    f.set(p, m.i32.add(f.get(0)(), r())),
    f.set(src, m.i32.add(f.c(cols), mul(r(), s.kh * s.kw * kg * 4))),
    // img: output pixel (n, 0, 0), channel g*kg.
    f.set(img, m.i32.add(m.i32.add(y(), mul(m.i32.div_u(g(p), f.c(s.H * s.W)), s.OH * s.OW * s.K * 4)), mul(f.get(1)(), kg * 4))),
    f.loop(f.c(0), s.kh, 1, (ky) => [
      f.set(oy, m.i32.add(mul(m.i32.rem_u(m.i32.div_u(g(p), f.c(s.W)), f.c(s.H)), s.sh), m.i32.add(mul(ky(), s.dh), f.c(-s.pt)))),
      m.if(m.i32.lt_u(g(oy), f.c(s.OH)), f.loop(f.c(0), s.kw, 1, (kx) => [
        f.set(ox, m.i32.add(mul(m.i32.rem_u(g(p), f.c(s.W)), s.sw), m.i32.add(mul(kx(), s.dw), f.c(-s.pl)))),
        m.if(m.i32.lt_u(g(ox), f.c(s.OW)), m.block(null, channels(f, kg,
          () => m.i32.add(g(img), mul(m.i32.add(mul(g(oy), s.OW), g(ox)), s.K * 4)),
          () => m.i32.add(g(src), mul(m.i32.add(mul(ky(), s.kw), kx()), kg * 4)),
          write,
        ))),
      ])),
    ]),
  ]);
  return f.finish(ctx.fnName("col2im"), [body]);
}

/** y = epilogue(y) in place over the NHWC output, f32x4 across channels. */
function epiloguePass(f: Fn, s: ConvShape, y: V, e: NodeEpilogue): Expr {
  const m = f.m;
  const [pix, co] = [f.local(binaryen.i32), f.local(binaryen.i32)];
  const off = (base: V): V => () => m.i32.add(m.i32.add(base(), f.get(pix)()), f.get(co)());
  const channel = (base: V): V => () => m.i32.add(base(), f.get(co)());
  const vector = (lanes: number): Expr[] => {
    const slope: [V, number] | undefined = e.slope && [e.epi.slope === "vector" ? channel(e.slope) : e.slope, 0];
    const v = f.tmp(epilogue(f, e.epi, f.load(off(y), 0, lanes), lanes, {
      ...(e.bias ? { bias: [channel(e.bias), 0] as [V, number] } : {}),
      ...(e.residual ? { residual: [off(e.residual), 0] as [V, number] } : {}),
      ...(slope ? { slope } : {}),
    }));
    return [...f.take(), f.store(off(y), 0, lanes, v)];
  };
  const full = s.K - (s.K % 4);
  return f.loop(f.c(0), s.N * s.OH * s.OW * s.K * 4, s.K * 4, (p) => [
    f.set(pix, p()),
    ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (c) => [f.set(co, c()), ...vector(4)])] : []),
    ...(s.K % 4 ? [f.set(co, f.c(full * 4)), ...vector(s.K % 4)] : []),
  ]);
}

/**
 * The load-time packing of the weight [C, K/g, kh, kw] as each group's GEMM B: row c, column
 * j = t * K/g + k (tap-major, so col2im adds 4 channels of one tap at a time) holds
 * w[g*C/g + c][k][t], in NR-column panels. Column j reads source k * taps + t, linear in k only
 * within one tap and one panel: one strided copy per such run.
 */
function packedColumns(s: ConvShape): Transform {
  const [cg, kg, taps] = [s.C / s.groups, s.K / s.groups, s.kh * s.kw];
  const slice = packedFloats(cg, taps * kg);
  const list: Copy[] = [];
  for (let t = 0; t < taps; t++)
    for (let k = 0; k < kg; ) {
      const j = t * kg + k;
      const run = Math.min(kg - k, NR - (j % NR));
      list.push({
        src: k * taps + t,
        dst: Math.floor(j / NR) * cg * NR + (j % NR),
        axes: [{ count: s.groups, src: cg * kg * taps, dst: slice }, { count: cg, src: kg * taps, dst: NR }, { count: run, src: taps, dst: 1 }],
      });
      k += run;
    }
  return copies(slice * s.groups, list);
}

/** The NHWC conv_transpose2d from x to y (addresses), epilogue included; `scratch` holds a chunk's columns. */
function convTransposeNHWC(ctx: KernelContext, f: Fn, s: ConvShape, extra: readonly number[], w: number, x: V, y: V, e: NodeEpilogue, scratch: number): Expr {
  const m = ctx.mod;
  const [cg, kg, taps] = [s.C / s.groups, s.K / s.groups, s.kh * s.kw];
  const cols = taps * kg;
  const slice = packedFloats(cg, cols);
  const b = at(ctx, ctx.addPacked(w, packedColumns(s)));
  const add = !tiles(s, extra);
  const hasEpi = e.epi.bias || e.epi.residual || e.epi.act !== undefined;
  const chunk = chunkRows(s);
  const M = s.N * s.H * s.W;
  const plain = { bias: false, residual: false, attrs: {} };
  // Input pixels m0 .. m0+rows-1, every group.
  const rowsAt = (m0: V, rows: number): Expr => {
    const scatter = col2im(ctx, s, y, scratch, rows, add, hasEpi && !add ? e : undefined);
    return f.loop(f.c(0), s.groups, 1, (g) => [
      gemm(ctx, f, {
        M: rows, N: cols, K: cg, lda: s.C, ldc: cols, epi: plain, c: at(ctx, scratch),
        a: () => m.i32.add(x(), m.i32.add(m.i32.mul(m0(), f.c(s.C * 4)), m.i32.mul(g(), f.c(cg * 4)))),
        b: () => m.i32.add(b(), m.i32.mul(g(), f.c(slice * 4))),
      }),
      m.call(scatter, [m0(), g()], binaryen.none),
    ]);
  };
  const full = M - (M % chunk);
  return m.block(null, [
    ...(add ? [m.memory.fill(y(), f.c(0), f.c(s.N * s.OH * s.OW * s.K * 4))] : []),
    f.loop(f.c(0), full, chunk, (m0) => [rowsAt(m0, chunk)]),
    ...(M > full ? [rowsAt(() => f.c(full), M - full)] : []),
    ...(add && hasEpi ? [epiloguePass(f, s, y, e)] : []),
  ]);
}

function convTranspose2d(ctx: KernelContext, node: NodeOf<"conv_transpose2d">): string {
  const s = convShape(ctx, node);
  const w = node.inputs[1]!;
  if (!constData(ctx.graph, w)) throw new Error("wasm conv_transpose2d: the weight must be a constant");
  const scratch = chunkRows(s) * s.kh * s.kw * (s.K / s.groups) * 4;
  // On one thread: col2im adds overlapping taps into y in chunk order.
  return convKernel(ctx, node, s, { shared: scratch, perThread: 0 }, false, (f, x, y, e, cols) => convTransposeNHWC(ctx, f, s, node.attrs.output_padding, w, x, y, e, cols.shared));
}

export const convTransposeKernels: Kernels<"conv_transpose2d"> = { conv_transpose2d: convTranspose2d };
