// Depthwise conv2d (groups == C == K) in NHWC: SIMD across channels, 4 per vector. Each output
// pixel first points one pointer per tap at its input pixel — or at a zero row when the tap
// falls in the padding — so the channel loop is branch-free.
import binaryen from "binaryen";
import type { KernelContext } from "./context.js";
import type { ConvShape } from "./conv.js";
import { epilogue } from "./gemm/act.js";
import type { Fn, V } from "./gemm/fn.js";
import type { NodeEpilogue } from "./gemm/node.js";

type Expr = binaryen.ExpressionRef;

export function depthwise(ctx: KernelContext, f: Fn, s: ConvShape, w: Float32Array, x: V, y: V, e: NodeEpilogue): Expr {
  const m = ctx.mod;
  const { N, H, W, C, OH, OW, kh, kw } = s;
  const taps = kh * kw;
  const Cp = Math.ceil(C / 4) * 4;
  const packed = new Float32Array(taps * Cp);
  for (let c = 0; c < C; c++) for (let t = 0; t < taps; t++) packed[t * Cp + c] = w[c * taps + t]!;
  const wAt = ctx.addData(packed);
  const zero = ctx.addData(new Float32Array(Cp));
  const ptr = Array.from({ length: taps }, () => f.local(binaryen.i32));
  const [row, n, oy, pix, co] = [0, 0, 0, 0, 0].map(() => f.local(binaryen.i32)) as [number, number, number, number, number];
  const g = (i: number) => f.get(i)();
  const add = (a: Expr, b: Expr) => m.i32.add(a, b);
  const mul = (a: Expr, k: number) => m.i32.mul(a, f.c(k));
  const off = (base: V): V => () => add(add(base(), f.get(pix)()), f.get(co)());
  // One vector of `lanes` channels at byte offset co.
  const vector = (lanes: number): Expr[] => {
    let acc = f.splat(0);
    for (let t = 0; t < taps; t++) acc = f.madd(f.load(() => add(g(ptr[t]!), g(co)), 0, lanes), f.load(() => add(f.c(wAt + t * Cp * 4), g(co)), 0, lanes), acc);
    const channel = (b?: V): [V, number] | undefined => (b ? [() => add(b(), g(co)), 0] : undefined);
    const slope = e.epi.slope === "vector" ? channel(e.slope) : e.slope && ([e.slope, 0] as [V, number]);
    const v = f.tmp(epilogue(f, e.epi, acc, lanes, { bias: channel(e.bias), residual: e.residual && [off(e.residual), 0], slope }));
    return [...f.take(), f.store(off(y), 0, lanes, v)];
  };
  const full = C - (C % 4);
  return f.loop(f.c(0), N * OH, 1, (r) => [
    f.set(row, r()),
    f.set(n, m.i32.div_u(r(), f.c(OH))),
    f.set(oy, m.i32.rem_u(r(), f.c(OH))),
    f.loop(f.c(0), OW, 1, (ox) => {
      const setTaps: Expr[] = [];
      for (let ky = 0; ky < kh; ky++)
        for (let kx = 0; kx < kw; kx++) {
          const iy = () => add(mul(g(oy), s.sh), f.c(ky * s.dh - s.pt));
          const ix = () => add(mul(ox(), s.sw), f.c(kx * s.dw - s.pl));
          const inside = m.i32.and(m.i32.lt_u(iy(), f.c(H)), m.i32.lt_u(ix(), f.c(W)));
          const at = add(x(), mul(add(mul(add(mul(g(n), H), iy()), W), ix()), C * 4));
          setTaps.push(f.set(ptr[ky * kw + kx]!, m.select(inside, at, f.c(zero))));
        }
      return [
        ...setTaps,
        f.set(pix, mul(add(mul(g(row), OW), ox()), C * 4)),
        ...(full > 0 ? [f.loop(f.c(0), full * 4, 16, (c) => [f.set(co, c()), ...vector(4)])] : []),
        ...(C % 4 ? [f.set(co, f.c(full * 4)), ...vector(C % 4)] : []),
      ];
    }),
  ]);
}
