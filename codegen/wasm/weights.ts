// How a wasm module stores its weights, and the code that turns them into what the kernels read.
//
// weights.bin holds each constant a kernel reads once, as the graph has it (after BatchNorm
// folding and the other passes), not its packed or transformed form: the module's exported
// `prepare` (run once by load()) decodes the stored tensors into a staging region of float32
// and runs each kernel's weight transform (GEMM panel packing, Winograd G w Gᵀ, depthwise
// reorders, see `Transform`) from there into the data region the kernels read. The staging
// region lies where inputs, intermediate tensors and scratch go at run time, so it costs memory
// only where it is larger than those (module.ts).
//
// Storage dtypes (--weights-dtype): f32 stores every constant as it is. f16 and int8 store the
// weight operands of conv2d, linear, matmul and gather (embedding tables) as IEEE half floats
// (each within one ulp, each output channel's sum kept: encodeF16) or as int8 with one float32
// scale per output channel (symmetric: scale = max |w| / 127 over the channel, q = round(w /
// scale)); biases, norm parameters, integer tables, every other constant and the small weights
// (SMALL_WEIGHT_ELEMENTS) stay float32, and so do the weights the compile's tolerance check
// chose (EmitOptions.keepFloat32, src/precision.ts). Decoding gives float32 again, and all
// arithmetic stays float32.
import binaryen from "binaryen";
import { numel, type Graph } from "../../src/ir/graph.js";
import { UsageError } from "../../src/base/errors.js";
import { cached, Fn, type Emit } from "./gemm/fn.js";

export type WeightsDtype = "f32" | "f16" | "int8";

/** Element (o, c, i) of a tensor seen as [outer, channels, inner]: c is its output channel. */
export interface Channels {
  outer: number;
  channels: number;
  inner: number;
}

/**
 * Weights of at most this many elements stay float32 under f16 / int8: the depthwise kernels,
 * stems, squeeze-excite blocks and narrow early layers. They are the layers whose rounding moves
 * the outputs most (measured one tensor at a time: a few weights per output, often summing to
 * near zero, so the rounding of their sum is a large part of their response on flat image
 * regions) and a small part of a large model's bytes. int8 rounds 64x coarser than f16, so it
 * keeps more; each bound is what ResNet-50's file targets afford (0.51x and 0.27x of its float32
 * parameters: f16 keeps 0.016% of its weights, int8 0.44%).
 */
export const SMALL_WEIGHT_ELEMENTS: Record<"f16" | "int8", number> = { f16: 4096, int8: 16384 };

/** The constants `dtype` stores encoded (none of `kept`, which the driver's tolerance check keeps float32), with their output-channel axis. */
export function quantisable(g: Graph, dtype: "f16" | "int8", kept: ReadonlySet<number> = new Set()): Map<number, Channels> {
  const out = new Map<number, Channels>();
  const shape = (v: number) => g.values[v]!.type.shape;
  const isF32 = (v: number) => g.constants.some((c) => c.value === v && c.data instanceof Float32Array);
  const mark = (v: number | undefined, axis: (s: number[]) => number) => {
    if (v === undefined || out.has(v) || kept.has(v) || !isF32(v)) return;
    const s = shape(v);
    if (numel(s) <= SMALL_WEIGHT_ELEMENTS[dtype]) return;
    const a = axis(s);
    out.set(v, { outer: numel(s.slice(0, a)), channels: s[a] ?? 1, inner: numel(s.slice(a + 1)) });
  };
  for (const n of g.nodes) {
    // conv2d [K, C/g, kh, kw], linear [N, K], an embedding table [rows, D]: channels on axis 0.
    if (n.op === "conv2d" || n.op === "linear") mark(n.inputs[1], () => 0);
    else if (n.op === "gather") mark(n.inputs[0], () => 0);
    else if (n.op === "matmul") {
      // [.., M, K] . [.., K, N]: output channels are A's rows and B's columns.
      mark(n.inputs[0], (s) => Math.max(0, s.length - 2));
      mark(n.inputs[1], (s) => s.length - 1);
    }
  }
  return out;
}

// ---- Encoding at compile time ----

const f32Bits = new Uint32Array(1);
const f32View = new Float32Array(f32Bits.buffer);

/** The IEEE binary16 bits nearest the float32 `x` (ties to even; overflow to ±Inf; NaN stays NaN). */
export function f16Bits(x: number): number {
  f32View[0] = x;
  const u = f32Bits[0]!;
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  // 65520 is halfway between 65504 (the largest half) and 2^16: it and above round to Inf.
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a < 0x38800000) {
    // Below 2^-14: a subnormal half, in units of 2^-24 (exact in double), rounded half to even.
    const v = Math.abs(f32View[0]!) * 2 ** 24;
    let r = Math.floor(v);
    const frac = v - r;
    if (frac > 0.5 || (frac === 0.5 && r & 1)) r++;
    return sign | r;
  }
  // Normal: rebias the exponent (127 - 15), drop 13 mantissa bits rounding half to even; a carry
  // out of the mantissa correctly bumps the exponent.
  let h = (a - 0x38000000) >>> 13;
  const rest = a & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The float value of binary16 bits `h`. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
}

/** The half one step from bits `h` towards +Inf (`up`) or -Inf, across ±0. */
function f16Step(h: number, up: boolean): number {
  const negative = (h & 0x8000) !== 0;
  if ((h & 0x7fff) === 0) return up ? 0x0001 : 0x8001;
  return negative === up ? h - 1 : h + 1;
}

/** f16Value of every bit pattern, made on first use (a table: encoding and decoding read it per weight). */
let halfTable: Float32Array | undefined;
const halves = () => (halfTable ??= Float32Array.from({ length: 65536 }, (_, i) => f16Value(i)));

/**
 * Half floats for `data`, each output channel rounded so that its sum is kept (the "largest
 * remainder" rule): round each weight to the nearest half, then move weights to their other
 * neighbouring half in the direction that closes the channel's rounding gap, those nearest
 * halfway between the two (relative to their step) first, as long as each move brings the
 * channel's rounded sum closer to its true sum: it ends within half the channel's largest step.
 * Every weight stays one of the two halves around it (within one ulp); the channel's response to
 * a constant input, which BatchNorm folding leaves as a small difference of large weights in
 * trained edge-like kernels, is no longer the sum of every weight's rounding. Deterministic: ties
 * (to 2^-20 of a step) go to the lower index.
 */
export function encodeF16(data: Float32Array, ch: Channels): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f16Bits(data[i]!);
  const half = halves();
  const { outer, channels, inner } = ch;
  const at = new Int32Array(outer * inner);
  // A move as one sortable number: its extra error in steps (0 .. 1) to 2^-20, then its place in `at`.
  const keys = new Float64Array(at.length);
  const place = 2 ** Math.ceil(Math.log2(at.length + 1));
  for (let c = 0; c < channels; c++) {
    let k = 0;
    for (let o = 0; o < outer; o++) for (let i = 0, p = (o * channels + c) * inner; i < inner; i++, p++) at[k++] = p;
    let gap = 0; // Σ (w - rounded w) over the channel, in double
    for (let j = 0; j < at.length; j++) gap += data[at[j]!]! - half[out[at[j]!]!]!;
    if (!Number.isFinite(gap) || gap === 0) continue; // Inf / NaN weights: nearest, as they are
    const up = gap > 0;
    let moves = 0;
    for (let j = 0; j < at.length; j++) {
      const p = at[j]!;
      const w = data[p]!;
      const v = half[out[p]!]!;
      if (w > v !== up || w === v) continue;
      const step = half[f16Step(out[p]!, up)]! - v;
      if (!Number.isFinite(step)) continue;
      keys[moves++] = Math.max(0, Math.floor((1 - (2 * Math.abs(w - v)) / Math.abs(step)) * 2 ** 20)) * place + j;
    }
    // Smallest key first, from a heap: the gap closes after a few moves, so most are never taken.
    const heap = new MinHeap(keys, moves);
    while (heap.size > 0) {
      const p = at[heap.pop() % place]!;
      const to = f16Step(out[p]!, up);
      const step = half[to]! - half[out[p]!]!;
      if (Math.abs(gap - step) >= Math.abs(gap)) continue;
      out[p] = to;
      gap -= step;
      if (gap === 0 || gap > 0 !== up) break; // at or past the true sum: no move this way brings it closer
    }
  }
  return out;
}

/** A binary min-heap over the first `size` numbers of `items`, in place. */
class MinHeap {
  constructor(
    private readonly items: Float64Array,
    public size: number,
  ) {
    for (let i = (size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  pop(): number {
    const top = this.items[0]!;
    this.items[0] = this.items[--this.size]!;
    this.down(0);
    return top;
  }

  private down(i: number): void {
    const { items, size } = this;
    const v = items[i]!;
    for (let c = 2 * i + 1; c < size; i = c, c = 2 * i + 1) {
      if (c + 1 < size && items[c + 1]! < items[c]!) c++;
      if (items[c]! >= v) break;
      items[i] = items[c]!;
    }
    items[i] = v;
  }
}

/** Symmetric int8 per output channel: w ≈ q * scales[c], |q| <= 127; an all-zero channel gets scale 0. */
export function quantiseInt8(data: Float32Array, ch: Channels, what: string): { scales: Float32Array; q: Int8Array } {
  const { outer, channels, inner } = ch;
  const max = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new UsageError(`--weights-dtype int8: ${what} holds ${v} at element ${i}; int8 stores finite weights only (use f16 or f32)`);
    const c = Math.floor(i / inner) % channels;
    max[c] = Math.max(max[c]!, Math.abs(v));
  }
  const scales = Float32Array.from(max, (m) => m / 127);
  const q = new Int8Array(data.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      if (s === 0) continue;
      for (let i = 0, at = (o * channels + c) * inner; i < inner; i++, at++) {
        const r = data[at]! / s;
        q[at] = Math.max(-127, Math.min(127, Math.sign(r) * Math.round(Math.abs(r))));
      }
    }
  return { scales, q };
}

/** The float32 values the module decodes for `data` stored as `dtype`: the halves encodeF16 chose, or float32(q * scale). */
export function decodedWeights(dtype: "f16" | "int8", data: Float32Array, ch: Channels, what: string): Float32Array {
  const out = new Float32Array(data.length);
  if (dtype === "f16") {
    const [bits, half] = [encodeF16(data, ch), halves()];
    for (let i = 0; i < out.length; i++) out[i] = half[bits[i]!]!;
    return out;
  }
  const { scales, q } = quantiseInt8(data, ch, what);
  for (let i = 0; i < out.length; i++) out[i] = q[i]! * scales[Math.floor(i / ch.inner) % ch.channels]!;
  return out;
}

// ---- Decoding at load time (the module's prepare) ----

const I32 = binaryen.i32;
/** Functions of prepare never fuse multiply-adds: both SIMD builds make the same bytes. */
const plain = (e: Emit) => new Fn(e.mod, false, [I32, I32]);
const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Bytes an encoded f32 tensor of `floats` elements takes in the weights file. */
export function storedBytes(dtype: "f16" | "int8", floats: number, ch?: Channels): number {
  return dtype === "f16" ? align16(2 * floats) : int8Layout(floats, ch!).bytes;
}

/** Bytes a decoded tensor takes in staging (int8 decoding writes up to 3 floats past a channel's end). */
export const stagedBytes = (dtype: WeightsDtype, floats: number) => align16(4 * floats) + (dtype === "int8" ? 16 : 0);

/** int8 in the file: the scales (4 spare bytes read as a vector), then q (16 spare bytes). */
function int8Layout(floats: number, ch: Channels) {
  const q = align16(4 * ch.channels) + 16;
  return { q, bytes: q + align16(floats) + 16 };
}

export function encodeInt8(data: Float32Array, ch: Channels, what: string): Uint8Array {
  const { scales, q } = quantiseInt8(data, ch, what);
  const layout = int8Layout(data.length, ch);
  const out = new Uint8Array(layout.bytes);
  out.set(new Uint8Array(scales.buffer), 0);
  out.set(new Uint8Array(q.buffer), layout.q);
  return out;
}

/** (src, dst) -> (): `floats` halves at src to float32 at dst, 4 at a time (the slots are padded to 16 bytes). */
export function decodeF16(e: Emit, floats: number): string {
  return cached(e, `decode_f16_${floats}`, (name) => {
    const f = plain(e);
    const m = e.mod;
    const i32 = (k: number) => m.i32x4.splat(m.i32.const(k));
    const h = f.local(binaryen.v128);
    const em = f.local(binaryen.v128);
    const body = f.loop(f.c(0), Math.ceil(floats / 4), 1, (i) => {
      const bits = () => m.i32x4.shl(f.get(em)(), m.i32.const(13));
      // em << 13 read as float32, times 2^112, is the half's value for normals and subnormals alike;
      // exponent 31 (Inf, NaN) keeps its mantissa under float32's all-ones exponent.
      const value = m.f32x4.mul(bits(), m.f32x4.splat(m.f32.const(2 ** 112)));
      const special = m.i32x4.gt_s(f.get(em)(), i32(0x7bff));
      const signed = m.v128.or(m.v128.bitselect(m.v128.or(bits(), i32(0x7f800000)), value, special), m.i32x4.shl(m.v128.and(f.get(h)(), i32(0x8000)), m.i32.const(16)));
      return [
        f.set(h, m.v128.load16x4_u(0, 2, m.i32.add(f.get(0)(), m.i32.mul(i(), f.c(8))))),
        f.set(em, m.v128.and(f.get(h)(), i32(0x7fff))),
        m.v128.store(0, 4, m.i32.add(f.get(1)(), m.i32.mul(i(), f.c(16))), signed),
      ];
    });
    f.finish(name, [body]);
  });
}

/** (src, dst) -> (): an int8 tensor (encodeInt8's layout) at src to float32 q * scale at dst. */
export function decodeInt8(e: Emit, floats: number, ch: Channels): string {
  const { outer, channels, inner } = ch;
  return cached(e, `decode_i8_${outer}_${channels}_${inner}`, (name) => {
    const f = plain(e);
    const m = e.mod;
    const qAt = int8Layout(floats, ch).q;
    const [src, dst, scale] = [f.get(0), f.get(1), f.local(binaryen.v128)];
    // 4 int8 at byte address p to 4 float32.
    const four = (p: binaryen.ExpressionRef) => m.f32x4.convert_i32x4_s(m.i32x4.extend_low_i16x8_s(m.i16x8.extend_low_i8x16_s(m.v128.load32_zero(0, 1, p))));
    const [qp, dp] = [f.local(I32), f.local(I32)];
    const step = (scaleOf: () => binaryen.ExpressionRef): binaryen.ExpressionRef[] => [
      m.v128.store(0, 4, f.get(dp)(), m.f32x4.mul(four(f.get(qp)()), scaleOf())),
      f.set(qp, m.i32.add(f.get(qp)(), f.c(4))),
      f.set(dp, m.i32.add(f.get(dp)(), f.c(16))),
    ];
    // Element (o, c, i) at o * channels * inner + c * inner + i; a step past a row's end writes
    // floats that the next row then overwrites (rows go in order).
    const row = (start: () => binaryen.ExpressionRef, n: number, scaleOf: () => binaryen.ExpressionRef): binaryen.ExpressionRef[] => [
      f.set(qp, m.i32.add(m.i32.add(src(), f.c(qAt)), start())),
      f.set(dp, m.i32.add(dst(), m.i32.mul(start(), f.c(4)))),
      f.loop(f.c(0), Math.ceil(n / 4), 1, () => step(scaleOf)),
    ];
    const body =
      inner === 1
        ? // One scale per column: a vector of 4 scales per step.
          f.loop(f.c(0), outer, 1, (o) => {
            const sc = f.local(I32);
            return [f.set(sc, src()), ...row(() => m.i32.mul(o(), f.c(channels)), channels, () => {
              const v = m.v128.load(0, 4, f.get(sc)());
              return m.block(null, [f.set(scale, v), f.set(sc, m.i32.add(f.get(sc)(), f.c(16))), f.get(scale)()], binaryen.v128);
            })];
          })
        : f.loop(f.c(0), outer * channels, 1, (oc) => [
            f.set(scale, m.v128.load32_splat(0, 4, m.i32.add(src(), m.i32.mul(m.i32.rem_u(oc(), f.c(channels)), f.c(4))))),
            ...row(() => m.i32.mul(oc(), f.c(inner)), inner, f.get(scale)),
          ]);
    f.finish(name, [body]);
  });
}

// ---- Transforms: staged float32 to what a kernel reads ----

/** One axis of a strided copy: `count` steps of `src` and `dst` floats. */
export interface Axis {
  count: number;
  src: number;
  dst: number;
}

/** dst[dst0 + Σ i_k dst_k] = src[src0 + Σ i_k src_k] over the axes (outermost first); offsets in floats. */
export interface Copy {
  src: number;
  dst: number;
  axes: Axis[];
}

/**
 * A kernel's load-time weight transform: `floats` float32 of the data region made from the
 * staged float32 of a constant by `fn(e)`, a function (src, dst) -> () (byte addresses). What is
 * not written stays 0 (wasm memory starts zeroed): panel padding needs no code.
 */
export interface Transform {
  floats: number;
  fn: (e: Emit) => string;
}

/** A transform that is strided copies (GEMM panels, reorders). */
export function copies(floats: number, list: Copy[]): Transform {
  return { floats, fn: (e) => copyFn(e, list) };
}

const axesKey = (axes: Axis[]) => axes.map((a) => `${a.count}_${a.src}_${a.dst}`).join("x");

function copyFn(e: Emit, list: Copy[]): string {
  const fns = list.map((c) => sweep(e, c.axes.filter((a) => a.count > 1)));
  return cached(e, `copy_${list.map((c) => `${c.src}_${c.dst}_${axesKey(c.axes)}`).join("__")}`, (name) => {
    const f = plain(e);
    const m = e.mod;
    const at = (p: number, floats: number) => m.i32.add(f.get(p)(), f.c(floats * 4));
    f.finish(name, list.map((c, i) => m.call(fns[i]!, [at(0, c.src), at(1, c.dst)], binaryen.none)));
  });
}

/**
 * (src, dst) -> (): the outermost axis a loop calling a function for the rest. V8 swaps in a wasm
 * function's optimised code between calls, never inside a running loop, so a transform split
 * into many calls can leave its baseline (Liftoff) code after the first ones.
 */
function sweep(e: Emit, axes: Axis[]): string {
  return cached(e, `sweep_${axesKey(axes)}`, (name) => {
    const f = plain(e);
    const m = e.mod;
    if (axes.length < 2) return void f.finish(name, [nested(f, axes, 0, 1)]);
    const [outer, ...rest] = axes as [Axis, ...Axis[]];
    const inner = cached(e, `nested_${axesKey(rest)}`, (inner) => {
      const g = plain(e);
      g.finish(inner, [nested(g, rest, 0, 1)]);
    });
    f.finish(name, [f.loop(f.c(0), outer.count, 1, (i) => [m.call(inner, [m.i32.add(f.get(0)(), m.i32.mul(i(), f.c(outer.src * 4))), m.i32.add(f.get(1)(), m.i32.mul(i(), f.c(outer.dst * 4)))], binaryen.none)])]);
  });
}

/** The copy along `axes` from the addresses in locals sp, dp, as loops in `f`. */
function nested(f: Fn, axes: Axis[], sp: number, dp: number): binaryen.ExpressionRef {
  const m = f.m;
  if (axes.length === 0) return m.f32.store(0, 4, f.get(dp)(), m.f32.load(0, 4, f.get(sp)()));
  const [axis, ...rest] = axes as [Axis, ...Axis[]];
  if (rest.length === 0) {
    // The innermost axis: contiguous runs as vectors, short strided runs unrolled.
    if (axis.src === 1 && axis.dst === 1 && axis.count % 4 === 0 && axis.count <= 64)
      return m.block(null, Array.from({ length: axis.count / 4 }, (_, i) => m.v128.store(16 * i, 4, f.get(dp)(), m.v128.load(16 * i, 4, f.get(sp)()))));
    if (axis.count <= 16)
      return m.block(null, Array.from({ length: axis.count }, (_, i) => m.f32.store(4 * i * axis.dst, 4, f.get(dp)(), m.f32.load(4 * i * axis.src, 4, f.get(sp)()))));
  }
  const [s, d] = [f.local(I32), f.local(I32)];
  const at = (p: number, floats: number) => m.i32.add(f.get(p)(), f.c(floats * 4));
  return m.block(null, [
    f.set(s, f.get(sp)()),
    f.set(d, f.get(dp)()),
    f.loop(f.c(0), axis.count, 1, () => [nested(f, rest, s, d), f.set(s, at(s, axis.src)), f.set(d, at(d, axis.dst))]),
  ]);
}
