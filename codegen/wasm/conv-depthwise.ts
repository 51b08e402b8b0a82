// Depthwise conv2d (groups == C == K) in NHWC: SIMD across channels, 4 per vector.
// - Interior: P adjacent output pixels of a row at once, every tap at a constant offset from one
//   pointer; per kernel row, its input columns and weights are loaded once and shared by the P
//   pixels (P as large as keeps ~14 vectors live), which cuts the loads per multiply-add ~2.5x
//   and gives P independent accumulation chains.
// - Border (rows and columns whose window crosses the padding): one pixel at a time, one pointer
//   per tap, pointing at a zero row for taps in the padding, so the channel loop is branch-free.
import binaryen from "binaryen";
import type { KernelContext } from "./context.js";
import type { ConvShape } from "./conv-shape.js";
import { epilogue } from "./gemm/act.js";
import type { Fn, V } from "./gemm/fn.js";
import type { NodeEpilogue } from "./gemm/node.js";
import { copies } from "./weights.js";

type Expr = binaryen.ExpressionRef;

/** Input columns (in pixels, from the first pixel's window) one kernel row reads for P pixels. */
const columns = (s: ConvShape, P: number) => [...new Set(Array.from({ length: P * s.kw }, (_, i) => Math.floor(i / s.kw) * s.sw + (i % s.kw) * s.dw))].sort((a, b) => a - b);

export function depthwise(ctx: KernelContext, f: Fn, s: ConvShape, w: number, x: V, y: V, e: NodeEpilogue): Expr {
  const m = ctx.mod;
  const { N, H, W, C, OH, OW, kh, kw } = s;
  const taps = kh * kw;
  const Cp = Math.ceil(C / 4) * 4;
  // Tap-major, each tap's channels padded to a vector: packed[t * Cp + c] = w[c][t].
  const wAt = ctx.addPacked(w, copies(taps * Cp, [{ src: 0, dst: 0, axes: [{ count: taps, src: 1, dst: Cp }, { count: C, src: taps, dst: 1 }] }]));
  const zero = ctx.addData(new Float32Array(Cp));
  const ptr = Array.from({ length: taps }, () => f.local(binaryen.i32));
  const [row, n, oy, pix, co, src] = [0, 0, 0, 0, 0, 0].map(() => f.local(binaryen.i32)) as [number, number, number, number, number, number];
  const g = (i: number) => f.get(i)();
  const add = (a: Expr, b: Expr) => m.i32.add(a, b);
  const mul = (a: Expr, k: number) => m.i32.mul(a, f.c(k));
  const weight = (t: number, lanes: number) => f.load(() => add(f.c(wAt + t * Cp * 4), g(co)), 0, lanes);
  const channel = (b?: V): [V, number] | undefined => (b ? [() => add(b(), g(co)), 0] : undefined);
  const slope = e.epi.slope === "vector" ? channel(e.slope) : e.slope && ([e.slope, 0] as [V, number]);
  // Epilogue and store of output pixel pix + p.
  const finish = (sum: Expr, p: number, lanes: number): Expr[] => {
    const at = (base: V): V => () => add(add(base(), g(pix)), g(co));
    const v = f.tmp(epilogue(f, e.epi, sum, lanes, { bias: channel(e.bias), residual: e.residual && [at(e.residual), p * C * 4], slope }));
    return [...f.take(), f.store(at(y), p * C * 4, lanes, v)];
  };
  const overChannels = (vector: (lanes: number) => Expr[]): Expr[] => {
    const full = C - (C % 4);
    return [
      ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (c) => [f.set(co, c()), ...vector(4)])] : []),
      ...(C % 4 ? [f.set(co, f.c(full * 4)), ...vector(C % 4)] : []),
    ];
  };
  const setPix = (ox: V) => f.set(pix, mul(add(mul(g(row), OW), ox()), C * 4));

  // Interior groups of P pixels: the largest P with at most 14 live vectors (columns + weights + accumulators).
  let P = 1;
  while (P < 8 && columns(s, P + 1).length + kw + P + 1 <= 14) P++;
  const acc = Array.from({ length: P }, () => f.local(binaryen.v128));
  // acc[0 .. n-1] = the n adjacent pixels' sums for one channel vector; at(ky, c) loads input
  // column c (in pixels from the first window's left edge) of kernel row ky.
  const accumulate = (n: number, at: (ky: number, c: number) => Expr, lanes: number): Expr => {
    const body: Expr[] = acc.slice(0, n).map((a) => f.set(a, f.splat(0)));
    // co >= 0, so `co < -ky` never holds: a distinct never-taken exit after each kernel row keeps
    // V8 from hoisting every row's loads to the top (they would all be live at once, and spill).
    const exit = f.label();
    for (let ky = 0; ky < kh; ky++) {
      if (ky > 0) body.push(m.br(exit, m.i32.lt_s(g(co), f.c(-ky))));
      const xs = new Map(columns(s, n).map((c) => [c, f.tmp(at(ky, c))]));
      const ws = Array.from({ length: kw }, (_, kx) => f.tmp(weight(ky * kw + kx, lanes)));
      body.push(...f.take());
      for (let kx = 0; kx < kw; kx++)
        for (let p = 0; p < n; p++) body.push(f.set(acc[p]!, f.madd(xs.get(p * s.sw + kx * s.dw)!(), ws[kx]!(), f.get(acc[p]!)())));
    }
    return m.block(exit, body);
  };

  // Border path: output pixels from .. to-1 of the row, one at a time.
  const single = (from: number, to: number): Expr[] => to <= from ? [] : [f.loop(f.c(from), to, 1, (ox) => {
    const setTaps: Expr[] = [];
    for (let ky = 0; ky < kh; ky++)
      for (let kx = 0; kx < kw; kx++) {
        const iy = () => add(mul(g(oy), s.sh), f.c(ky * s.dh - s.pt));
        const ix = () => add(mul(ox(), s.sw), f.c(kx * s.dw - s.pl));
        const inside = m.i32.and(m.i32.lt_u(iy(), f.c(H)), m.i32.lt_u(ix(), f.c(W)));
        const at = add(x(), mul(add(mul(add(mul(g(n), H), iy()), W), ix()), C * 4));
        setTaps.push(f.set(ptr[ky * kw + kx]!, m.select(inside, at, f.c(zero))));
      }
    return [...setTaps, setPix(ox), ...overChannels((lanes) => [
      accumulate(1, (ky, c) => f.load(() => add(g(ptr[ky * kw + c / s.dw]!), g(co)), 0, lanes), lanes),
      ...finish(f.get(acc[0]!)(), 0, lanes),
    ])];
  })];

  const lo = Math.ceil(s.pl / s.sw);
  const hi = Math.min(OW, Math.floor((W - 1 + s.pl - (kw - 1) * s.dw) / s.sw) + 1);
  const groups = P > 1 && hi > lo ? Math.floor((hi - lo) / P) : 0;
  const end = lo + groups * P;
  const interior = (): Expr[] => [
    ...single(0, lo),
    f.loop(f.c(lo), end, P, (ox) => [
      f.set(src, add(x(), mul(add(mul(add(mul(g(n), H), add(mul(g(oy), s.sh), f.c(-s.pt))), W), add(mul(ox(), s.sw), f.c(-s.pl))), C * 4))),
      setPix(ox),
      ...overChannels((lanes) => [
        accumulate(P, (ky, c) => f.load(() => add(g(src), g(co)), (ky * s.dh * W + c) * C * 4, lanes), lanes),
        ...acc.slice(0, P).flatMap((a, p) => finish(f.get(a)(), p, lanes)),
      ]),
    ]),
    ...single(end, OW),
  ];
  // Rows whose whole window lies inside the input.
  const rowInside = () => m.i32.lt_u(add(mul(g(oy), s.sh), f.c(-s.pt)), f.c(H - (kh - 1) * s.dh));
  // Output rows split over the threads.
  const [firstRow, endRow] = ctx.part(N * OH);
  return f.loop(firstRow(), endRow, 1, (r) => [
    f.set(row, r()),
    f.set(n, m.i32.div_u(r(), f.c(OH))),
    f.set(oy, m.i32.rem_u(r(), f.c(OH))),
    groups > 0 && H > (kh - 1) * s.dh ? m.if(rowInside(), m.block(null, interior()), m.block(null, single(0, OW))) : m.block(null, single(0, OW)),
  ]);
}
