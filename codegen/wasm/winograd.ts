// Winograd F(m x m, 3x3) (Lavin & Gray) for 3x3, stride-1, dilation-1, ungrouped NHWC convs:
// per m x m output tile, y = Aᵀ [Σ_c (G w Gᵀ) ⊙ (Bᵀ d B)] A over the (m+2)² input patch d. The
// Σ_c for each of the (m+2)² positions is a GEMM [tiles x C] . [C x K] on the tuned micro-kernel
// (weights transformed and packed at load time, by the module's prepare); the transforms are SIMD
// across 4 channels.
// The input is first copied into a zero-bordered buffer covering every tile, so that every patch
// load is at a constant offset. Tiles go a chunk at a time (transformed input and GEMM results
// of a chunk ~1 MiB, in L2). Threads split each step: the padded copy by rows, the transforms by
// the chunk's tiles, the GEMMs by position, with barriers between (each thread has its own
// transform temporaries).
// NaN and ±Inf: the transforms add and subtract a non-finite input across its tile's patch, so
// where the direct conv (the interpreter) gives NaN or ±Inf this gives NaN or the same, NaN also
// at the rest of those output tiles, and ±Inf may come out NaN. Exact classes would need a direct
// fallback and the untransformed weights beside the transformed ones (test/wasm/winograd).
import binaryen from "binaryen";
import type { KernelContext } from "./context.js";
import type { ConvScratch, ConvShape, Scratch } from "./conv-shape.js";
import { epilogue } from "./gemm/act.js";
import { cached, Fn, type Emit, type V } from "./gemm/fn.js";
import { gemm, packedFloats } from "./gemm/gemm.js";
import { at, type NodeEpilogue } from "./gemm/node.js";
import type { Transform } from "./weights.js";

type Expr = binaryen.ExpressionRef;

export interface WinogradTile {
  m: number;
  BT: number[][];
  G: number[][];
  AT: number[][];
}

// Interpolation points 0, ±1 (F(2)) and 0, ±1, ±2 (F(4)), plus infinity.
const F2: WinogradTile = {
  m: 2,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};
const F4: WinogradTile = {
  m: 4,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

/**
 * The tile for a conv, or undefined when Winograd does not apply or pay (few channels: the
 * transforms would cost more than the GEMM saves). F(4x4) where the map is large enough for
 * 4x4 tiles to waste little at the edges; F(2x2) on small maps, whose transformed weights are
 * 4/9 the size of F(4x4)'s (ResNet-50 7x7x512: F(4x4) 2.9 ms, F(2x2) 3.4 ms, GEMM 5.5 ms, but
 * F(4x4) there would add ~40 MB of weights).
 */
export function winogradTile(s: ConvShape): WinogradTile | undefined {
  const ok = s.kh === 3 && s.kw === 3 && s.sh === 1 && s.sw === 1 && s.dh === 1 && s.dw === 1 && s.groups === 1 && s.C >= 16 && s.K >= 16;
  if (!ok) return undefined;
  return Math.min(s.OH, s.OW) >= 14 ? F4 : F2;
}

interface Plan {
  t: WinogradTile;
  a: number;
  tH: number;
  tW: number;
  T: number;
  Hp: number;
  Wp: number;
  /** Tiles per chunk. */
  TC: number;
  /** Byte offsets in shared scratch of the bordered input, transformed input U, GEMM results M; their size. */
  pad: number;
  u: number;
  mb: number;
  shared: number;
  /** Per-thread transform temporaries. */
  tmp: number;
}

function plan(s: ConvShape, t: WinogradTile): Plan {
  const a = t.m + 2;
  const [tH, tW] = [Math.ceil(s.OH / t.m), Math.ceil(s.OW / t.m)];
  const T = s.N * tH * tW;
  const [Hp, Wp] = [tH * t.m + 2, tW * t.m + 2];
  const per = a * a * (s.C + s.K) * 4;
  const fit = Math.max(6, Math.floor(2 ** 20 / per));
  // Chunks of about one size (a multiple of 6, the relaxed GEMM's row tile): ResNet-50's 28x28
  // maps (49 tiles, 28 fit) as 30 + 19, not 24 + 24 + 1 (a pass over every weight for one tile).
  const TC = fit >= T ? T : Math.min(T, Math.ceil(Math.ceil(T / Math.ceil(T / fit)) / 6) * 6);
  const u = s.N * Hp * Wp * s.C * 4;
  const mb = u + a * a * TC * s.C * 4;
  return { t, a, tH, tW, T, Hp, Wp, TC, pad: 0, u, mb, shared: mb + a * a * TC * s.K * 4, tmp: a * a * 16 };
}

export const winogradScratch = (s: ConvShape, t: WinogradTile): ConvScratch => {
  const p = plan(s, t);
  return { shared: p.shared, perThread: p.tmp };
};

/** Σ coeffs[i] xs[i] over the non-zero coefficients, ±1 as add / sub. */
function lincomb(f: Fn, coeffs: number[], xs: V[]): Expr {
  const F = f.m.f32x4;
  let acc: Expr | undefined;
  coeffs.forEach((c, i) => {
    if (c === 0) return;
    const x = xs[i]!();
    if (acc === undefined) acc = c === 1 ? x : F.mul(f.splat(c), x);
    else acc = c === 1 ? F.add(acc, x) : c === -1 ? F.sub(acc, x) : f.madd(f.splat(c), x, acc);
  });
  return acc!;
}

/**
 * The weights as the GEMMs read them, made at load time from w [K, C, 3, 3]: G w Gᵀ for each
 * (k, c), one packed C x K panel set per position of the a x a tile. SIMD across 4 output
 * channels (adjacent in a panel row): 9 lane gathers, then the two small products.
 */
export function transformedWeights(t: WinogradTile, C: number, K: number): Transform {
  const a = t.m + 2;
  const slice = packedFloats(C, K);
  return {
    floats: slice * a * a,
    fn: (e: Emit) => {
      const I32 = binaryen.i32;
      const m = e.mod;
      // (src, dst, k0) -> (): output channels k0 .. k0+lanes-1, every input channel; one call per
      // group, so that V8 tiers it up (see weights.ts sweep).
      const group = (lanes: number) =>
        cached(e, `winograd_weights_${t.m}_${C}_${K}_${lanes}`, (name) => {
          const f = new Fn(m, false, [I32, I32, I32]);
          const k0 = 2;
          const [c, out] = [f.local(I32), f.local(I32)];
          const body = f.loop(f.c(0), C, 1, (ci) => {
            const tap = (q: number): V => {
              const ptr = () => m.i32.add(f.get(0)(), m.i32.mul(m.i32.add(m.i32.mul(f.get(k0)(), f.c(C)), f.get(c)()), f.c(36)));
              let v = m.v128.load32_zero(q * 4, 4, ptr());
              for (let l = 1; l < lanes; l++) v = m.v128.load32_lane(q * 4 + l * C * 36, 4, l, ptr(), v);
              return f.tmp(v);
            };
            const stmts: Expr[] = [f.set(c, ci())];
            const w9 = Array.from({ length: 9 }, (_, q) => tap(q));
            stmts.push(...f.take());
            // Panel (k0 / 8), row c, column k0 % 8 of position (i, j)'s slice.
            stmts.push(f.set(out, m.i32.add(f.get(1)(), m.i32.add(m.i32.mul(m.i32.shr_u(f.get(k0)(), f.c(3)), f.c(C * 32)), m.i32.add(m.i32.mul(f.get(c)(), f.c(32)), m.i32.mul(m.i32.and(f.get(k0)(), f.c(7)), f.c(4)))))));
            for (let i = 0; i < a; i++) {
              const row = [0, 1, 2].map((q) => f.tmp(lincomb(f, t.G[i]!, [w9[q]!, w9[3 + q]!, w9[6 + q]!])));
              stmts.push(...f.take());
              for (let j = 0; j < a; j++) stmts.push(f.store(f.get(out), (i * a + j) * slice * 4, lanes, () => lincomb(f, t.G[j]!, row)));
            }
            return stmts;
          });
          f.finish(name, [body]);
        });
      const full = K - (K % 4);
      const [vectors, tail] = [full > 0 ? group(4) : "", K % 4 ? group(K % 4) : ""];
      return cached(e, `winograd_weights_${t.m}_${C}_${K}`, (name) => {
        const f = new Fn(m, false, [I32, I32]);
        const call = (fn: string, k0: Expr) => m.call(fn, [f.get(0)(), f.get(1)(), k0], binaryen.none);
        f.finish(name, [...(vectors ? [f.loop(f.c(0), full, 4, (k) => [call(vectors, k())])] : []), ...(tail ? [call(tail, f.c(full))] : [])]);
      });
    },
  };
}

export function winograd(ctx: KernelContext, f: Fn, s: ConvShape, t: WinogradTile, w: number, x: V, y: V, e: NodeEpilogue, scratch: Scratch): Expr {
  const m = ctx.mod;
  const p = plan(s, t);
  const { a, tH, tW, T, Hp, Wp, TC } = p;
  const { C, K } = s;
  const [pad, U, M] = [scratch.shared + p.pad, scratch.shared + p.u, scratch.shared + p.mb];
  const slice = packedFloats(C, K);
  const wAt = ctx.addPacked(w, transformedWeights(t, C, K));
  const I32 = binaryen.i32;
  const add = (l: Expr, r: Expr) => m.i32.add(l, r);
  const mul = (l: Expr, k: number) => m.i32.mul(l, f.c(k));

  // (lo, hi) -> (): rows lo .. hi-1 of the zero-bordered copy of x.
  const padFn = (() => {
    const g = new Fn(m, ctx.relaxed, [I32, I32]);
    const row = Wp * C * 4;
    const iy = g.local(I32);
    const body = g.loop(g.get(0)(), g.get(1), 1, (r) => {
      const dst = () => add(g.c(pad), mul(r(), row));
      const zero = (from: number, bytes: number) => m.memory.fill(add(dst(), g.c(from)), g.c(0), g.c(bytes));
      const src = add(x(), mul(add(mul(m.i32.div_u(r(), g.c(Hp)), s.H), g.get(iy)()), s.W * C * 4));
      return [
        g.set(iy, m.i32.sub(m.i32.rem_u(r(), g.c(Hp)), g.c(s.pt))),
        m.if(m.i32.lt_u(g.get(iy)(), g.c(s.H)),
          m.block(null, [zero(0, s.pl * C * 4), m.memory.copy(add(dst(), g.c(s.pl * C * 4)), src, g.c(s.W * C * 4)), zero((s.pl + s.W) * C * 4, (Wp - s.pl - s.W) * C * 4)]),
          zero(0, row)),
      ];
    });
    return g.finish(ctx.fnName("winograd_pad"), [body]);
  })();

  // Both transforms: (t0, from, to, tmp) -> () over tiles t0+from .. t0+to-1 of the chunk starting
  // at tile t0, a channel vector at a time in two passes through the thread's temporaries at tmp
  // (columns, then rows) so few vectors are live at once.
  type Pass = { perTile: (n: V, ty: V, tx: V) => Expr[]; vec: (i: V, co: V, lanes: number) => Expr[] };
  const transform = (base: string, lanes4: number, build: (g: Fn) => Pass) => {
    const g = new Fn(m, ctx.relaxed, [I32, I32, I32, I32]);
    const [tile, co] = [g.local(I32), g.local(I32)];
    const { perTile, vec } = build(g);
    const full = lanes4 - (lanes4 % 4);
    const body = g.loop(g.get(1)(), g.get(2), 1, (i) => [
      g.set(tile, add(g.get(0)(), i())),
      ...perTile(() => m.i32.div_u(g.get(tile)(), g.c(tH * tW)), () => m.i32.div_u(m.i32.rem_u(g.get(tile)(), g.c(tH * tW)), g.c(tW)), () => m.i32.rem_u(g.get(tile)(), g.c(tW))),
      ...(full > 0 ? [g.loop(g.c(0), full * 4, 16, (c) => [g.set(co, c()), ...vec(i, g.get(co), 4)])] : []),
      ...(lanes4 % 4 ? [g.set(co, g.c(full * 4)), ...vec(i, g.get(co), lanes4 % 4)] : []),
    ]);
    return g.finish(ctx.fnName(base), [body]);
  };
  const tmpAt = (g: Fn, i: number, j: number) => m.i32.add(g.get(3)(), m.i32.const((i * a + j) * 16));
  // First pass: per column j of the a x a block at(k, j), rows of coeffs . column into tmp.
  const columns = (g: Fn, coeffs: number[][], at: (k: number, j: number) => Expr): Expr[] =>
    Array.from({ length: a }, (_, j) => {
      const col = Array.from({ length: a }, (_, k) => g.tmp(at(k, j)));
      return [...g.take(), ...coeffs.map((c, r) => m.v128.store(0, 16, tmpAt(g, r, j), lincomb(g, c, col)))];
    }).flat();
  const tmpRow = (g: Fn, r: number): V[] => Array.from({ length: a }, (_, l) => g.tmp(m.v128.load(0, 16, tmpAt(g, r, l))));

  const inFn = transform("winograd_in", C, (g) => {
    const src = g.local(I32);
    return {
      perTile: (n, ty, tx) => [g.set(src, add(g.c(pad), mul(add(mul(add(mul(n(), Hp), mul(ty(), t.m)), Wp), mul(tx(), t.m)), C * 4)))],
      vec: (i, co, lanes) => {
        const out = columns(g, t.BT, (k, j) => g.load(() => add(g.get(src)(), co()), (k * Wp + j) * C * 4, lanes));
        for (let r = 0; r < a; r++) {
          const row = tmpRow(g, r);
          out.push(...g.take());
          for (let j = 0; j < a; j++) out.push(g.store(() => add(add(g.c(U), mul(i(), C * 4)), co()), (r * a + j) * TC * C * 4, lanes, () => lincomb(g, t.BT[j]!, row)));
        }
        return out;
      },
    };
  });

  const outFn = transform("winograd_out", K, (g) => {
    const [pix, rows, cols] = [g.local(I32), g.local(I32), g.local(I32)];
    return {
      perTile: (n, ty, tx) => [
        g.set(pix, mul(add(mul(add(mul(n(), s.OH), mul(ty(), t.m)), s.OW), mul(tx(), t.m)), K * 4)),
        g.set(rows, m.i32.sub(g.c(s.OH), mul(ty(), t.m))),
        g.set(cols, m.i32.sub(g.c(s.OW), mul(tx(), t.m))),
      ],
      vec: (i, co, lanes) => {
        const out = columns(g, t.AT, (k, j) => g.load(() => add(add(g.c(M), mul(i(), K * 4)), co()), (k * a + j) * TC * K * 4, lanes));
        const ch = (v?: V): [V, number] | undefined => v && [() => add(v(), co()), 0];
        const slope = e.epi.slope === "vector" ? ch(e.slope) : e.slope && ([e.slope, 0] as [V, number]);
        const pixel = (v: V): V => () => add(add(v(), g.get(pix)()), co());
        for (let r = 0; r < t.m; r++) {
          const row = tmpRow(g, r);
          out.push(...g.take());
          for (let q = 0; q < t.m; q++) {
            const px = (r * s.OW + q) * K * 4;
            const v = g.tmp(epilogue(g, e.epi, lincomb(g, t.AT[q]!, row), lanes, { bias: ch(e.bias), residual: e.residual && [pixel(e.residual), px], slope }));
            const inside = m.i32.and(m.i32.gt_s(g.get(rows)(), g.c(r)), m.i32.gt_s(g.get(cols)(), g.c(q)));
            out.push(m.if(inside, m.block(null, [...g.take(), g.store(pixel(y), px, lanes, v)])));
          }
        }
        return out;
      },
    };
  });

  const none = { bias: false, residual: false, attrs: {} };
  const xi = f.local(I32);
  // Each thread transforms its share of the chunk's tiles and runs its share of the a² GEMMs.
  const chunk = (t0: V, count: number): Expr[] => {
    const [lo, hi] = ctx.part(count);
    const [qlo, qhi] = ctx.part(a * a);
    return [
      m.call(inFn, [t0(), lo(), hi(), scratch.mine()], binaryen.none),
      ctx.barrier(),
      f.loop(qlo(), qhi, 1, (q) => [
        f.set(xi, q()),
        gemm(ctx, f, {
          M: count, N: K, K: C, lda: C, ldc: K, epi: none,
          a: () => add(f.c(U), mul(f.get(xi)(), TC * C * 4)),
          b: () => add(at(ctx, wAt)(), mul(f.get(xi)(), slice * 4)),
          c: () => add(f.c(M), mul(f.get(xi)(), TC * K * 4)),
        }),
      ]),
      ctx.barrier(),
      // The next chunk's input transform may overlap this: it writes U, this reads M.
      m.call(outFn, [t0(), lo(), hi(), scratch.mine()], binaryen.none),
    ];
  };
  const whole = T - (T % TC);
  const [rlo, rhi] = ctx.part(s.N * Hp);
  return m.block(null, [
    m.call(padFn, [rlo(), rhi()], binaryen.none),
    ctx.barrier(),
    f.loop(f.c(0), whole, TC, (t0) => chunk(t0, TC)),
    ...(T > whole ? chunk(() => f.c(whole), T - whole) : []),
  ]);
}
