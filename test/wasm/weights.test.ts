// Stored weights (codegen/wasm/weights.ts): f16 encoding exact per IEEE 754 (round to nearest,
// ties to even, overflow to Inf), encodeF16 keeping each output channel's sum within half a step
// with every weight on one of its two neighbouring halves (those nearest halfway moved first),
// the wasm f16 decoder exact on all 65536 bit patterns, int8
// scales per output channel (a zero channel included) and the wasm int8 decoder giving exactly
// float32(q * scale) on every channel layout, with rows off the vector width; which constants
// are encoded (weight operands above SMALL_WEIGHT_ELEMENTS[dtype] elements) and along which axis.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/base/errors.js";
import { decodeF16, decodeInt8, encodeF16, encodeInt8, f16Bits, f16Value, quantisable, quantiseInt8, SMALL_WEIGHT_ELEMENTS, stagedBytes, type Channels } from "../../codegen/wasm/weights.js";
import { oneNode, rand } from "./gemm-harness.js";

const bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
const f32 = Math.fround;

/** A module with memory and `fn(src, dst)` exported as "f", built by `make`. */
async function module(make: (e: { mod: binaryen.Module; relaxed: boolean; fnName: (b: string) => string }) => string, bytes: number) {
  const mod = new binaryen.Module();
  try {
    mod.setFeatures(binaryen.Features.All);
    const pages = Math.ceil(bytes / 65536) + 1;
    mod.setMemory(pages, pages, "memory");
    let n = 0;
    const name = make({ mod, relaxed: false, fnName: (b) => `${b}_${n++}` });
    mod.addFunctionExport(name, "f");
    expect(mod.validate()).toBeTruthy();
    const { instance } = await WebAssembly.instantiate(mod.emitBinary() as Uint8Array<ArrayBuffer>);
    return { memory: (instance.exports.memory as WebAssembly.Memory).buffer, f: instance.exports.f as (src: number, dst: number) => void };
  } finally {
    mod.dispose();
  }
}

describe("f16", () => {
  // Every finite non-negative half, ascending: 0x0000 .. 0x7bff.
  const halves = Array.from({ length: 0x7c00 }, (_, h) => f16Value(h));
  /** The reference: the nearest half by search, ties to the even bit pattern, past 65504 + half an ulp Inf. */
  const nearest = (x: number): number => {
    if (Number.isNaN(x)) return 0x7e00;
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a >= 65520) return sign | 0x7c00;
    let lo = 0;
    let hi = halves.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (halves[mid]! <= a) lo = mid;
      else hi = mid;
    }
    const [dl, dh] = [a - halves[lo]!, halves[hi]! - a];
    return sign | (dl < dh || (dl === dh && lo % 2 === 0) ? lo : hi);
  };

  it("f16Bits rounds float32 to the nearest half, ties to even", () => {
    const r = rand(3);
    const xs: number[] = [0, -0, Infinity, -Infinity, 65504, 65519.99, 65520, 65536, 1e-8, 2 ** -25, 2 ** -24, 3 * 2 ** -25, 2 ** -14, 6e-5];
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (halves[h]! + halves[h + 1]!) / 2;
      xs.push(halves[h]!, mid, f32(mid * (1 + 2 ** -23)), f32(mid * (1 - 2 ** -23)));
    }
    for (let i = 0; i < 20000; i++) xs.push(f32(r() * 2 ** (Math.floor(r() * 40) - 20)));
    const wrong = xs.map(f32).flatMap((x) => [x, -x]).filter((x) => f16Bits(x) !== nearest(x));
    expect(wrong.slice(0, 5).map((x) => `f16Bits(${x}) = 0x${f16Bits(x).toString(16)}, nearest 0x${nearest(x).toString(16)}`)).toEqual([]);
    expect(f16Bits(NaN)).toBe(0x7e00);
  });

  it("encodeF16 keeps each output channel's sum: every weight on a neighbouring half, the channel's rounding error under half its largest step", () => {
    const ulp = (x: number) => {
      const h = f16Bits(Math.abs(x));
      return f16Value(h + 1) - f16Value(h);
    };
    for (const ch of [
      { outer: 1, channels: 6, inner: 9 }, // 3x3 kernels
      { outer: 40, channels: 5, inner: 1 }, // matmul B columns: a channel strided across rows
      { outer: 2, channels: 3, inner: 50 },
    ]) {
      const r = rand(ch.inner);
      const n = ch.outer * ch.channels * ch.inner;
      const chOf = (i: number) => Math.floor(i / ch.inner) % ch.channels;
      // Channels of mixed magnitudes and signs; channel 0 all 1 + 0.4 ulp, so that each weight
      // rounds down and nearest rounding loses 0.4 ulp per weight; one exact and one subnormal weight.
      const data = Float32Array.from({ length: n }, (_, i) => (chOf(i) === 0 ? f32(1 + 0.4 * 2 ** -10) : f32(r() * 10 ** (chOf(i) - 3))));
      data[1] = 0.5;
      data[n - 1] = f32(3e-7);
      const got = encodeF16(data, ch);
      for (let c = 0; c < ch.channels; c++) {
        let [gap, nearestGap, step] = [0, 0, 0];
        for (let i = 0; i < n; i++) {
          if (chOf(i) !== c) continue;
          const [w, v] = [data[i]!, f16Value(got[i]!)];
          // One of the two halves around w: within one step of it, on the nearest when w is exact.
          expect(Math.abs(v - w), `[${i}] ${w} -> ${v}`).toBeLessThanOrEqual(ulp(w));
          if (f16Value(f16Bits(w)) === w) expect(got[i]).toBe(f16Bits(w));
          gap += w - v;
          nearestGap += w - f16Value(f16Bits(w));
          step = Math.max(step, ulp(w));
        }
        expect(Math.abs(gap), `channel ${c}`).toBeLessThanOrEqual(Math.min(step / 2, Math.abs(nearestGap)));
        if (c === 0) expect(Math.abs(nearestGap)).toBeGreaterThan(2 * step);
      }
    }
  });

  it("encodeF16 moves the weights nearest halfway first, ties to the lower index", () => {
    // Every weight in [1, 2), one step (2^-10) apart: w = 1 + (k + f) 2^-10. Channel 0 has
    // fractions f at random, channel 1 all f = 0.3 (each rounds down; the gap takes 0.3 n moves up).
    const [inner, step] = [200, 2 ** -10];
    const r = rand(11);
    const fraction = (c: number) => (c === 0 ? 0.02 + 0.96 * r() : 0.3);
    const data = Float32Array.from({ length: 2 * inner }, (_, i) => f32(1 + ((Math.floor(i / 2) % 512) + fraction(Math.floor(i / inner))) * step));
    const got = encodeF16(data, { outer: 1, channels: 2, inner });
    for (let c = 0; c < 2; c++) {
      const at = Array.from({ length: inner }, (_, i) => c * inner + i);
      const moved = at.filter((i) => got[i] !== f16Bits(data[i]!));
      expect(moved.length, `channel ${c}`).toBeGreaterThan(0);
      // The direction of the moves, and the weights that could have moved that way.
      const up = f16Value(got[moved[0]!]!) > data[moved[0]!]!;
      const candidates = at.filter((i) => f16Value(f16Bits(data[i]!)) < data[i]! === up);
      const distance = (i: number) => Math.abs(data[i]! - f16Value(f16Bits(data[i]!)));
      const unmoved = candidates.filter((i) => !moved.includes(i));
      if (c === 0) expect(Math.min(...moved.map(distance))).toBeGreaterThanOrEqual(Math.max(...unmoved.map(distance)));
      else expect(moved).toEqual(candidates.slice(0, moved.length));
    }
  });

  it("encodeF16 leaves exact channels, and Inf / NaN weights' channels, as nearest rounding", () => {
    const ch = { outer: 1, channels: 2, inner: 3 };
    const data = Float32Array.of(1, -2, 0.25, Infinity, 1 + 2 ** -12, NaN);
    expect(Array.from(encodeF16(data, ch))).toEqual(Array.from(data, f16Bits));
  });

  it("the wasm decoder gives every half exactly, NaN payloads and -0 included", async () => {
    const n = 65536;
    const { memory, f } = await module((e) => decodeF16(e, n), 2 * n + stagedBytes("f16", n));
    new Uint16Array(memory, 0, n).set(Uint16Array.from({ length: n }, (_, h) => h));
    f(0, 2 * n);
    const got = new Uint32Array(memory, 2 * n, n);
    for (let h = 0; h < n; h++) {
      const e = (h >>> 10) & 0x1f;
      const want = e === 31 && h & 0x3ff ? (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0 : bits(f16Value(h));
      if (got[h] !== want) expect.fail(`half 0x${h.toString(16)}: got bits 0x${got[h]!.toString(16)}, want 0x${want.toString(16)}`);
    }
  });
});

describe("int8", () => {
  const layouts: Channels[] = [
    { outer: 1, channels: 5, inner: 7 }, // conv / linear / embedding rows, off the vector width
    { outer: 3, channels: 6, inner: 1 }, // matmul B columns
    { outer: 2, channels: 3, inner: 6 }, // a batched matmul A's rows
    { outer: 1, channels: 1, inner: 3 },
  ];

  it("scales each output channel by its largest |w| / 127; a zero channel stores zeros", () => {
    for (const ch of layouts) {
      const r = rand(ch.channels);
      const n = ch.outer * ch.channels * ch.inner;
      const chOf = (i: number) => Math.floor(i / ch.inner) % ch.channels;
      // Channel 0 is all zeros, channel c spans about 10^c.
      const data = Float32Array.from({ length: n }, (_, i) => (chOf(i) === 0 && ch.channels > 1 ? 0 : r() * 10 ** chOf(i)));
      const { scales, q } = quantiseInt8(data, ch, "w");
      for (let c = 0; c < ch.channels; c++) {
        const max = Math.max(...Array.from(data).filter((_, i) => chOf(i) === c).map(Math.abs));
        expect(scales[c]).toBe(f32(max / 127));
      }
      for (let i = 0; i < n; i++) {
        const s = scales[chOf(i)]!;
        expect(Math.abs(q[i]!)).toBeLessThanOrEqual(127);
        if (s === 0) expect(q[i]).toBe(0);
        // Rounded to the nearest step: within half a step (and float32's rounding of w / s).
        else expect(Math.abs(q[i]! * s - data[i]!)).toBeLessThanOrEqual(s * (0.5 + 1e-6));
      }
      if (ch.channels > 1) expect(scales[0]).toBe(0);
    }
  });

  it("the wasm decoder gives float32(q * scale) exactly, on every channel layout", async () => {
    for (const ch of layouts) {
      const r = rand(7 + ch.inner);
      const n = ch.outer * ch.channels * ch.inner;
      const data = Float32Array.from({ length: n }, () => r() * 3);
      const stored = encodeInt8(data, ch, "w");
      const dst = Math.ceil(stored.byteLength / 16) * 16;
      const { memory, f } = await module((e) => decodeInt8(e, n, ch), dst + stagedBytes("int8", n));
      new Uint8Array(memory).set(stored);
      f(0, dst);
      const { scales, q } = quantiseInt8(data, ch, "w");
      const got = new Float32Array(memory, dst, n);
      for (let i = 0; i < n; i++) expect(got[i], `${JSON.stringify(ch)} [${i}]`).toBe(f32(q[i]! * scales[Math.floor(i / ch.inner) % ch.channels]!));
    }
  });

  it("refuses non-finite weights, naming the tensor", () => {
    expect(() => quantiseInt8(Float32Array.of(1, NaN), { outer: 1, channels: 1, inner: 2 }, "weight fc.weight")).toThrow(UsageError);
    expect(() => quantiseInt8(Float32Array.of(Infinity), { outer: 1, channels: 1, inner: 1 }, "weight fc.weight")).toThrow(/fc\.weight holds Infinity/);
  });
});

describe("which constants are encoded", () => {
  const conv = { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1, layout: "NCHW" };
  const operand = (shape: number[], constant = false) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)), constant });
  /** quantisable's answer for the one-node graph, keyed by operand index. */
  const encoded = (dtype: "f16" | "int8", op: string, operands: ReturnType<typeof operand>[], attrs: Record<string, unknown>) =>
    Object.fromEntries([...quantisable(oneNode(op, operands, attrs as never), dtype)].map(([v, ch]) => [v, ch]));

  it("a conv2d or linear weight above SMALL_WEIGHT_ELEMENTS[dtype], by output channel; its bias and smaller weights stay float32", () => {
    expect(SMALL_WEIGHT_ELEMENTS).toEqual({ f16: 64 * 64, int8: 128 * 128 });
    for (const dtype of ["f16", "int8"] as const) {
      // 64 x 32 x 3 x 3 = 18432 weights: encoded; the bias is not.
      expect(encoded(dtype, "conv2d", [operand([1, 32, 8, 8]), operand([64, 32, 3, 3], true), operand([64], true)], { ...conv, bias: true })).toEqual({ 1: { outer: 1, channels: 64, inner: 288 } });
      // A depthwise 3x3 kernel of 384 channels (3456 weights) stays float32.
      expect(encoded(dtype, "conv2d", [operand([1, 384, 8, 8]), operand([384, 1, 3, 3], true)], { ...conv, groups: 384 })).toEqual({});
    }
    // A stem's 64 x 3 x 7 x 7 = 9408: f16 encodes it, int8 keeps it float32.
    const stem = [operand([1, 3, 16, 16]), operand([64, 3, 7, 7], true)];
    expect(encoded("f16", "conv2d", stem, { ...conv, pads: [3, 3, 3, 3] })).toEqual({ 1: { outer: 1, channels: 64, inner: 147 } });
    expect(encoded("int8", "conv2d", stem, { ...conv, pads: [3, 3, 3, 3] })).toEqual({});
    // The bound itself stays float32, one more element is encoded.
    for (const [dtype, n] of [["f16", 64], ["int8", 128]] as const) {
      expect(encoded(dtype, "linear", [operand([1, n]), operand([n, n], true)], {})).toEqual({});
      expect(encoded(dtype, "linear", [operand([1, n + 1]), operand([n, n + 1], true)], {})).toEqual({ 1: { outer: 1, channels: n, inner: n + 1 } });
    }
  });

  it("a matmul's constant operands by their output axis: A's rows, B's columns", () => {
    expect(encoded("int8", "matmul", [operand([2, 200, 100], true), operand([2, 100, 300], true)], {})).toEqual({
      0: { outer: 2, channels: 200, inner: 100 },
      1: { outer: 200, channels: 300, inner: 1 },
    });
  });
});
