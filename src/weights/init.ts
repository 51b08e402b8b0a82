// Deterministic seeded weight initialisation, used when no checkpoint is given.
//
// Scheme (stable: changing it changes every model's default weights):
//   * Each tensor draws from its own stream, so adding, removing or reordering weights never
//     changes the others. The stream state is a 32-bit FNV-1a hash of the UTF-8 bytes of the
//     weight name, with the offset basis 0x811c9dc5 XOR-ed with the seed (an unsigned 32-bit int).
//   * The stream is splitmix32: state += 0x9e3779b9, then the murmur3 finaliser of the state
//     (x ^= x >>> 16; x *= 0x85ebca6b; x ^= x >>> 13; x *= 0xc2b2ae35; x ^= x >>> 16).
//   * A uniform in (0, 1) is (u32 + 0.5) / 2^32, never 0 or 1.
//   * Normals come in pairs from Box-Muller: with uniforms u1, u2 drawn in that order,
//     r = sqrt(-2 ln u1), element i gets r cos(2 pi u2) and element i+1 gets r sin(2 pi u2);
//     an odd last element uses the cosine only.
//   * kaiming(fanIn): normal(0, sqrt(2 / fanIn)); normal(std): normal(0, std);
//     uniform(bound): (2u - 1) * bound; zeros / ones / const(value): filled, no draws.
//   * Elements are filled in row-major order; i64 weights (num_batches_tracked) are zeros.
// Values are computed in double precision and rounded once to f32.

import type { Weight } from "../ir/graph.js";
import { fail, shapeStr } from "./tensor.js";

export function initWeights(weights: readonly Weight[], seed = 0): Map<string, Float32Array | BigInt64Array> {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    fail("invalid_init", "<init>", `seed ${seed} is not an unsigned 32-bit integer`);
  }
  const out = new Map<string, Float32Array | BigInt64Array>();
  for (const w of weights) {
    const n = w.type.shape.reduce((a, d) => a * d, 1);
    if (w.type.dtype === "i64") out.set(w.name, new BigInt64Array(n));
    else if (w.type.dtype === "f32") out.set(w.name, initTensor(w, n, seed));
    else fail("invalid_init", "<init>", `cannot initialise a ${w.type.dtype}${shapeStr(w.type.shape)} weight`, w.name);
  }
  return out;
}

function initTensor(w: Weight, n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const init = w.init;
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "const":
      return out.fill(init.value);
    case "uniform": {
      checkScale(init.bound, w);
      const next = stream(seed, w.name);
      for (let i = 0; i < n; i++) out[i] = (2 * unit(next()) - 1) * init.bound;
      return out;
    }
    case "normal":
    case "kaiming": {
      const std = init.kind === "normal" ? init.std : Math.sqrt(2 / init.fanIn);
      checkScale(std, w);
      const next = stream(seed, w.name);
      for (let i = 0; i < n; i += 2) {
        const r = Math.sqrt(-2 * Math.log(unit(next())));
        const theta = 2 * Math.PI * unit(next());
        out[i] = std * r * Math.cos(theta);
        if (i + 1 < n) out[i + 1] = std * r * Math.sin(theta);
      }
      return out;
    }
  }
}

function checkScale(scale: number, w: Weight): void {
  if (!(scale >= 0 && Number.isFinite(scale))) {
    fail("invalid_init", "<init>", `${w.init.kind} init ${JSON.stringify(w.init)} gives scale ${scale}`, w.name);
  }
}

/** The splitmix32 stream for (seed, name), yielding unsigned 32-bit ints. */
export function stream(seed: number, name: string): () => number {
  let state = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of new TextEncoder().encode(name)) state = Math.imul(state ^ byte, 0x01000193) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) >>> 0;
  };
}

function unit(u32: number): number {
  return (u32 + 0.5) / 2 ** 32;
}
