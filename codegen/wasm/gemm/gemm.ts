// The GEMM generator: C[M x N] = epilogue(A[M x K] . B[K x N]) with A row-major (row stride
// lda), B pre-packed in 8-column panels (panel p holds B[k][8p .. 8p+7] at k*8, zero-padded), C
// row-major (row stride ldc).
//
// Register tile MR x 8 per call of a micro-kernel function: 6x8 with relaxed madd (12
// accumulators + 2 B vectors + 1 broadcast A = 15 of V8's 15 usable XMM registers), MR_BASE x 8
// with mul+add (a 6x8 mul+add tile spills: the product needs a register too). K is unrolled x4,
// and K steps end in never-taken exit tests: without them V8 hoists all the loads of the unrolled
// body above the arithmetic and spills (that held the 6x8 tile at ~38 GFLOP/s instead of ~52).
// Micro-kernels stay separate, non-inlined functions (Binaryen's inliner merging them is the
// other way to spill). Columns are walked in blocks of 16 panels (128 columns) so a block of B
// stays in L2 while the rows sweep it.
import binaryen from "binaryen";
import { epilogue, type Epi } from "./act.js";
import { addr, cached, Fn, type Emit, type V } from "./fn.js";
import { copies, type Copy, type Transform } from "../weights.js";

type Expr = binaryen.ExpressionRef;

export const NR = 8;
/** Rows of the baseline (mul+add) tile: 5x8 and 6x8 spill (BERT 128x768x768: 4x8 38, 5x8 34, 6x8 28 GFLOP/s). */
export const MR_BASE = 4;
const BLOCK_PANELS = 16;

export type { Emit } from "./fn.js";

export interface Gemm {
  M: number;
  N: number;
  K: number;
  lda: number;
  ldc: number;
  /** Row stride of the residual (0 broadcasts one row, e.g. an attention mask); default ldc. */
  ldr?: number;
  a: V;
  /** Packed B (see packedB / packBRuntime). */
  b: V;
  c: V;
  /** Bias and slope vectors at column 0; residual at element (0, 0). */
  bias?: V;
  residual?: V;
  slope?: V;
  epi: Epi;
  /**
   * Partitions the GEMM over the threads (KernelContext.part): its row tiles, or its column
   * panels when there are more of those; every tile is computed as on one thread.
   */
  part?: (n: number) => [V, V];
}

export const packedFloats = (K: number, N: number) => Math.ceil(N / NR) * NR * K;

/** One axis of B's K dimension as the constant holds it: `count` steps of `src` floats (outermost first). */
export interface KAxis {
  count: number;
  src: number;
}

/**
 * B packed at load time from a constant: B[k][n] = w[n * sn + Σ k_i src_i] with k's digits the
 * `kAxes` (their counts multiply to K), and `slices` such panel sets `sliceSrc` floats apart.
 */
export function packedB(K: number, N: number, kAxes: KAxis[], sn: number, slices = 1, sliceSrc = 0): Transform {
  const slice = packedFloats(K, N);
  // A K step is one 8-float row of a panel.
  let dst = NR;
  const k = kAxes.map((a) => a).reverse().map((a) => {
    const axis = { count: a.count, src: a.src, dst };
    dst *= a.count;
    return axis;
  }).reverse();
  const sl = slices > 1 ? [{ count: slices, src: sliceSrc, dst: slice }] : [];
  const full = Math.floor(N / NR);
  const list: Copy[] = [];
  if (full > 0) list.push({ src: 0, dst: 0, axes: [...sl, { count: full, src: NR * sn, dst: K * NR }, ...k, { count: NR, src: sn, dst: 1 }] });
  if (N % NR) list.push({ src: full * NR * sn, dst: full * K * NR, axes: [...sl, ...k, { count: N % NR, src: sn, dst: 1 }] });
  return copies(slice * slices, list);
}

const I32 = binaryen.i32;

/** The micro-kernel (a, b, c) -> (): one mr x nr tile over all of K, stored as accumulated. */
function microKernel(e: Emit, mr: number, nr: number, K: number, lda: number, ldc: number): string {
  return cached(e, `gemm_mk${e.relaxed ? "r" : ""}_${mr}x${nr}_${K}_${lda}_${ldc}`, (name) => {
    const f = new Fn(e.mod, e.relaxed, [I32, I32, I32]);
    const m = e.mod;
    const [a, b, c] = [f.get(0), f.get(1), f.get(2)];
    const nv = nr > 4 ? 2 : 1;
    const acc = Array.from({ length: mr * nv }, () => f.local(binaryen.v128));
    const bv = [f.local(binaryen.v128), f.local(binaryen.v128)];
    const av = f.local(binaryen.v128);
    const [pa, pb, kc] = [f.local(I32), f.local(I32), f.local(I32)];
    const exit = f.label();
    // kc >= 1 in the loop, so `kc < -n` never holds; each test compares with its own constant, as
    // TurboFan's branch elimination drops repeats of one condition and the loads hoist again.
    let guards = 0;
    const guardTest = () => m.br(exit, m.i32.lt_s(f.get(kc)(), f.c(-++guards)));
    // One K step at byte offsets (aOff into A rows, bOff into the panel); `guard` adds the exit tests.
    const step = (aOff: number, bOff: number, guard: boolean): binaryen.ExpressionRef[] => {
      const s: binaryen.ExpressionRef[] = [];
      for (let j = 0; j < nv; j++) s.push(f.set(bv[j]!, m.v128.load(bOff + 16 * j, 16, f.get(pb)())));
      for (let i = 0; i < mr; i++) {
        s.push(f.set(av, m.v128.load32_splat(aOff + i * lda * 4, 4, f.get(pa)())));
        for (let j = 0; j < nv; j++) s.push(f.set(acc[i * nv + j]!, f.madd(f.get(av)(), f.get(bv[j]!)(), f.get(acc[i * nv + j]!)())));
        // The 6x8 madd tile needs a test after every row; the 4x8 mul+add one runs ~3% faster with one per K step.
        if (guard && (e.relaxed || i === mr - 1)) s.push(guardTest());
      }
      return s;
    };
    const body = [...acc.map((x) => f.set(x, f.splat(0))), f.set(pa, a()), f.set(pb, b())];
    const k4 = Math.floor(K / 4);
    if (k4 > 0) {
      const L = f.label();
      body.push(
        f.set(kc, f.c(k4)),
        m.block(exit, [
          m.loop(L, m.block(null, [
            ...[0, 1, 2, 3].flatMap((u) => step(u * 4, u * 4 * NR, true)),
            f.set(pa, m.i32.add(f.get(pa)(), f.c(16))),
            f.set(pb, m.i32.add(f.get(pb)(), f.c(16 * NR))),
            f.set(kc, m.i32.sub(f.get(kc)(), f.c(1))),
            m.br(L, f.get(kc)()),
          ])),
        ]),
      );
    }
    for (let u = 0; u < K % 4; u++) body.push(...step(u * 4, u * 4 * NR, false));
    for (let i = 0; i < mr; i++)
      for (let j = 0; j < nv; j++) body.push(f.store(c, (i * ldc + 4 * j) * 4, Math.min(4, nr - 4 * j), f.get(acc[i * nv + j]!)));
    f.finish(name, body);
  });
}

/**
 * The epilogue (c, bias, residual, slope) -> () of one stored tile, in place. A separate pass
 * because its constants (0 for relu, ...) held in registers inside the micro-kernel would take
 * the 16th XMM register and spill the 6x8 tile; re-reading the tile from L1 costs ~2% at K=64.
 */
function epilogueKernel(e: Emit, mr: number, nr: number, ldc: number, ldr: number, epi: Epi): string {
  return cached(e, `gemm_epi_${mr}x${nr}_${ldc}_${ldr}_${JSON.stringify(epi)}`, (name) => {
    const f = new Fn(e.mod, e.relaxed, [I32, I32, I32, I32]);
    const [c, bias, res, slope] = [f.get(0), f.get(1), f.get(2), f.get(3)];
    const body: binaryen.ExpressionRef[] = [];
    for (let i = 0; i < mr; i++)
      for (let j = 0; j < (nr > 4 ? 2 : 1); j++) {
        const lanes = Math.min(4, nr - 4 * j);
        const at = (i * ldc + 4 * j) * 4;
        const v = f.tmp(epilogue(f, epi, f.load(c, at, lanes), lanes, { bias: [bias, 16 * j], residual: [res, (i * ldr + 4 * j) * 4], slope: [slope, 16 * j] }));
        body.push(...f.take(), f.store(c, at, lanes, v));
      }
    f.finish(name, body);
  });
}

/** Emits the loops computing one GEMM into the caller `f` (the kernel function of a node). */
export function gemm(e: Emit, f: Fn, g: Gemm): Expr {
  const m = e.mod;
  const mr = e.relaxed ? 6 : MR_BASE;
  const ldr = g.ldr ?? g.ldc;
  const epi = g.epi;
  const hasEpi = (epi.alpha ?? 1) !== 1 || epi.bias || epi.residual || epi.act !== undefined;
  const zero = () => f.c(0);
  const call = (rows: number, nr: number, row: V, panel: V): Expr => {
    const off = (ld: number) => () => m.i32.add(m.i32.mul(row(), f.c(ld * 4)), m.i32.mul(panel(), f.c(NR * 4)));
    const col = () => m.i32.mul(panel(), f.c(NR * 4));
    const c = () => addr(m, g.c, off(g.ldc));
    const mk = m.call(microKernel(e, rows, nr, g.K, g.lda, g.ldc), [addr(m, g.a, () => m.i32.mul(row(), f.c(g.lda * 4))), addr(m, g.b, () => m.i32.mul(panel(), f.c(g.K * NR * 4))), c()], binaryen.none);
    if (!hasEpi) return mk;
    return m.block(null, [mk, m.call(epilogueKernel(e, rows, nr, g.ldc, ldr, epi), [
      c(),
      g.bias ? addr(m, g.bias, col) : zero(),
      g.residual ? addr(m, g.residual, off(ldr)) : zero(),
      g.slope ? (epi.slope === "vector" ? addr(m, g.slope, col) : g.slope()) : zero(),
    ], binaryen.none)]);
  };
  const full = Math.floor(g.N / NR);
  const panels = Math.ceil(g.N / NR);
  const mFull = g.M - (g.M % mr);
  const [tiles, fullTiles] = [Math.ceil(g.M / mr), mFull / mr];
  const out: Expr[] = [];
  // This thread's tiles [lo, hi) of rows (byRows) or of panels, in locals; everything without `part`.
  const byRows = tiles >= panels;
  const [lo, hi] = [f.local(I32), f.local(I32)];
  const range = g.part?.(byRows ? tiles : panels);
  if (range) out.push(f.set(lo, range[0]()), f.set(hi, range[1]()));
  const min = (a: V, b: number): V => () => m.select(m.i32.lt_s(a(), f.c(b)), a(), f.c(b));
  const max = (a: V, b: number): V => () => m.select(m.i32.gt_s(a(), f.c(b)), a(), f.c(b));
  const mine = (test: Expr, e: Expr[]): Expr[] => (e.length ? [m.if(test, m.block(null, e))] : []);
  const [panelsFrom, panelsTo] = range && !byRows ? [f.get(lo), f.get(hi)] : [undefined, undefined];
  for (let p0 = 0; p0 < panels; p0 += BLOCK_PANELS) {
    const end = Math.min(p0 + BLOCK_PANELS, full);
    const hasTail = full < Math.min(p0 + BLOCK_PANELS, panels);
    const rowTile = (rows: number, row: V): Expr[] => {
      const tail = hasTail ? [call(rows, g.N % NR, row, () => f.c(full))] : [];
      if (!panelsFrom || !panelsTo) return [...(end > p0 ? [f.loop(f.c(p0), end, 1, (p) => [call(rows, NR, row, p)])] : []), ...tail];
      return [
        ...(end > p0 ? [f.loop(max(panelsFrom, p0)(), min(panelsTo, end), 1, (p) => [call(rows, NR, row, p)])] : []),
        ...mine(m.i32.and(m.i32.le_s(panelsFrom(), f.c(full)), m.i32.gt_s(panelsTo(), f.c(full))), tail),
      ];
    };
    if (range && byRows) {
      if (mFull > 0) out.push(f.loop(m.i32.mul(f.get(lo)(), f.c(mr)), () => m.i32.mul(min(f.get(hi), fullTiles)(), f.c(mr)), mr, (i) => rowTile(mr, i)));
      if (g.M > mFull) out.push(...mine(m.i32.gt_s(f.get(hi)(), f.c(fullTiles)), rowTile(g.M - mFull, () => f.c(mFull))));
      continue;
    }
    if (mFull > 0) out.push(f.loop(f.c(0), mFull, mr, (i) => rowTile(mr, i)));
    if (g.M > mFull) out.push(...rowTile(g.M - mFull, () => f.c(mFull)));
  }
  return m.block(null, out);
}

/**
 * A function (src, dst) -> () packing B[k][n] = src[k * sk + n * sn] (element strides) into
 * panels at run time: for matmul operands and attention's K^T and V.
 */
export function packBRuntime(e: Emit, K: number, N: number, sk: number, sn: number): string {
  return cached(e, `gemm_pack_${K}_${N}_${sk}_${sn}`, (name) => {
    const f = new Fn(e.mod, e.relaxed, [I32, I32]);
    const m = e.mod;
    const [src, dst] = [f.get(0), f.get(1)];
    const [s, d] = [f.local(I32), f.local(I32)];
    // One panel of `cols` valid columns starting at column n0: K rows of 8 floats.
    const panel = (n0: V, cols: number): Expr[] => [
      f.set(s, m.i32.add(src(), m.i32.mul(n0(), f.c(sn * 4)))),
      f.loop(f.c(0), K, 1, () => {
        const row: Expr[] = [];
        if (sn === 1 && cols === NR) for (let j = 0; j < 2; j++) row.push(m.v128.store(16 * j, 4, f.get(d)(), m.v128.load(16 * j, 4, f.get(s)())));
        else for (let j = 0; j < NR; j++) row.push(m.f32.store(4 * j, 4, f.get(d)(), j < cols ? m.f32.load(j * sn * 4, 4, f.get(s)()) : m.f32.const(0)));
        return [...row, f.set(s, m.i32.add(f.get(s)(), f.c(sk * 4))), f.set(d, m.i32.add(f.get(d)(), f.c(NR * 4)))];
      }),
    ];
    const full = Math.floor(N / NR);
    f.finish(name, [
      f.set(d, dst()),
      ...(full > 0 ? [f.loop(f.c(0), full * NR, NR, (n0) => panel(n0, NR))] : []),
      ...(N % NR ? panel(() => f.c(full * NR), N % NR) : []),
    ]);
  });
}
