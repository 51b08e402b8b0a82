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

/**
 * ONNX Slice along one axis of size `dim`: negative start and end count from the end, then clamp
 * ([0, dim] for a positive step, start to [0, dim - 1] and end to [-1, dim - 1] for a negative
 * one). `first` is the first index taken, `count` how many (0: nothing).
 */
export function sliceRange(dim: number, start: number, end: number, step: number): { first: number; count: number } {
  if (!Number.isInteger(step) || step === 0) throw new ShapeError(`slice: step must be a nonzero int, got ${step}`);
  const norm = (i: number) => (i < 0 ? i + dim : i);
  const clamp = (i: number, lo: number, hi: number) => Math.min(Math.max(i, lo), hi);
  const [s, e] = step > 0 ? [clamp(norm(start), 0, dim), clamp(norm(end), 0, dim)] : [clamp(norm(start), 0, dim - 1), clamp(norm(end), -1, dim - 1)];
  return { first: s, count: Math.max(0, Math.ceil((e - s) / step)) };
}

export const PAD_MODES = ["constant", "reflect", "replicate"] as const;
export type PadMode = (typeof PAD_MODES)[number];

/**
 * One axis of a pad: negative pads crop first (`crop` elements off the start of the input,
 * leaving `kept`), then `before` and `after` elements are added around what is kept.
 */
export interface PadAxis {
  crop: number;
  kept: number;
  before: number;
  after: number;
}

/** The axes of a pad by `pads` (ONNX order: every axis' begin, then every axis' end) in `mode`; checks that each fits. */
export function padAxes(shape: readonly number[], pads: readonly number[], mode: PadMode): PadAxis[] {
  const r = shape.length;
  if (pads.length !== 2 * r) throw new ShapeError(`pad: ${pads.length} pads for a tensor of rank ${r} (it takes ${2 * r}: every axis' begin, then every axis' end)`);
  return shape.map((d, k) => {
    const [b, e] = [pads[k]!, pads[k + r]!];
    const kept = d - Math.max(0, -b) - Math.max(0, -e);
    if (kept < 1) throw new ShapeError(`pad: pads ${b} and ${e} crop all ${d} elements of axis ${k}`);
    const [before, after] = [Math.max(0, b), Math.max(0, e)];
    if (mode === "reflect" && Math.max(before, after) >= kept) throw new ShapeError(`pad: reflect pads ${before} and ${after} must be less than axis ${k}'s ${kept} elements`);
    return { crop: Math.max(0, -b), kept, before, after };
  });
}

/** The input index along a pad's axis that output index `o` copies, or -1 for the constant. */
export function padSource(p: PadAxis, o: number, mode: PadMode): number {
  let j = o - p.before;
  if (j < 0 || j >= p.kept) {
    if (mode === "constant") return -1;
    if (mode === "replicate") j = Math.min(Math.max(j, 0), p.kept - 1);
    else j = j < 0 ? -j : 2 * (p.kept - 1) - j;
  }
  return j + p.crop;
}
