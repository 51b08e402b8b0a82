// Shared by the property tests: a seeded PRNG and pieces of generated .nn source.
import fc from "fast-check";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const dims = (s: readonly number[]) => `[${s.join(", ")}]`;
/** `input NAME: f32[...]`, one line of a model body. */
export const f32 = (name: string, s: readonly number[]) => `  input ${name}: f32${dims(s)}`;
export const dim = (max: number) => fc.integer({ min: 1, max });

/**
 * A random maxpool / avgpool model body: kernel, stride, pads (each at most half the kernel),
 * dilation (maxpool), ceil_mode and count_include_pad (avgpool), on an input just large enough
 * for one window plus up to 6 more rows and columns.
 */
export function poolCase(op: "maxpool" | "avgpool", maxChannels: number): fc.Arbitrary<string> {
  return fc
    .record({
      n: dim(2), c: dim(maxChannels), kh: dim(4), kw: dim(4), sh: dim(3), sw: dim(3), dh: dim(2), dw: dim(2),
      pads: fc.tuple(...Array.from({ length: 4 }, () => fc.integer({ min: 0, max: 2 }))), ceil: fc.boolean(), cip: fc.boolean(), eh: fc.integer({ min: 0, max: 6 }), ew: fc.integer({ min: 0, max: 6 }),
    })
    .map(({ n, c, kh, kw, sh, sw, dh, dw, pads, ceil, cip, eh, ew }) => {
      const [pt, pl, pb, pr] = pads.map((p, i) => Math.min(p, Math.floor((i % 2 === 0 ? kh : kw) / 2)));
      if (op === "avgpool") dh = dw = 1;
      const h = Math.max(1, dh * (kh - 1) + 1 - pt! - pb!) + eh;
      const w = Math.max(1, dw * (kw - 1) + 1 - pl! - pr!) + ew;
      const extra = op === "maxpool" ? `dilation=(${dh}, ${dw})` : `count_include_pad=${cip}`;
      return `${f32("x", [n, c, h, w])}\n  output y = ${op}(x, (${kh}, ${kw}), stride=(${sh}, ${sw}), pad=(${pt}, ${pl}, ${pb}, ${pr}), ceil_mode=${ceil}, ${extra})`;
    });
}
