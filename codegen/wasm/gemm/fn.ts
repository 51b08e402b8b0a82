// A small function builder for the GEMM-family kernels: typed locals, counted loops, and the
// SIMD idioms they share (fused or split multiply-add, partial-vector loads and stores).
import binaryen from "binaryen";

type Expr = binaryen.ExpressionRef;
// binaryen.js has no helper for relaxed madd; the raw C export builds it.
const raw = binaryen as unknown as { _BinaryenSIMDTernary(m: number, op: binaryen.Operations, a: Expr, b: Expr, c: Expr): Expr };
/** An expression factory: Binaryen aborts optimize() when one node is used twice, so every use builds anew. */
export type V = () => Expr;

export class Fn {
  readonly vars: binaryen.Type[] = [];
  /** Statements that bind temporaries (see tmp); the caller emits them before the expression using them. */
  private pending: Expr[] = [];
  private labels = 0;

  constructor(
    readonly m: binaryen.Module,
    readonly relaxed: boolean,
    readonly params: binaryen.Type[] = [],
  ) {}

  local(type: binaryen.Type): number {
    this.vars.push(type);
    return this.params.length + this.vars.length - 1;
  }

  get(i: number): V {
    const type = i < this.params.length ? this.params[i]! : this.vars[i - this.params.length]!;
    return () => this.m.local.get(i, type);
  }

  set(i: number, e: Expr): Expr {
    return this.m.local.set(i, e);
  }

  /** Binds `e` to a fresh local (queued in `take()`) and returns a reader of it. */
  tmp(e: Expr, type: binaryen.Type = binaryen.v128): V {
    const i = this.local(type);
    this.emit(this.set(i, e));
    return this.get(i);
  }

  // With `emit` and `let`, an Fn is a `Scope` for `Lanes` (math.ts on the epilogue's vectors).
  emit(e: Expr): void {
    this.pending.push(e);
  }

  let(x: V, type: binaryen.Type): V {
    return this.tmp(x(), type);
  }

  take(): Expr[] {
    const p = this.pending;
    this.pending = [];
    return p;
  }

  label(): string {
    return `L${this.labels++}`;
  }

  c(n: number): Expr {
    return this.m.i32.const(n);
  }

  /** for (i = from; i < to; i += step) body(i) — `to` a compile-time bound; the body runs at least once when from < to. */
  loop(from: Expr, to: number | V, step: number, body: (i: V) => Expr[]): Expr {
    const m = this.m;
    const i = this.local(binaryen.i32);
    const iv = this.get(i);
    const L = this.label();
    const bound = typeof to === "number" ? () => this.c(to) : to;
    return m.block(null, [
      this.set(i, from),
      m.if(m.i32.lt_s(iv(), bound()), m.loop(L, m.block(null, [...body(iv), this.set(i, m.i32.add(iv(), this.c(step))), m.br(L, m.i32.lt_s(iv(), bound()))]))),
    ]);
  }

  /** a * b + c, fused when relaxed SIMD is on. */
  madd(a: Expr, b: Expr, c: Expr): Expr {
    return this.relaxed ? raw._BinaryenSIMDTernary(this.m.ptr, binaryen.RelaxedMaddVecF32x4, a, b, c) : this.m.f32x4.add(this.m.f32x4.mul(a, b), c);
  }

  splat(x: number): Expr {
    return this.m.f32x4.splat(this.m.f32.const(x));
  }

  /** Loads `n` (1..4) consecutive f32 at ptr + offset; missing lanes are 0. */
  load(ptr: V, offset: number, n: number): Expr {
    const v = this.m.v128;
    if (n >= 4) return v.load(offset, 4, ptr());
    if (n === 1) return v.load32_zero(offset, 4, ptr());
    const lo = v.load64_zero(offset, 4, ptr());
    return n === 2 ? lo : v.load32_lane(offset + 8, 4, 2, ptr(), lo);
  }

  /** Stores the first `n` (1..4) lanes of `val` at ptr + offset; `val` is read once per piece. */
  store(ptr: V, offset: number, n: number, val: V): Expr {
    const v = this.m.v128;
    if (n >= 4) return v.store(offset, 4, ptr(), val());
    if (n === 1) return v.store32_lane(offset, 4, 0, ptr(), val());
    const lo = v.store64_lane(offset, 4, 0, ptr(), val());
    return n === 2 ? lo : this.m.block(null, [lo, v.store32_lane(offset + 8, 4, 2, ptr(), val())]);
  }

  /** Adds the function to the module. */
  finish(name: string, body: Expr[]): string {
    this.m.addFunction(name, binaryen.createType(this.params), binaryen.none, this.vars, this.m.block(null, body));
    return name;
  }
}

/** Address arithmetic: base + byte offset, folding constants. */
export function addr(m: binaryen.Module, base: V, bytes: V | number): Expr {
  if (typeof bytes === "number") return bytes === 0 ? base() : m.i32.add(base(), m.i32.const(bytes));
  return m.i32.add(base(), bytes());
}

/** What the generators need of a KernelContext (context.ts). */
export interface Emit {
  mod: binaryen.Module;
  relaxed: boolean;
  fnName(base: string): string;
}

const mkCache = new WeakMap<binaryen.Module, Map<string, string>>();

/** The function `key` names in e.mod, built once per module. */
export function cached(e: Emit, key: string, build: (name: string) => void): string {
  let map = mkCache.get(e.mod);
  if (!map) mkCache.set(e.mod, (map = new Map()));
  let name = map.get(key);
  if (name === undefined) {
    name = e.fnName(key.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 40));
    build(name);
    // Inlining micro-kernels into their callers is what made the prototype spill.
    binaryen.setPassArgument("no-inline", name);
    e.mod.runPasses(["no-inline"]);
    binaryen.setPassArgument("no-inline", null);
    map.set(key, name);
  }
  return name;
}

