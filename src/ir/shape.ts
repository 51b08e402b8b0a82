// Shape arithmetic every layer shares: row-major strides, numpy broadcasting, axis
// normalisation, and the NCHW/NHWC permutations. One implementation of each.
import { numel } from "./graph.js";

/** A user-facing shape or type error; the frontend turns it into a located diagnostic. */
export class ShapeError extends Error {}

export const fmtShape = (s: readonly number[]) => `[${s.join(", ")}]`;

export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major element strides of `shape`. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) (s[i] = acc), (acc *= shape[i]!);
  return s;
}

export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new ShapeError(`shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (dimension ${i}: ${x} vs ${y})`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Element strides of a tensor of `shape` broadcast (numpy rules, aligned right) to `out`: 0 along broadcast dimensions. */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const s = strides(shape);
  return out.map((_, i) => {
    const k = i - (out.length - shape.length);
    return k < 0 || shape[k] === 1 ? 0 : s[k]!;
  });
}

/** For each element of a row-major walk over `shape`, the offset sum(index[d] * strides[d]). */
export function stridedOffsets(shape: readonly number[], st: readonly number[]): Int32Array {
  const n = numel(shape);
  const offs = new Int32Array(n);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]!++;
      off += st[d]!;
      if (idx[d]! < shape[d]!) break;
      off -= st[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return offs;
}

/** For each element of `out` (row-major), the offset of the element of a tensor of shape `inp` broadcast to it. */
export function broadcastOffsets(inp: readonly number[], out: readonly number[]): Int32Array {
  return stridedOffsets(out, broadcastStrides(inp, out));
}

/** For each element of `data` (of `shape`) transposed by `perm`, the offset of its source element. */
export function transposeOffsets(shape: readonly number[], perm: readonly number[]): Int32Array {
  const st = strides(shape);
  return stridedOffsets(permute(shape, perm), perm.map((p) => st[p]!));
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`axis ${axis} is out of range for a tensor of rank ${rank}`);
  return a;
}

/** Splits `shape` around `axis` into (outer, size, inner) for axis-wise loops. */
export function around(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

/** The permutations between NCHW and NHWC (as transpose perms). */
export const TO_NHWC: readonly number[] = [0, 2, 3, 1];
export const TO_NCHW: readonly number[] = [0, 3, 1, 2];

export const permute = (shape: readonly number[], perm: readonly number[]) => perm.map((p) => shape[p]!);
