// One WGSL compute shader per IR node, specialised to its shapes: every size, stride and
// scalar constant is baked in, so the host binds buffers and dispatches, nothing else. Kernels
// stay within WebGPU's default limits (256 invocations, 16 KiB workgroup memory, 8 storage
// buffers, 65535 workgroups per dimension: a linear workgroup count is split over x and y).
// Kernels read NCHW tensors: the driver decomposes channels-last nodes first (wgslTarget.supports).
//
// NaN and ±Inf: WGSL lets compilers assume neither occurs, so `x != x` folds to false and max,
// min and clamp drop a NaN operand; SwiftShader's exp, log and pow give finite or infinite
// garbage for NaN. What holds on SwiftShader (measured: test/conformance, test/wgsl/kernels):
// + - * / and comparisons propagate NaN and ±Inf as IEEE does, and a NaN's bit pattern survives,
// so NaN is detected by its bits (isnan_) and passed through every unary op, max_ / min_, pow_,
// the reductions' max and softmax's exp; NaN and ±Inf constants, which cannot be literals, are
// made at run time (f32()). What does not: the compiler simplifies as if neither occurred, so
// x * 0.0 (a literal 0) is 0 and (a - b) + b is a for NaN and ±Inf; log of x <= 0 is not NaN or
// -Inf.
import { numel, type Attrs, type FusedStep, type Graph, type Node } from "../../src/ir/graph.js";
import {
  activationOf, binaryOps, compareOps, epilogueInputs, isBinaryOp, isNHWC, isOp, isUnaryOp, isUnsupported, normAxis, unaryOps, unsupported,
  type BinaryOp, type CompareOp, type NodeOf, type OpName, type UnaryAttrs, type UnaryOp, type Unsupported,
} from "../../src/ir/ops.js";
import { FRACTION_SCALE, FRACTION_SHIFT, GOLDEN, MIX, mix32 } from "../../src/ir/random.js";
import { resizeTables } from "../../src/ir/resize.js";
import { around, broadcastStrides, padAxes, sliceRange, strides, type PadMode } from "../../src/ir/shape.js";
import { GELU_TANH_CUBIC, SELU_ALPHA, SELU_SCALE, SQRT_2_OVER_PI } from "../../src/base/math.js";

export interface Kernel {
  /** The node it computes, for pipeline labels and error messages. */
  label: string;
  code: string;
  /** Value ids bound at @binding(0), (1), ...: the values read, then the one written. */
  bindings: number[];
  /** Workgroups to dispatch in x and y. */
  x: number;
  y: number;
}

const MAX_DIM = 65535;
const MAX_BINDINGS = 8;
/**
 * Multiply-accumulates per batch entry from which a GEMM is tiled: below it there are too few
 * tiles to fill a GPU, and the per-output kernel also compiles far faster (SwiftShader takes
 * seconds per workgroup-memory shader). ResNet at 224x224 and BERT's linears are above it.
 */
export const TILE_MACS = 2 ** 22;

const u = (n: number) => `${n}u`;

/**
 * A WGSL f32 value, exact for every float32: a literal where finite; NaN and ±Inf, which a
 * constant expression may not be, from their bits at run time (bits_).
 */
export function f32(x: number): string {
  const v = Math.fround(x);
  if (!Number.isFinite(v)) return `bits_(${Number.isNaN(v) ? "0x7fc00000u" : v > 0 ? "0x7f800000u" : "0xff800000u"})`;
  const s = String(v);
  return `f32(${/[.e]/.test(s) ? s : `${s}.0`})`;
}

/** Expressions for the coordinates of flat index `i` in a row-major tensor of `shape`. */
function coords(shape: readonly number[], i: string): string[] {
  const st = strides(shape);
  return shape.map((d, k) => {
    const q = st[k] === 1 ? i : `(${i} / ${u(st[k]!)})`;
    return k === 0 ? q : `(${q} % ${u(d)})`;
  });
}

/** Offset into a tensor of shape `inp` broadcast (numpy rules) to `out`, for flat output index `i`. */
function bcast(inp: readonly number[], out: readonly number[], i: string): string {
  if (numel(inp) === numel(out)) return i;
  if (numel(inp) === 1) return "0u";
  const c = coords(out, i);
  return broadcastStrides(inp, out).flatMap((st, k) => (st === 0 ? [] : [`${c[k]} * ${u(st)}`])).join(" + ");
}

/** A WGSL helper function: `name` is how code calls it (helpers it calls come before it in HELPERS). */
interface Helper {
  name: string;
  code: string;
}

// An f32 from its bits, at run time: a user function's result is never a constant expression.
const BITS: Helper = { name: "bits_", code: "fn bits_(b: u32) -> f32 { return bitcast<f32>(b); }" };
// NaN by its bits: compilers may fold `x != x` to false.
const ISNAN: Helper = { name: "isnan_", code: "fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }" };
const ISINF: Helper = { name: "isinf_", code: "fn isinf_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }" };
// IEEE max / min with NaN propagating (WGSL's drop a NaN operand).
const MAX: Helper = { name: "max_", code: "fn max_(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, isnan_(b)), a, isnan_(a)); }" };
const MIN: Helper = { name: "min_", code: "fn min_(a: f32, b: f32) -> f32 { return select(select(min(a, b), b, isnan_(b)), a, isnan_(a)); }" };
const EXP: Helper = { name: "exp_", code: "fn exp_(x: f32) -> f32 { return select(exp(x), x, isnan_(x)); }" };

// Eigen's float erf: a rational approximation on [-4, 4] (erf is ±1 in f32 beyond), a few ulp.
const ERF: Helper = { name: "erf_", code: `fn erf_(v: f32) -> f32 {
  let x = clamp(v, -4.0, 4.0);
  let z = x * x;
  let p = ((((((-2.72614225801306e-10 * z + 2.77068142495902e-08) * z - 2.10102402082508e-06) * z - 5.69250639462346e-05) * z - 7.34990630326855e-04) * z - 2.95459980854025e-03) * z - 1.60960333262415e-02) * x;
  let q = (((-1.45660718464996e-05 * z - 2.13374055278905e-04) * z - 1.68282697438203e-03) * z - 7.37332916720468e-03) * z - 1.42647390514189e-02;
  return p / q;
}` };
// C's pow (the interpreter's): WGSL's is undefined for a negative base and SwiftShader's is
// garbage at NaN. |a|^b with a's sign for an odd integer b, NaN for a finite a < 0 and a
// non-integer b; 1 for b = 0, a = 1 and a = -1 with b = ±Inf.
const POW: Helper = { name: "pow_", code: `fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0 || (a == -1.0 && isinf_(b))) { return 1.0; }
  if (isnan_(a) || isnan_(b)) { return select(b, a, isnan_(a)); }
  let r = pow(abs(a), b);
  if (b == round(b) && abs(b) % 2.0 == 1.0 && (bitcast<u32>(a) >> 31u) == 1u) { return -r; }
  if (a < 0.0 && !isinf_(a) && b != round(b)) { return ${f32(NaN)}; }
  return r;
}` };

// lowbias32 (src/ir/random.ts): u32 multiplies wrap in WGSL as in wasm.
const MIX32: Helper = { name: "mix32_", code: `fn mix32_(x: u32) -> u32 {
  var h = (x ^ (x >> ${u(MIX.shifts[0])})) * ${u(MIX.m1)};
  h = (h ^ (h >> ${u(MIX.shifts[1])})) * ${u(MIX.m2)};
  return h ^ (h >> ${u(MIX.shifts[2])});
}` };

/** In dependency order: a helper calls only those before it. */
const HELPERS: readonly Helper[] = [BITS, ISNAN, ISINF, MAX, MIN, EXP, ERF, POW, MIX32];

/** The helpers `code` calls, directly or through other helpers, in dependency order. */
function helpersFor(code: string): string[] {
  const used: string[] = [];
  let text = code;
  for (const h of [...HELPERS].reverse())
    if (text.includes(`${h.name}(`)) {
      used.unshift(h.code);
      text += h.code;
    }
  return used;
}

/**
 * Each unary op on the f32 identifier `x` (applyUnary passes a NaN x through). tanh's argument
 * is clamped: some drivers give NaN for large |x|. The gelu constants are abstract-float
 * literals, rounded to f32 once by WGSL.
 */
const unary: { readonly [N in UnaryOp]: (x: string, a: UnaryAttrs<N>) => string } = {
  relu: (x) => `max(${x}, 0.0)`,
  relu6: (x) => `clamp(${x}, 0.0, 6.0)`,
  sigmoid: (x) => `(1.0 / (1.0 + exp(-${x})))`,
  tanh: (x) => `tanh(clamp(${x}, -15.0, 15.0))`,
  selu: (x) => `select(${f32(SELU_SCALE * SELU_ALPHA)} * (exp(${x}) - 1.0), ${f32(SELU_SCALE)} * ${x}, ${x} > 0.0)`,
  silu: (x) => `(${x} / (1.0 + exp(-${x})))`,
  // (x + beta / alpha) alpha, as the wasm kernel: no cancellation near 0 for alpha 1/6 or 0.2.
  hard_sigmoid: (x, a) => `clamp((${x} + ${f32(a.beta / a.alpha)}) * ${f32(a.alpha)}, 0.0, 1.0)`,
  hard_swish: (x) => `(${x} * clamp(${x} + 3.0, 0.0, 6.0) / 6.0)`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log(${x})`,
  sqrt: (x) => `sqrt(${x})`,
  abs: (x) => `abs(${x})`,
  erf: (x) => `erf_(${x})`,
  neg: (x) => `(-${x})`,
  clip: (x, a) => `min(max(${x}, ${f32(a.min)}), ${f32(a.max)})`,
  leaky_relu: (x, a) => `select(${f32(a.slope)} * ${x}, ${x}, ${x} >= 0.0)`,
  elu: (x, a) => `select(${f32(a.alpha)} * (exp(${x}) - 1.0), ${x}, ${x} > 0.0)`,
  gelu: (x, a) =>
    a.approximate === "tanh"
      ? `(0.5 * ${x} * (1.0 + tanh(clamp(${SQRT_2_OVER_PI} * (${x} + ${GELU_TANH_CUBIC} * ${x} * ${x} * ${x}), -15.0, 15.0))))`
      : `(0.5 * ${x} * (1.0 + erf_(${x} * ${Math.SQRT1_2})))`,
};

/**
 * `op` on the identifier `x` with attributes as a node or fused step holds them (the verifier
 * checked them against op's schema). Every unary op maps NaN to NaN, which clamp, exp and
 * friends do not: a NaN x passes through.
 */
function applyUnary(op: UnaryOp, x: string, attrs: Attrs): string {
  return `select(${(unary[op] as (x: string, a: Attrs) => string)(x, attrs)}, ${x}, isnan_(${x}))`;
}

/** Each binary op on the identifiers `a` and `b`, f32 or (`int`) i32. */
const binary: Readonly<Record<BinaryOp, (a: string, b: string, int: boolean) => string>> = {
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  mul: (a, b) => `(${a} * ${b})`,
  div: (a, b) => `(${a} / ${b})`,
  pow: (a, b) => `pow_(${a}, ${b})`,
  maximum: (a, b, int) => `${int ? "max" : "max_"}(${a}, ${b})`,
  minimum: (a, b, int) => `${int ? "min" : "min_"}(${a}, ${b})`,
};

const comparison: Readonly<Record<CompareOp, string>> = { less: "<", less_equal: "<=", greater: ">", greater_equal: ">=", equal: "==", not_equal: "!=" };

/**
 * A comparison of the identifiers `a` and `b` as WGSL bool. Compilers may assume no NaN, so for
 * f32 a NaN operand is tested by its bits: unequal to everything, neither less nor greater.
 */
function compare(op: CompareOp, a: string, b: string, float: boolean): string {
  const c = `(${a} ${comparison[op]} ${b})`;
  if (!float) return c;
  const nan = `isnan_(${a}) || isnan_(${b})`;
  return op === "not_equal" ? `(${c} || ${nan})` : `(${c} && !(${nan}))`;
}

/** Builds one kernel for `node`: hands out bindings for the values it reads, then wraps the body. */
class Shader {
  private reads: number[] = [];
  constructor(readonly g: Graph, readonly node: Node) {}

  shape(v: number): number[] {
    return this.g.values[v]!.type.shape;
  }

  /** The WGSL element type of value v (integers of every width travel as i32). */
  ty(v: number): string {
    return this.g.values[v]!.type.dtype === "f32" ? "f32" : "i32";
  }

  /** The storage array holding value v. */
  src(v: number): string {
    const i = this.reads.indexOf(v);
    return `src${i < 0 ? this.reads.push(v) - 1 : i}`;
  }

  /** Element `idx` of value v; scalar constants are baked in as literals. */
  load(v: number, idx: string): string {
    const c = this.g.values[v]!.kind === "const" && numel(this.shape(v)) === 1 ? this.g.constants.find((k) => k.value === v)!.data[0]! : undefined;
    if (c === undefined) return `${this.src(v)}[${idx}]`;
    return this.ty(v) === "f32" ? f32(c) : `${c}i`;
  }

  /** The kernel writing value `out` (array `dst`) with `groups` workgroups of `size` invocations. */
  kernel(out: number, size: number, groups: number, body: string, decls = ""): Kernel {
    const bindings = [...this.reads, out];
    if (bindings.length > MAX_BINDINGS) throw new Error(`WGSL: ${this.label()} needs ${bindings.length} storage buffers; WebGPU allows ${MAX_BINDINGS} per shader`);
    const x = Math.min(groups, MAX_DIM);
    const y = Math.ceil(groups / x);
    if (y > MAX_DIM) throw new Error(`WGSL: ${this.label()} needs ${groups} workgroups, more than ${MAX_DIM}^2`);
    const code = [
      ...this.reads.map((v, i) => `@group(0) @binding(${i}) var<storage, read> src${i}: array<${this.ty(v)}>;`),
      `@group(0) @binding(${this.reads.length}) var<storage, read_write> dst: array<${this.ty(out)}>;`,
      decls,
      `@compute @workgroup_size(${size})`,
      `fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {`,
      `  let gid = wid.x + wid.y * ${u(x)};`,
      ...(x * y > groups ? [`  if (gid >= ${u(groups)}) { return; }`] : []),
      body,
      "}",
    ].join("\n");
    return { label: this.label(), code: [...helpersFor(code), code].join("\n"), bindings, x, y };
  }

  label(): string {
    return `${this.node.op} #${this.node.id}${this.node.path ? ` (${this.node.path})` : ""}`;
  }

  /** One invocation per element of `out`; `body` reads the flat index `i` and writes dst[i]. */
  perElement(out: number, body: string, decls = ""): Kernel {
    const n = numel(this.shape(out));
    return this.kernel(out, 256, Math.ceil(n / 256), `  let i = gid * 256u + lid;\n  if (i >= ${u(n)}) { return; }\n${body}`, decls);
  }

  /** Statements applying a conv2d/linear/matmul epilogue to `var v` and storing it at dst[idx]; `ch` is the output channel. */
  epilogue(idx: string, ch: string): string {
    const e = epilogueInputs(this.node.inputs, this.node.attrs);
    const act = activationOf(this.node.attrs);
    const lines: string[] = [];
    if (e.bias !== undefined) lines.push(`v += ${this.load(e.bias, ch)};`);
    if (e.residual !== undefined) lines.push(`v += ${this.load(e.residual, idx)};`);
    if (e.slope !== undefined) lines.push(`v = select(${this.load(e.slope, numel(this.shape(e.slope)) === 1 ? "0u" : ch)} * v, v, v >= 0.0);`);
    else if (act !== undefined && act !== "prelu") lines.push(`v = ${applyUnary(act.op, "v", act.attrs)};`);
    return [...lines, `dst[${idx}] = v;`].join(" ");
  }

  /**
   * C[b, m, n] = sum_k A(b, m, k) B(b, k, n). `a` and `b` are WGSL bodies returning A(b, m, k)
   * and B(b, k, n) for in-range indices; `store` writes `var v` for (b, m, n). Big products are
   * tiled through workgroup memory: up to 64x64 outputs per workgroup, 4x4 per invocation, K in
   * steps of 16. Small ones (under TILE_MACS per image, or N < 8, e.g. depthwise convolutions)
   * leave a tile mostly idle, so they run one invocation per output.
   */
  gemm(out: number, p: { batch: number; M: number; N: number; K: number; a: string; b: string; store: string }): Kernel {
    const fns = `fn a_(b: u32, m: u32, k: u32) -> f32 { ${p.a} }
fn b_(b: u32, k: u32, n: u32) -> f32 { ${p.b} }
fn st(b: u32, m: u32, n: u32, acc: f32) { var v = acc; ${p.store} }`;
    if (p.M * p.N * p.K < TILE_MACS || p.N < 8 || p.M < 8) {
      const [b, m, n] = coords([p.batch, p.M, p.N], "i");
      return this.perElement(out, `  let b = ${b}; let m = ${m}; let n = ${n};
  var acc = 0.0;
  for (var k = 0u; k < ${u(p.K)}; k++) { acc += a_(b, m, k) * b_(b, k, n); }
  st(b, m, n, acc);`, fns);
    }
    const tile = (d: number) => (d <= 16 ? 16 : d <= 32 ? 32 : 64);
    const [BM, BN, BK] = [tile(p.M), tile(p.N), 16];
    const [WX, T] = [BN / 4, (BM / 4) * (BN / 4)];
    const [tm, tn] = [Math.ceil(p.M / BM), Math.ceil(p.N / BN)];
    const decls = `var<workgroup> As: array<f32, ${BM * BK}>;
var<workgroup> Bs: array<f32, ${BK * BN}>;
${fns}
fn st4(b: u32, m: u32, n: u32, r: vec4f) {
  if (m >= ${u(p.M)}) { return; }
  for (var j = 0u; j < 4u; j++) { if (n + j < ${u(p.N)}) { st(b, m, n + j, r[j]); } }
}`;
    const body = `  let b = gid / ${u(tm * tn)};
  let m0 = gid % ${u(tm * tn)} / ${u(tn)} * ${u(BM)};
  let n0 = gid % ${u(tn)} * ${u(BN)};
  let tx = lid % ${u(WX)};
  let ty = lid / ${u(WX)};
  var acc0 = vec4f();
  var acc1 = vec4f();
  var acc2 = vec4f();
  var acc3 = vec4f();
  for (var k0 = 0u; k0 < ${u(p.K)}; k0 += ${u(BK)}) {
    for (var e = lid; e < ${u(BM * BK)}; e += ${u(T)}) {
      let m = m0 + e / ${u(BK)};
      let k = k0 + e % ${u(BK)};
      var v = 0.0;
      if (m < ${u(p.M)} && k < ${u(p.K)}) { v = a_(b, m, k); }
      As[e % ${u(BK)} * ${u(BM)} + e / ${u(BK)}] = v;
    }
    for (var e = lid; e < ${u(BK * BN)}; e += ${u(T)}) {
      let k = k0 + e / ${u(BN)};
      let n = n0 + e % ${u(BN)};
      var v = 0.0;
      if (k < ${u(p.K)} && n < ${u(p.N)}) { v = b_(b, k, n); }
      Bs[e] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < ${u(BK)}; k++) {
      let ai = k * ${u(BM)} + ty * 4u;
      let bi = k * ${u(BN)} + tx * 4u;
      let bv = vec4f(Bs[bi], Bs[bi + 1u], Bs[bi + 2u], Bs[bi + 3u]);
      acc0 += As[ai] * bv;
      acc1 += As[ai + 1u] * bv;
      acc2 += As[ai + 2u] * bv;
      acc3 += As[ai + 3u] * bv;
    }
    workgroupBarrier();
  }
  st4(b, m0 + ty * 4u, n0 + tx * 4u, acc0);
  st4(b, m0 + ty * 4u + 1u, n0 + tx * 4u, acc1);
  st4(b, m0 + ty * 4u + 2u, n0 + tx * 4u, acc2);
  st4(b, m0 + ty * 4u + 3u, n0 + tx * 4u, acc3);`;
    return this.kernel(out, T, p.batch * tm * tn, body, decls);
  }

  /**
   * One workgroup per row of a row-wise reduction; returns the size and the declarations of
   * wsum/wmax, which combine one value per invocation through workgroup memory (call them from
   * uniform control flow).
   */
  static rows(len: number): { size: number; decls: string } {
    const size = Math.min(256, 2 ** Math.ceil(Math.log2(Math.max(len, 2))));
    const red = (name: string, op: string) => `fn ${name}(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = ${u(size / 2)}; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = ${op}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
    return { size, decls: [`var<workgroup> red: array<f32, ${size}>;`, red("wsum", "red[lid] + red[lid + s]"), red("wmax", "max_(red[lid], red[lid + s])")].join("\n") };
  }
}

type Emitter<N extends OpName> = (s: Shader, n: NodeOf<N>) => Kernel[];
/** An emitter taking any node: its attributes are typed only by the verifier's check against the schema. */
type UntypedEmitter = (s: Shader, n: Node) => Kernel[];

/** The kernels of a node that runs one elementwise op (as a one-step fused program). */
const singleStep = (op: UnaryOp | BinaryOp): UntypedEmitter => (s, n) => elementwise(s, n, [{ op, args: n.inputs.map((_, i) => i), attrs: n.attrs }]);

/** One entry per op: a new op without a WGSL entry (an emitter, or `unsupported(why)`) is a type error. */
const emitters: { readonly [N in OpName]: Emitter<N> | Unsupported } = {
  ...(Object.fromEntries([...unaryOps, ...binaryOps].map((op) => [op, singleStep(op)])) as Record<UnaryOp | BinaryOp, UntypedEmitter>),

  conv2d(s, n) {
    const [x, w] = n.inputs as [number, number];
    const [N, C, H, W] = s.shape(x);
    const [K, Cg, KH, KW] = s.shape(w) as [number, number, number, number];
    const [, , OH, OW] = s.shape(n.outputs[0]!) as [number, number, number, number];
    const [SH, SW] = n.attrs.stride;
    const [PT, PL] = n.attrs.pads;
    const [DH, DW] = n.attrs.dilation;
    const G = n.attrs.groups;
    const Kg = K / G;
    // Implicit GEMM per (image, group): M = output pixels, N = output channels, K = Cg * KH * KW.
    const a = `let n = b / ${u(G)}; let g = b % ${u(G)};
  let ci = k / ${u(KH * KW)}; let ky = k / ${u(KW)} % ${u(KH)}; let kx = k % ${u(KW)};
  let iy = i32(m / ${u(OW)} * ${u(SH!)} + ky * ${u(DH!)}) - ${PT}i;
  let ix = i32(m % ${u(OW)} * ${u(SW!)} + kx * ${u(DW!)}) - ${PL}i;
  if (iy < 0i || iy >= ${H}i || ix < 0i || ix >= ${W}i) { return 0.0; }
  return ${s.src(x)}[((n * ${u(C!)} + g * ${u(Cg)} + ci) * ${u(H!)} + u32(iy)) * ${u(W!)} + u32(ix)];`;
    const b = `return ${s.src(w)}[(b % ${u(G)} * ${u(Kg)} + n) * ${u(Cg * KH * KW)} + k];`;
    const store = `let c = b % ${u(G)} * ${u(Kg)} + n; let o = (b / ${u(G)} * ${u(K)} + c) * ${u(OH * OW)} + m; ${s.epilogue("o", "c")}`;
    return [s.gemm(n.outputs[0]!, { batch: N! * G, M: OH * OW, N: Kg, K: Cg * KH * KW, a, b, store })];
  },

  conv_transpose2d(s, n) {
    const [x, w] = n.inputs as [number, number];
    const [, C, H, W] = s.shape(x) as [number, number, number, number];
    const [, Kg, KH, KW] = s.shape(w) as [number, number, number, number];
    const [N, K, OH, OW] = s.shape(n.outputs[0]!) as [number, number, number, number];
    const [SH, SW] = n.attrs.stride;
    const [PT, PL] = n.attrs.pads;
    const [DH, DW] = n.attrs.dilation;
    const Cg = C / n.attrs.groups;
    // The gather form, one invocation per output: tap (ky, kx) reads input row (oy + PT - ky DH) / SH
    // where that divides exactly and lands inside the input.
    const [b, k, oy, ox] = coords([N, K, OH, OW], "i");
    const body = `  let b = ${b}; let k = ${k}; let g = k / ${u(Kg)}; let o = k % ${u(Kg)};
  let ty0 = i32(${oy}) + ${PT}i;
  let tx0 = i32(${ox}) + ${PL}i;
  var acc = 0.0;
  for (var ky = 0i; ky < ${KH}i; ky++) {
    let ty = ty0 - ky * ${DH}i;
    if (ty < 0i || ty % ${SH}i != 0i || ty / ${SH}i >= ${H}i) { continue; }
    for (var kx = 0i; kx < ${KW}i; kx++) {
      let tx = tx0 - kx * ${DW}i;
      if (tx < 0i || tx % ${SW}i != 0i || tx / ${SW}i >= ${W}i) { continue; }
      let pix = u32(ty / ${SH}i * ${W}i + tx / ${SW}i);
      let tap = u32(ky * ${KW}i + kx);
      for (var c = 0u; c < ${u(Cg)}; c++) {
        let ci = g * ${u(Cg)} + c;
        acc += ${s.src(x)}[(b * ${u(C)} + ci) * ${u(H * W)} + pix] * ${s.src(w)}[(ci * ${u(Kg)} + o) * ${u(KH * KW)} + tap];
      }
    }
  }
  var v = acc;
  ${s.epilogue("i", "k")}`;
    return [s.perElement(n.outputs[0]!, body)];
  },

  linear(s, n) {
    const [x, w] = n.inputs as [number, number];
    const [N, K] = s.shape(w) as [number, number];
    const M = numel(s.shape(x)) / K;
    return [s.gemm(n.outputs[0]!, {
      batch: 1, M, N, K,
      a: `return ${s.src(x)}[m * ${u(K)} + k];`,
      b: `return ${s.src(w)}[n * ${u(K)} + k];`,
      store: `let o = m * ${u(N)} + n; ${s.epilogue("o", "n")}`,
    })];
  },

  matmul(s, n) {
    const [A, B] = n.inputs as [number, number];
    const y = s.shape(n.outputs[0]!);
    const [M, K] = s.shape(A).slice(-2) as [number, number];
    const N = y[y.length - 1]!;
    const batch = y.slice(0, -2);
    return [s.gemm(n.outputs[0]!, {
      batch: numel(batch), M, N, K,
      a: `return ${s.src(A)}[(${bcast(s.shape(A).slice(0, -2), batch, "b")}) * ${u(M * K)} + m * ${u(K)} + k];`,
      b: `return ${s.src(B)}[(${bcast(s.shape(B).slice(0, -2), batch, "b")}) * ${u(K * N)} + k * ${u(N)} + n];`,
      store: `let o = (b * ${u(M)} + m) * ${u(N)} + n; ${s.epilogue("o", "n")}`,
    })];
  },

  attention(s, n) {
    // One workgroup per query row: q row and scores in workgroup memory, then softmax and p·v.
    const [q, k, v, mask] = n.inputs as [number, number, number, number | undefined];
    const [B, H, SQ, D] = s.shape(q) as [number, number, number, number];
    const [SK, DV] = [s.shape(k)[2]!, s.shape(v)[3]!];
    if (SK + D > 3840) throw new Error(`WGSL: attention with ${SK} keys of size ${D} does not fit in workgroup memory`);
    const { size, decls } = Shader.rows(SK);
    const maskTerm = mask === undefined ? "" : ` + ${s.load(mask, bcast(s.shape(mask), [B, H, SQ, SK], `(gid * ${u(SK)} + j)`))}`;
    const body = `  let bh = gid / ${u(SQ)};
  for (var t = lid; t < ${u(D)}; t += ${u(size)}) { qs[t] = ${s.src(q)}[gid * ${u(D)} + t]; }
  workgroupBarrier();
  var mx = ${f32(-Infinity)};
  for (var j = lid; j < ${u(SK)}; j += ${u(size)}) {
    var acc = 0.0;
    for (var t = 0u; t < ${u(D)}; t++) { acc += qs[t] * ${s.src(k)}[(bh * ${u(SK)} + j) * ${u(D)} + t]; }
    let sc = acc * ${f32(n.attrs.scale)}${maskTerm};
    p[j] = sc;
    mx = max_(mx, sc);
  }
  mx = wmax(mx, lid);
  var sum = 0.0;
  for (var j = lid; j < ${u(SK)}; j += ${u(size)}) { let e = exp_(p[j] - mx); p[j] = e; sum += e; }
  sum = wsum(sum, lid);
  for (var t = lid; t < ${u(DV)}; t += ${u(size)}) {
    var acc = 0.0;
    for (var j = 0u; j < ${u(SK)}; j++) { acc += p[j] * ${s.src(v)}[(bh * ${u(SK)} + j) * ${u(DV)} + t]; }
    dst[gid * ${u(DV)} + t] = acc / sum;
  }`;
    return [s.kernel(n.outputs[0]!, size, B * H * SQ, body, `var<workgroup> qs: array<f32, ${D}>;\nvar<workgroup> p: array<f32, ${SK}>;\n${decls}`)];
  },

  softmax(s, n) {
    const x = n.inputs[0]!;
    const shape = s.shape(x);
    const [outer, D, inner] = around(shape, normAxis(n.attrs.axis, shape.length));
    const { size, decls } = Shader.rows(D);
    const at = `(gid / ${u(inner)} * ${u(D)} + j) * ${u(inner)} + gid % ${u(inner)}`;
    const body = `  var mx = ${f32(-Infinity)};
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { mx = max_(mx, ${s.src(x)}[${at}]); }
  mx = wmax(mx, lid);
  var sum = 0.0;
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { sum += exp_(${s.src(x)}[${at}] - mx); }
  sum = wsum(sum, lid);
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { dst[${at}] = exp_(${s.src(x)}[${at}] - mx) / sum; }`;
    return [s.kernel(n.outputs[0]!, size, outer * inner, body, decls)];
  },

  layernorm(s, n) {
    const [x, gamma, beta] = n.inputs as [number, number, number];
    const shape = s.shape(x);
    const D = shape[shape.length - 1]!;
    const { size, decls } = Shader.rows(D);
    const xi = `${s.src(x)}[gid * ${u(D)} + j]`;
    // Two passes (mean, then squared deviations), as the interpreter does: no cancellation.
    const body = `  var sum = 0.0;
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { sum += ${xi}; }
  let mean = wsum(sum, lid) / ${f32(D)};
  var sq = 0.0;
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { let d = ${xi} - mean; sq += d * d; }
  let inv = inverseSqrt(wsum(sq, lid) / ${f32(D)} + ${f32(n.attrs.eps)});
  for (var j = lid; j < ${u(D)}; j += ${u(size)}) { dst[gid * ${u(D)} + j] = (${xi} - mean) * inv * ${s.load(gamma, "j")} + ${s.load(beta, "j")}; }`;
    return [s.kernel(n.outputs[0]!, size, numel(shape) / D, body, decls)];
  },

  reduce_sum: (s, n) => reduce(s, n, n.attrs.axes, "sum"),
  reduce_mean: (s, n) => reduce(s, n, n.attrs.axes, "mean"),
  reduce_max: (s, n) => reduce(s, n, n.attrs.axes, "max"),
  global_avgpool: (s, n) => reduce(s, n, [2, 3], "mean"),

  maxpool: pool,
  avgpool: pool,
  resize,

  batchnorm(s, n) {
    const [x, gamma, beta, mean, v] = n.inputs as [number, number, number, number, number];
    const shape = s.shape(x);
    const c = coords(around(shape, 1), "i")[1]!;
    return [s.perElement(n.outputs[0]!, `  let c = ${c};
  dst[i] = (${s.src(x)}[i] - ${s.load(mean, "c")}) * (${s.load(gamma, "c")} * inverseSqrt(${s.load(v, "c")} + ${f32(n.attrs.eps)})) + ${s.load(beta, "c")};`)];
  },

  prelu(s, n) {
    const [x, slope] = n.inputs as [number, number];
    const shape = s.shape(x);
    const c = numel(s.shape(slope)) === 1 ? "0u" : coords(around(shape, 1), "i")[1]!;
    return [s.perElement(n.outputs[0]!, `  let v = ${s.src(x)}[i];\n  dst[i] = select(${s.load(slope, c)} * v, v, v >= 0.0);`)];
  },

  cast(s, n) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]!];
    // f32 -> integer as the interpreter: saturating at ±2^31 (WGSL's stops at 2^31 - 128), NaN to 0.
    const toInt = s.ty(x) === "f32" && s.ty(y) === "i32";
    const body = toInt
      ? `  let v = ${s.src(x)}[i];\n  dst[i] = select(select(i32(v), 2147483647i, v >= 2147483648.0), 0i, isnan_(v));`
      : `  dst[i] = ${s.ty(y)}(${s.src(x)}[i]);`;
    return [s.perElement(y, body)];
  },

  // bool elements are i32 0 / 1.
  ...(Object.fromEntries(compareOps.map((op) => [op, (s: Shader, n: Node) => {
    const y = s.shape(n.outputs[0]!);
    const [a, b] = n.inputs.map((v) => s.load(v, bcast(s.shape(v), y, "i")));
    return [s.perElement(n.outputs[0]!, `  let a = ${a};\n  let b = ${b};\n  dst[i] = select(0i, 1i, ${compare(op, "a", "b", s.ty(n.inputs[0]!) === "f32")});`)];
  }])) as Record<CompareOp, UntypedEmitter>),
  where(s, n) {
    const y = s.shape(n.outputs[0]!);
    const [c, a, b] = n.inputs.map((v) => s.load(v, bcast(s.shape(v), y, "i")));
    return [s.perElement(n.outputs[0]!, `  dst[i] = select(${b}, ${a}, ${c} != 0i);`)];
  },
  // The step counter truncates to u32 (finite steps >= 0); see src/ir/random.ts.
  random_uniform(s, n) {
    const keyed = mix32(mix32(n.attrs.seed) ^ (n.attrs.stream ?? 0));
    const key = `mix32_(${u(keyed)} ^ u32(${s.src(n.inputs[0]!)}[0]))`;
    return [s.perElement(n.outputs[0]!, `  dst[i] = f32(mix32_(${key} + i * ${u(GOLDEN)}) >> ${u(FRACTION_SHIFT)}) * ${f32(FRACTION_SCALE)};`)];
  },
  dropout: unsupported("the identity at inference (its decomposition); a training graph replaces it"),
  logical_not: (s, n) => [s.perElement(n.outputs[0]!, `  dst[i] = select(0i, 1i, ${s.src(n.inputs[0]!)}[i] == 0i);`)],

  fused_elementwise: (s, n) => elementwise(s, n, n.attrs.program),

  // Its output aliases its input's buffer (see planWgsl): nothing to compute.
  reshape: () => [],

  transpose(s, n) {
    const x = n.inputs[0]!;
    const perm = n.attrs.perm;
    const st = strides(s.shape(x));
    const c = coords(s.shape(n.outputs[0]!), "i");
    return [s.perElement(n.outputs[0]!, `  dst[i] = ${s.src(x)}[${perm.map((p, d) => `${c[d]} * ${u(st[p]!)}`).join(" + ")}];`)];
  },

  // concat, split and slice are block copies between [outer, *, inner] views.
  concat(s, n) {
    const y = s.shape(n.outputs[0]!);
    const axis = normAxis(n.attrs.axis, y.length);
    let at = 0;
    return n.inputs.map((x) => {
      const d = s.shape(x)[axis]!;
      const k = copy(new Shader(s.g, n), x, n.outputs[0]!, y, axis, d, { from: [d, 0], to: [y[axis]!, at] });
      at += d;
      return k;
    });
  },

  split(s, n) {
    const x = n.inputs[0]!;
    const shape = s.shape(x);
    const axis = normAxis(n.attrs.axis, shape.length);
    let at = 0;
    return n.outputs.map((o) => {
      const d = s.shape(o)[axis]!;
      const k = copy(new Shader(s.g, n), x, o, shape, axis, d, { from: [shape[axis]!, at], to: [d, 0] });
      at += d;
      return k;
    });
  },

  // Per output element, its source: i32 arithmetic, as a negative step walks backwards.
  slice(s, n) {
    const x = n.inputs[0]!;
    const shape = s.shape(x);
    const axis = normAxis(n.attrs.axis, shape.length);
    const step = n.attrs.step ?? 1;
    const { first } = sliceRange(shape[axis]!, n.attrs.start, n.attrs.end, step);
    const st = strides(shape);
    const c = coords(s.shape(n.outputs[0]!), "i");
    const terms = c.map((ck, k) => `i32(${ck}) * ${k === axis ? step * st[k]! : st[k]!}i`);
    return [s.perElement(n.outputs[0]!, `  dst[i] = ${s.src(x)}[u32(${first * st[axis]!}i + ${terms.join(" + ")})];`)];
  },

  // Ids from model inputs are range-checked on the host (a shader cannot fail); negative ones count from the end.
  gather(s, n) {
    const [x, ids] = n.inputs as [number, number];
    const shape = s.shape(x);
    const [, D, inner] = around(shape, normAxis(n.attrs.axis ?? 0, shape.length));
    const N = numel(s.shape(ids));
    const [o, j, e] = coords([numel(s.shape(n.outputs[0]!)) / (N * inner), N, inner], "i");
    return [s.perElement(n.outputs[0]!, `  let id = ${s.src(ids)}[${j}];
  let row = u32(select(id, id + ${D}i, id < 0i));
  dst[i] = ${s.src(x)}[(${o} * ${u(D)} + row) * ${u(inner)} + ${e}];`)];
  },

  // Per axis, the cropped input's coordinate j of the output's; outside [0, kept): the constant, the clamped or the mirrored one.
  pad(s, n) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]!];
    const mode = (n.attrs.mode ?? "constant") as PadMode;
    const axes = padAxes(s.shape(x), n.attrs.pads, mode);
    const st = strides(s.shape(x));
    const c = coords(s.shape(y), "i");
    const lines = axes.map((p, k) => {
      const j = `i32(${c[k]}) - ${p.before}i`;
      const kept = `${p.kept}i`;
      if (mode === "replicate") return `  let j${k} = clamp(${j}, 0i, ${p.kept - 1}i);`;
      if (mode === "reflect") return `  let a${k} = abs(${j});
  let j${k} = select(a${k}, ${2 * (p.kept - 1)}i - a${k}, a${k} >= ${kept});`;
      return `  let j${k} = ${j};
  if (j${k} < 0i || j${k} >= ${kept}) { dst[i] = ${s.ty(y) === "f32" ? f32(n.attrs.value ?? 0) : `${n.attrs.value ?? 0}i`}; return; }`;
    });
    const at = axes.map((p, k) => `(j${k} + ${p.crop}i) * ${st[k]!}i`).join(" + ") || "0i";
    return [s.perElement(y, `${lines.join("\n")}\n  dst[i] = ${s.src(x)}[u32(${at})];`)];
  },

  expand(s, n) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]!];
    return [s.perElement(y, `  dst[i] = ${s.src(x)}[${bcast(s.shape(x), s.shape(y), "i")}];`)];
  },

  tile(s, n) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]!];
    const shape = s.shape(x);
    const st = strides(shape);
    const c = coords(s.shape(y), "i");
    return [s.perElement(y, `  dst[i] = ${s.src(x)}[${c.map((ck, k) => `${ck} % ${u(shape[k]!)} * ${u(st[k]!)}`).join(" + ") || "0u"}];`)];
  },
};

/** One invocation per output element: the inputs (broadcast) in registers r0.., then one register per step of `program`. */
function elementwise(s: Shader, n: Node, program: readonly FusedStep[]): Kernel[] {
  const y = s.shape(n.outputs[0]!);
  const ins = n.inputs.map((v, r) => `  let r${r} = ${s.load(v, bcast(s.shape(v), y, "i"))};`);
  const int = s.ty(n.inputs[0]!) === "i32";
  const steps = program.map((st, j) => `  let r${n.inputs.length + j} = ${step(st, st.args.map((r) => `r${r}`), int)};`);
  return [s.perElement(n.outputs[0]!, [...ins, ...steps, `  dst[i] = r${n.inputs.length + steps.length - 1};`].join("\n"))];
}

/** One step of an elementwise program on the identifiers `args`: i32 operands when `int` (a binary node's own op; fused programs are float). */
function step(st: FusedStep, args: string[], int: boolean): string {
  if (isUnaryOp(st.op)) return applyUnary(st.op, args[0]!, st.attrs ?? {});
  if (isBinaryOp(st.op)) return binary[st.op](args[0]!, args[1]!, int);
  throw new Error(`WGSL: no code for elementwise step ${st.op}`);
}

/** dst[o, to.at + j, i] = src[o, from.at + j, i] for j < d, over [outer, total, inner] views of `shape` split at `axis`. */
function copy(s: Shader, x: number, y: number, shape: number[], axis: number, d: number, v: { from: [number, number]; to: [number, number] }): Kernel {
  const [outer, , inner] = around(shape, axis);
  const [o, j, i] = coords([outer, d, inner], "e");
  const at = ([total, start]: [number, number]) => `(${o} * ${u(total)} + ${u(start)} + ${j}) * ${u(inner)} + ${i}`;
  const n = outer * d * inner;
  return s.kernel(y, 256, Math.ceil(n / 256), `  let e = gid * 256u + lid;\n  if (e >= ${u(n)}) { return; }\n  dst[${at(v.to)}] = ${s.src(x)}[${at(v.from)}];`);
}

/** reduce_sum / reduce_mean / reduce_max (and global_avgpool) over `axes`: one workgroup per output element. */
function reduce(s: Shader, n: Node, over: readonly number[], kind: "sum" | "mean" | "max"): Kernel[] {
  const [max, mean] = [kind === "max", kind === "mean"];
  const x = n.inputs[0]!;
  const shape = s.shape(x);
  const axes = over.map((a) => normAxis(a, shape.length));
  const st = strides(shape);
  const kept = shape.flatMap((d, k) => (axes.includes(k) ? [] : [[d, st[k]!]]));
  const red = shape.flatMap((d, k) => (axes.includes(k) ? [[d, st[k]!]] : []));
  const off = (dims: number[][], i: string) => coords(dims.map(([d]) => d!), i).map((c, k) => `${c} * ${u(dims[k]![1]!)}`);
  const R = numel(red.map(([d]) => d!));
  const { size, decls } = Shader.rows(R);
  if (s.g.values[x]!.type.dtype !== "f32") throw new Error(`WGSL: ${n.op} on ${s.g.values[x]!.type.dtype} tensors is not supported`);
  const v = `${s.src(x)}[${[...off(kept, "gid"), ...off(red, "r"), "0u"].join(" + ")}]`;
  const body = `  var acc = ${max ? f32(-Infinity) : "0.0"};
  for (var r = lid; r < ${u(R)}; r += ${u(size)}) { acc = ${max ? `max_(acc, ${v})` : `acc + ${v}`}; }
  acc = ${max ? "wmax" : "wsum"}(acc, lid);
  if (lid == 0u) { dst[gid] = acc${mean ? ` / ${f32(R)}` : ""}; }`;
  return [s.kernel(n.outputs[0]!, size, numel(kept.map(([d]) => d!)), body, decls)];
}

function pool(s: Shader, n: NodeOf<"maxpool" | "avgpool">): Kernel[] {
  const x = n.inputs[0]!;
  const [, , H, W] = s.shape(x) as [number, number, number, number];
  const y = s.shape(n.outputs[0]!);
  const [KH, KW] = n.attrs.kernel;
  const [SH, SW] = n.attrs.stride;
  const [PT, PL, PB, PR] = n.attrs.pads;
  const [DH, DW] = n.attrs.dilation ?? [1, 1];
  const max = n.op === "maxpool";
  const [p, oy, ox] = coords([numel(y.slice(0, 2)), y[2]!, y[3]!], "i");
  // The avgpool divisor follows the interpreter: the window clipped to the padded input, or the valid taps.
  const divisor = n.attrs.count_include_pad === true ? `f32((min(y0 + ${KH}i, ${H + PB!}i) - y0) * (min(x0 + ${KW}i, ${W + PR!}i) - x0))` : "cnt";
  const body = `  let base = ${p} * ${u(H * W)};
  let y0 = i32(${oy} * ${u(SH!)}) - ${PT}i;
  let x0 = i32(${ox} * ${u(SW!)}) - ${PL}i;
  var acc = ${max ? f32(-Infinity) : "0.0"};
  var cnt = 0.0;
  for (var ky = 0i; ky < ${KH}i; ky++) {
    let iy = y0 + ky * ${DH}i;
    if (iy < 0i || iy >= ${H}i) { continue; }
    for (var kx = 0i; kx < ${KW}i; kx++) {
      let ix = x0 + kx * ${DW}i;
      if (ix < 0i || ix >= ${W}i) { continue; }
      let v = ${s.src(x)}[base + u32(iy * ${W}i + ix)];
      acc = ${max ? "max_(acc, v)" : "acc + v"};
      cnt += 1.0;
    }
  }
  dst[i] = ${max ? "acc" : `acc / ${divisor}`};`;
  return [s.perElement(n.outputs[0]!, body)];
}

/**
 * resize from the tap tables of ir/resize.ts, baked in as private arrays (per output row and
 * column: the two input indices and their weights); linear blends along W, then H.
 */
function resize(s: Shader, n: NodeOf<"resize">): Kernel[] {
  const x = n.inputs[0]!;
  const [, , H, W] = s.shape(x) as [number, number, number, number];
  const y = s.shape(n.outputs[0]!);
  const [ty, tx] = resizeTables(s.shape(x), y, n.attrs.scales, n.attrs);
  const table = (name: string, type: "u32" | "f32", values: ArrayLike<number>) =>
    `var<private> ${name}: array<${type}, ${values.length}> = array<${type}, ${values.length}>(${Array.from(values, (v) => (type === "u32" ? u(v) : f32(v))).join(", ")});`;
  const decls = [
    table("ry0", "u32", ty.i0), table("ry1", "u32", ty.i1), table("cx0", "u32", tx.i0), table("cx1", "u32", tx.i1),
    ...(n.attrs.mode === "linear" ? [table("wy0", "f32", ty.w1.map((v) => 1 - v)), table("wy1", "f32", ty.w1), table("wx0", "f32", tx.w1.map((v) => 1 - v)), table("wx1", "f32", tx.w1)] : []),
  ].join("\n");
  const [p, oy, ox] = coords([numel(y.slice(0, 2)), y[2]!, y[3]!], "i");
  const at = (row: string, col: string) => `${s.src(x)}[base + ${row}[oy] * ${u(W)} + ${col}[ox]]`;
  const head = `  let base = ${p} * ${u(H * W)};\n  let oy = ${oy};\n  let ox = ${ox};\n`;
  const body = n.attrs.mode === "linear"
    ? `  let top = wx0[ox] * ${at("ry0", "cx0")} + wx1[ox] * ${at("ry0", "cx1")};
  let bottom = wx0[ox] * ${at("ry1", "cx0")} + wx1[ox] * ${at("ry1", "cx1")};
  dst[i] = wy0[oy] * top + wy1[oy] * bottom;`
    : `  dst[i] = ${at("ry0", "cx0")};`;
  return [s.perElement(n.outputs[0]!, head + body, decls)];
}

/** Why WGSL does not run `op`, when its table entry says so. */
export function unsupportedOp(op: string): Unsupported | undefined {
  const e = isOp(op) ? emitters[op] : undefined;
  return isUnsupported(e) ? e : undefined;
}

/** The kernels computing `node`, in order (none for reshape). */
export function nodeKernels(g: Graph, node: Node): Kernel[] {
  const e = isOp(node.op) ? emitters[node.op] : undefined;
  if (e === undefined || isUnsupported(e)) throw new Error(`WGSL: no kernel for op ${node.op}${e ? ` (${e.unsupported})` : ""}`);
  const s = new Shader(g, node);
  if (isNHWC(node.attrs)) throw new Error(`WGSL: ${s.label()} is channels-last (NHWC); the driver decomposes such nodes before emit`);
  return (e as UntypedEmitter)(s, node);
}
