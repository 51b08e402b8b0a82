// The counter-based generator of random_uniform (dropout's masks in a training graph): element i of
// a draw is a pure function of (seed, stream, counter, i), so it is the same bits on every engine
// and thread count, and any share of the elements can be computed alone. Every step is 32-bit
// unsigned integer arithmetic: xor, shifts and wrapping multiplies, as wasm and WGSL do them.
//
//   key  = mix(mix(mix(seed) ^ stream) ^ counter)
//   u[i] = (mix(key + i * GOLDEN) >>> 8) * 2^-24          in [0, 1), a multiple of 2^-24
//
// mix is Wellons' lowbias32 (an invertible avalanche hash, so distinct i give distinct hashes);
// key + i * GOLDEN is SplitMix32's Weyl sequence. The top 24 bits of the hash are exact in f32.

/** The Weyl increment (2^32 / the golden ratio). */
export const GOLDEN = 0x9e3779b9;
/** lowbias32's multipliers and shifts: x ^= x >>> 16; x *= M1; x ^= x >>> 15; x *= M2; x ^= x >>> 16. */
export const MIX = { m1: 0x7feb352d, m2: 0x846ca68b, shifts: [16, 15, 16] } as const;
/** The u32 hash's low bits dropped so that the rest is an exact f32 fraction. */
export const FRACTION_SHIFT = 8;
export const FRACTION_SCALE = 2 ** -24;

/** lowbias32 on a u32. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> MIX.shifts[0]), MIX.m1);
  h = Math.imul(h ^ (h >>> MIX.shifts[1]), MIX.m2);
  return (h ^ (h >>> MIX.shifts[2])) >>> 0;
}

/**
 * The draw's key. `counter` is the step input as the kernels read it: truncated toward zero to an
 * unsigned integer, saturating (NaN and negatives give 0; wasm's trunc_sat, WGSL's u32()).
 */
export function randomKey(seed: number, stream: number, counter: number): number {
  const c = Number.isNaN(counter) ? 0 : Math.min(Math.max(Math.trunc(counter), 0), 2 ** 32 - 1);
  return mix32(mix32(mix32(seed) ^ stream) ^ c);
}

/** Element i of the draw with key `key`: a float in [0, 1). */
export function uniformAt(key: number, i: number): number {
  return (mix32((key + Math.imul(i, GOLDEN)) >>> 0) >>> FRACTION_SHIFT) * FRACTION_SCALE;
}
