import { expect } from "vitest";
import fc from "fast-check";
import { WeightsError } from "../../src/weights/tensor.js";

/** Runs `f`, expecting a WeightsError with `code`; returns it for message checks. */
export function expectCode(f: () => unknown, code: string): WeightsError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WeightsError);
    expect((e as WeightsError).code).toBe(code);
    return e as WeightsError;
  }
  throw new Error(`expected WeightsError ${code}, nothing was thrown`);
}

/** Little-endian bytes of `values` as u16 words. */
export function u16le(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => new DataView(out.buffer).setUint16(i * 2, v, true));
  return out;
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Damaged versions of a valid file: `garbage`, up to four bytes overwritten, or a truncation.
 * Reading any of them must end in a WeightsError and nothing else.
 */
export function corruptions(valid: Uint8Array, garbage: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edits = fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
  return fc.oneof(
    garbage,
    edits.map((list) => {
      const b = valid.slice();
      for (const [i, v] of list) b[i] = v;
      return b;
    }),
    fc.nat(valid.length).map((n) => valid.slice(0, n)),
  );
}

/** Asserts that `read` fails only with WeightsError on every corruption of `valid`. */
export function expectOnlyWeightsErrors(valid: Uint8Array, garbage: fc.Arbitrary<Uint8Array>, read: (b: Uint8Array) => unknown): void {
  fc.assert(
    fc.property(corruptions(valid, garbage), (bytes) => {
      try {
        read(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(WeightsError);
      }
    }),
    { numRuns: 500 },
  );
}
