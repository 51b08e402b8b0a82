import { expect } from "vitest";
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
