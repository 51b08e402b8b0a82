// Building blocks for kernel bodies: a function builder with fresh-node expression thunks, and
// `Lanes`, one vocabulary of arithmetic emitted either as scalars (w = 1) or as SIMD f32x4 / i32x4
// (w = 4), so each kernel and math routine is written once and serves the vector loop and its
// scalar tail alike.
import binaryen from "binaryen";

export type E = binaryen.ExpressionRef;
/** Builds a fresh expression on every call: Binaryen's optimizer aborts on a node used twice. */
export type X = () => E;
export type Elem = "f32" | "i32";
/** A value built for a given width. */
export type X1 = (L: Lanes) => X;
/** This thread's share [lo, hi) of [0, n) (KernelContext.part). */
export type Part = (n: number) => [X, X];

/** A kernel function under construction: its locals and the statement list being filled. */
export class Code {
  private readonly vars: binaryen.Type[] = [];
  private stmts: E[] = [];
  private labels = 0;
  constructor(readonly m: binaryen.Module) {}

  local(type: binaryen.Type): number {
    return this.vars.push(type) - 1;
  }

  emit(e: E): void {
    this.stmts.push(e);
  }

  /** Evaluates `x` once into a new local; the returned thunk reads it. */
  let(x: X, type: binaryen.Type): X {
    const i = this.local(type);
    this.emit(this.m.local.set(i, x()));
    return () => this.m.local.get(i, type);
  }

  /** A mutable local initialised to `x`. */
  mut(x: X, type: binaryen.Type): { get: X; set: (x: X) => void } {
    const i = this.local(type);
    this.emit(this.m.local.set(i, x()));
    return { get: () => this.m.local.get(i, type), set: (v) => this.emit(this.m.local.set(i, v())) };
  }

  /** Runs `body` over [0, n): four lanes at a time (unless `scalar`), then an unrolled scalar tail. */
  lanes(n: number, relaxed: boolean, body: (L: Lanes, j: X) => void, scalar = false): void {
    const L1 = new Lanes(this, 1, relaxed);
    if (scalar) return this.loop(n, 1, (j) => body(L1, j));
    const vecEnd = n - (n % 4);
    if (vecEnd) this.loop(vecEnd, 4, (j) => body(new Lanes(this, 4, relaxed), j));
    for (let t = vecEnd; t < n; t++) body(L1, () => this.m.i32.const(t));
  }

  /**
   * Folds `step` over [0, n) into one scalar: lane-wise accumulators (initialised to `init`)
   * reduced by `across`, then the scalar tail.
   */
  fold(n: number, relaxed: boolean, init: X1, step: (L: Lanes, acc: X, j: X) => X, across: (L: Lanes, acc: X) => X, e: Elem = "f32"): X {
    const L4 = new Lanes(this, 4, relaxed);
    const L1 = new Lanes(this, 1, relaxed);
    const vecEnd = n - (n % 4);
    let first: X = init(L1);
    if (vecEnd) {
      const acc = this.mut(init(L4), binaryen.v128);
      this.loop(vecEnd, 4, (j) => acc.set(step(L4, acc.get, j)));
      first = across(L4, acc.get);
    }
    const s = this.mut(first, L1.type(e));
    for (let t = vecEnd; t < n; t++) s.set(step(L1, s.get, () => this.m.i32.const(t)));
    return s.get;
  }

  /** The statements `build` emits, as one block. */
  block(build: () => void): E {
    const saved = this.stmts;
    this.stmts = [];
    build();
    const b = this.m.block(null, this.stmts, binaryen.none);
    this.stmts = saved;
    return b;
  }

  /** for (i = 0; i < n; i += step) with n >= step: a do-while loop (trip counts are static). */
  loop(n: number, step: number, body: (i: X) => void): void {
    const { m } = this;
    const i = this.local(binaryen.i32);
    const label = `L${this.labels++}`;
    const get = () => m.local.get(i, binaryen.i32);
    this.emit(m.local.set(i, m.i32.const(0)));
    const inner = this.block(() => {
      body(get);
      this.emit(m.local.set(i, m.i32.add(get(), m.i32.const(step))));
      this.emit(m.br(label, m.i32.lt_u(get(), m.i32.const(n))));
    });
    this.emit(m.loop(label, inner));
  }

  /** for (i = lo; i < hi; i++) with bounds known only at run time. */
  range(lo: X, hi: X, body: (i: X) => void): void {
    const { m } = this;
    const i = this.local(binaryen.i32);
    const [exit, next] = [`B${this.labels}`, `L${this.labels++}`];
    const get = () => m.local.get(i, binaryen.i32);
    this.emit(m.local.set(i, lo()));
    const inner = this.block(() => {
      this.emit(m.br(exit, m.i32.ge_s(get(), hi())));
      body(get);
      this.emit(m.local.set(i, m.i32.add(get(), m.i32.const(1))));
      this.emit(m.br(next));
    });
    this.emit(m.block(exit, [m.loop(next, inner)]));
  }

  /**
   * `lanes` over this thread's share of [0, n) (`part`, KernelContext.part): whole vectors, the
   * scalar tail with the last share, so each element is computed as on one thread.
   */
  lanesPart(n: number, relaxed: boolean, part: Part, body: (L: Lanes, j: X) => void, scalar = false): void {
    const { m } = this;
    const L1 = new Lanes(this, 1, relaxed);
    const share = (count: number) => part(count).map((x) => this.let(x, binaryen.i32)) as [X, X];
    if (scalar) return this.range(...share(n), (j) => body(L1, j));
    const vectors = Math.floor(n / 4);
    const [lo, hi] = share(vectors + (n % 4 ? 1 : 0));
    if (vectors) {
      const end = this.let(() => m.select(m.i32.lt_s(hi(), m.i32.const(vectors)), hi(), m.i32.const(vectors)), binaryen.i32);
      this.range(lo, end, (v) => body(new Lanes(this, 4, relaxed), () => m.i32.shl(v(), m.i32.const(2))));
    }
    if (n % 4) this.emit(m.if(m.i32.gt_s(hi(), m.i32.const(vectors)), this.block(() => {
      for (let t = vectors * 4; t < n; t++) body(L1, () => m.i32.const(t));
    })));
  }

  /** `nest` over `dims` (at least one), this thread taking its share of the first two together. */
  nestPart(dims: readonly number[], part: Part, body: (idx: X[]) => void): void {
    const { m } = this;
    const split = Math.min(2, dims.length);
    const [lo, hi] = part(dims[0]! * (split === 2 ? dims[1]! : 1)).map((x) => this.let(x, binaryen.i32)) as [X, X];
    this.range(lo, hi, (r) => {
      const idx = split === 2 ? [this.let(() => m.i32.div_u(r(), m.i32.const(dims[1]!)), binaryen.i32), this.let(() => m.i32.rem_u(r(), m.i32.const(dims[1]!)), binaryen.i32)] : [r];
      this.nest(dims.slice(split), body, idx);
    });
  }

  /** Loops over every index of `dims` (outermost first). */
  nest(dims: readonly number[], body: (idx: X[]) => void, idx: X[] = []): void {
    if (dims.length === 0) return body(idx);
    this.loop(dims[0]!, 1, (i) => this.nest(dims.slice(1), body, [...idx, i]));
  }

  /** Adds the function `() -> ()` to the module. */
  finish(name: string): string {
    this.m.addFunction(name, binaryen.none, binaryen.none, this.vars, this.m.block(null, this.stmts, binaryen.none));
    return name;
  }
}

/** i32 byte address `base + Σ idx[k] * scale[k]`, skipping zero terms. */
export function address(m: binaryen.Module, base: X, terms: [X, number][]): X {
  return () => terms.reduce((acc, [i, s]) => (s === 0 ? acc : m.i32.add(acc, s === 1 ? i() : m.i32.mul(i(), m.i32.const(s)))), base());
}

const SIGN = 0x80000000 | 0;

/** Where `Lanes` binds temporaries and emits statements: a `Code`, or the GEMM kernels' `Fn`. */
export type Scope = Pick<Code, "m" | "let" | "emit">;

/** Arithmetic at width 1 (f32 / i32 scalars, i32 0/1 masks) or 4 (v128, all-ones lane masks). */
export class Lanes {
  readonly m: binaryen.Module;
  constructor(readonly c: Scope, readonly w: 1 | 4, readonly relaxed: boolean) {
    this.m = c.m;
  }
  private get v(): boolean {
    return this.w === 4;
  }

  type(e: Elem): binaryen.Type {
    return this.v ? binaryen.v128 : e === "f32" ? binaryen.f32 : binaryen.i32;
  }
  /** Binds `x` to a local; masks (comparison results) are "i32". */
  let(x: X, e: Elem = "f32"): X {
    return this.c.let(x, this.type(e));
  }

  f(k: number): X {
    return () => (this.v ? this.m.f32x4.splat(this.m.f32.const(k)) : this.m.f32.const(k));
  }
  /** A scalar f32 broadcast to all lanes. */
  splat(s: X): X {
    return this.v ? () => this.m.f32x4.splat(s()) : s;
  }
  i(k: number): X {
    return () => (this.v ? this.m.i32x4.splat(this.m.i32.const(k)) : this.m.i32.const(k));
  }

  private op2(s: (a: E, b: E) => E, v: (a: E, b: E) => E) {
    return (a: X, b: X): X => () => (this.v ? v(a(), b()) : s(a(), b()));
  }
  private op1(s: (a: E) => E, v: (a: E) => E) {
    return (a: X): X => () => (this.v ? v(a()) : s(a()));
  }

  readonly add = this.op2((a, b) => this.m.f32.add(a, b), (a, b) => this.m.f32x4.add(a, b));
  readonly sub = this.op2((a, b) => this.m.f32.sub(a, b), (a, b) => this.m.f32x4.sub(a, b));
  readonly mul = this.op2((a, b) => this.m.f32.mul(a, b), (a, b) => this.m.f32x4.mul(a, b));
  readonly div = this.op2((a, b) => this.m.f32.div(a, b), (a, b) => this.m.f32x4.div(a, b));
  /** IEEE-style min / max: NaN propagates (Math.min / Math.max). */
  readonly min = this.op2((a, b) => this.m.f32.min(a, b), (a, b) => this.m.f32x4.min(a, b));
  readonly max = this.op2((a, b) => this.m.f32.max(a, b), (a, b) => this.m.f32x4.max(a, b));
  /** b > a ? b : a — one instruction on x86 (maxps); NaN in `a` passes, NaN in `b` gives `a`. */
  pmax(a: X, b: X): X {
    return this.v ? () => this.m.f32x4.pmax(a(), b()) : this.pick((p, q) => this.m.f32.gt(p, q), b, a, "f32");
  }
  /** b < a ? b : a (minps), as pmax. */
  pmin(a: X, b: X): X {
    return this.v ? () => this.m.f32x4.pmin(a(), b()) : this.pick((p, q) => this.m.f32.lt(p, q), b, a, "f32");
  }
  readonly sqrt = this.op1((a) => this.m.f32.sqrt(a), (a) => this.m.f32x4.sqrt(a));
  readonly abs = this.op1((a) => this.m.f32.abs(a), (a) => this.m.f32x4.abs(a));
  readonly neg = this.op1((a) => this.m.f32.neg(a), (a) => this.m.f32x4.neg(a));
  readonly nearest = this.op1((a) => this.m.f32.nearest(a), (a) => this.m.f32x4.nearest(a));
  readonly trunc = this.op1((a) => this.m.f32.trunc(a), (a) => this.m.f32x4.trunc(a));
  copysign(a: X, b: X): X {
    return this.v ? () => this.m.v128.bitselect(b(), a(), this.i(SIGN)()) : () => this.m.f32.copysign(a(), b());
  }
  /** a * b + c: f32x4.relaxed_madd in the relaxed build (fused or not, as the engine likes). */
  madd(a: X, b: X, c: X): X {
    if (this.v && this.relaxed) return () => (binaryen as any)._BinaryenSIMDTernary(this.m.ptr, binaryen.RelaxedMaddVecF32x4, a(), b(), c());
    return this.add(this.mul(a, b), c);
  }
  /** Horner: cs[0] + x (cs[1] + x (cs[2] + ...)). */
  poly(x: X, cs: readonly number[]): X {
    let acc = this.f(cs[cs.length - 1]!);
    for (let k = cs.length - 2; k >= 0; k--) acc = this.madd(acc, x, this.f(cs[k]!));
    return acc;
  }

  readonly lt = this.op2((a, b) => this.m.f32.lt(a, b), (a, b) => this.m.f32x4.lt(a, b));
  readonly le = this.op2((a, b) => this.m.f32.le(a, b), (a, b) => this.m.f32x4.le(a, b));
  readonly gt = this.op2((a, b) => this.m.f32.gt(a, b), (a, b) => this.m.f32x4.gt(a, b));
  readonly ge = this.op2((a, b) => this.m.f32.ge(a, b), (a, b) => this.m.f32x4.ge(a, b));
  readonly eq = this.op2((a, b) => this.m.f32.eq(a, b), (a, b) => this.m.f32x4.eq(a, b));
  readonly ne = this.op2((a, b) => this.m.f32.ne(a, b), (a, b) => this.m.f32x4.ne(a, b));
  readonly and = this.op2((a, b) => this.m.i32.and(a, b), (a, b) => this.m.v128.and(a, b));
  /** mask ? a : b, for f32 or i32 lanes. */
  sel(mask: X, a: X, b: X): X {
    return () => (this.v ? this.m.v128.bitselect(a(), b(), mask()) : this.m.select(mask(), a(), b()));
  }

  readonly iadd = this.op2((a, b) => this.m.i32.add(a, b), (a, b) => this.m.i32x4.add(a, b));
  readonly isub = this.op2((a, b) => this.m.i32.sub(a, b), (a, b) => this.m.i32x4.sub(a, b));
  readonly imul = this.op2((a, b) => this.m.i32.mul(a, b), (a, b) => this.m.i32x4.mul(a, b));
  // Signed i32 comparisons: masks, as the f32 ones.
  readonly ilt = this.op2((a, b) => this.m.i32.lt_s(a, b), (a, b) => this.m.i32x4.lt_s(a, b));
  readonly ile = this.op2((a, b) => this.m.i32.le_s(a, b), (a, b) => this.m.i32x4.le_s(a, b));
  readonly igt = this.op2((a, b) => this.m.i32.gt_s(a, b), (a, b) => this.m.i32x4.gt_s(a, b));
  readonly ige = this.op2((a, b) => this.m.i32.ge_s(a, b), (a, b) => this.m.i32x4.ge_s(a, b));
  readonly ieq = this.op2((a, b) => this.m.i32.eq(a, b), (a, b) => this.m.i32x4.eq(a, b));
  readonly ine = this.op2((a, b) => this.m.i32.ne(a, b), (a, b) => this.m.i32x4.ne(a, b));
  imin(a: X, b: X): X {
    return this.v ? () => this.m.i32x4.min_s(a(), b()) : this.pick((p, q) => this.m.i32.lt_s(p, q), a, b, "i32");
  }
  imax(a: X, b: X): X {
    return this.v ? () => this.m.i32x4.max_s(a(), b()) : this.pick((p, q) => this.m.i32.gt_s(p, q), a, b, "i32");
  }
  /** Scalar `cmp(a, b) ? a : b`. */
  private pick(cmp: (a: E, b: E) => E, a: X, b: X, e: Elem): X {
    const [p, q] = [this.let(a, e), this.let(b, e)];
    return () => this.m.select(cmp(p(), q()), p(), q());
  }
  ishl(a: X, n: number): X {
    return () => (this.v ? this.m.i32x4.shl(a(), this.m.i32.const(n)) : this.m.i32.shl(a(), this.m.i32.const(n)));
  }
  ishr(a: X, n: number): X {
    return () => (this.v ? this.m.i32x4.shr_s(a(), this.m.i32.const(n)) : this.m.i32.shr_s(a(), this.m.i32.const(n)));
  }
  readonly ior = this.op2((a, b) => this.m.i32.or(a, b), (a, b) => this.m.v128.or(a, b));
  /** f32 -> i32, truncating and saturating (NaN -> 0). */
  readonly ftoi = this.op1((a) => this.m.i32.trunc_s_sat.f32(a), (a) => this.m.i32x4.trunc_sat_f32x4_s(a));
  readonly itof = this.op1((a) => this.m.f32.convert_s.i32(a), (a) => this.m.f32x4.convert_i32x4_s(a));
  /** Reinterpret bits (a no-op on v128). */
  bitsF(a: X): X {
    return this.v ? a : () => this.m.f32.reinterpret(a());
  }
  bitsI(a: X): X {
    return this.v ? a : () => this.m.i32.reinterpret(a());
  }

  /** Loads `w` elements at byte address `ptr`, consecutive elements `stride` elements apart. */
  load(e: Elem, ptr: X, stride: number): X {
    const { m } = this;
    const scalar = (off: number) => (e === "f32" ? m.f32.load(off, 4, ptr()) : m.i32.load(off, 4, ptr()));
    if (!this.v) return () => scalar(0);
    if (stride === 1) return () => m.v128.load(0, 4, ptr());
    const splat = () => (e === "f32" ? m.f32x4.splat(scalar(0)) : m.i32x4.splat(scalar(0)));
    if (stride === 0) return splat;
    return () => {
      let v = splat();
      for (let k = 1; k < 4; k++) v = e === "f32" ? m.f32x4.replace_lane(v, k, scalar(4 * k * stride)) : m.i32x4.replace_lane(v, k, scalar(4 * k * stride));
      return v;
    };
  }

  /** Stores `w` elements of `x` at `ptr`, `stride` elements apart. */
  store(e: Elem, ptr: X, stride: number, x: X): void {
    const { m, c } = this;
    if (!this.v) return c.emit(e === "f32" ? m.f32.store(0, 4, ptr(), x()) : m.i32.store(0, 4, ptr(), x()));
    if (stride === 1) return c.emit(m.v128.store(0, 4, ptr(), x()));
    const val = c.let(x, binaryen.v128);
    for (let k = 0; k < 4; k++) c.emit(m.v128.store32_lane(4 * k * stride, 4, k, ptr(), val()));
  }

  /** Sum of the four lanes (identity at w = 1). */
  hsum(x: X, e: Elem = "f32"): X {
    if (!this.v) return x;
    const v = this.let(x);
    const lane = (k: number) => () => (e === "f32" ? this.m.f32x4.extract_lane(v(), k) : this.m.i32x4.extract_lane(v(), k));
    const add = (a: X, b: X) => () => (e === "f32" ? this.m.f32.add(a(), b()) : this.m.i32.add(a(), b()));
    return add(add(lane(0), lane(1)), add(lane(2), lane(3)));
  }
  /** Max of the four lanes (NaN-propagating for f32). */
  hmax(x: X, e: Elem = "f32"): X {
    if (!this.v) return x;
    const v = this.let(x);
    const L1 = new Lanes(this.c, 1, this.relaxed);
    const lane = (k: number) => () => (e === "f32" ? this.m.f32x4.extract_lane(v(), k) : this.m.i32x4.extract_lane(v(), k));
    const mx = (a: X, b: X) => (e === "f32" ? L1.max(a, b) : L1.imax(a, b));
    return mx(mx(lane(0), lane(1)), mx(lane(2), lane(3)));
  }
}
