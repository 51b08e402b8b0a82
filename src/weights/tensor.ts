// Shared pieces of the weight-file readers: the error type, the in-memory tensor data types and
// little-endian element decoding (source.ts reads the bytes). Decoding goes through DataView so
// it is independent of host byte order and of the alignment of the tensor inside the file.

import type { TensorData } from "../ir/graph.js";

export type { TensorData };

export type WeightsErrorCode =
  | "truncated"
  | "header_out_of_range"
  | "invalid_header"
  | "invalid_metadata"
  | "invalid_entry"
  | "invalid_shape"
  | "unknown_dtype"
  | "unsupported_dtype"
  | "offsets_out_of_range"
  | "offsets_overlap"
  | "offsets_gap"
  | "size_mismatch"
  | "duplicate_name"
  | "bad_magic"
  | "unsupported_version"
  | "fortran_order"
  | "big_endian"
  | "missing_weights"
  | "unexpected_tensors"
  | "rename_collision"
  | "shape_mismatch"
  | "dtype_mismatch"
  | "non_finite"
  | "invalid_init"
  | "not_a_file"
  | "unreadable"
  | "too_large"
  | "invalid_zip"
  | "unsupported_compression"
  | "invalid_pickle"
  | "forbidden_pickle"
  | "invalid_torch"
  | "legacy_format"
  | "not_a_state_dict";

/** Every malformed file or binding problem: `code` is stable, the message names file and tensor. */
export class WeightsError extends Error {
  override readonly name = "WeightsError";
  constructor(
    readonly code: WeightsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws a WeightsError whose message is prefixed with the file and, if given, the tensor. */
export function fail(code: WeightsErrorCode, file: string, detail: string, tensor?: string): never {
  const where = tensor === undefined ? file : `${file}: tensor "${tensor}"`;
  throw new WeightsError(code, `${where}: ${detail}`);
}

/** Element encodings as stored in files. f16/bf16/f64 widen or narrow to f32 in memory. */
export type ElemKind = "f16" | "bf16" | "f32" | "f64" | "i32" | "i64";

export const ITEMSIZE: Record<ElemKind, number> = { f16: 2, bf16: 2, f32: 4, f64: 8, i32: 4, i64: 8 };

/** True for a valid static shape: non-negative safe integers. */
export function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** IEEE 754 binary16 bits to a number (exact: every half is representable as a float). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits to a number: bf16 is the top half of a binary32. */
export function bf16ToF32(b: number): number {
  bf16Scratch.setUint32(0, b << 16);
  return bf16Scratch.getFloat32(0);
}
const bf16Scratch = new DataView(new ArrayBuffer(4));

/** Is this machine little-endian? Then f32/i32/i64 files are copied in bulk, not element by element. */
export const HOST_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** The in-memory type of a file encoding: f16, bf16 and f64 are held as f32. */
export function memKind(kind: ElemKind): "f32" | "i32" | "i64" {
  return kind === "i32" || kind === "i64" ? kind : "f32";
}

/** Decodes the little-endian elements in `bytes` into `out` (an array of `memKind(kind)`) from index `at`. */
export function decodeInto(kind: ElemKind, bytes: Uint8Array, out: TensorData, at: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.byteLength / ITEMSIZE[kind];
  if (kind === "i64") {
    const ints = out as BigInt64Array;
    for (let i = 0; i < count; i++) ints[at + i] = view.getBigInt64(i * 8, true);
    return;
  }
  const nums = out as Float32Array | Int32Array;
  if (kind === "i32") for (let i = 0; i < count; i++) nums[at + i] = view.getInt32(i * 4, true);
  else if (kind === "f32") for (let i = 0; i < count; i++) nums[at + i] = view.getFloat32(i * 4, true);
  else if (kind === "f64") for (let i = 0; i < count; i++) nums[at + i] = view.getFloat64(i * 8, true);
  else if (kind === "f16") for (let i = 0; i < count; i++) nums[at + i] = f16ToF32(view.getUint16(i * 2, true));
  else for (let i = 0; i < count; i++) nums[at + i] = bf16ToF32(view.getUint16(i * 2, true));
}

/** The file encoding of an in-memory array. */
export function kindOf(data: TensorData): "f32" | "i32" | "i64" {
  return data instanceof Float32Array ? "f32" : data instanceof Int32Array ? "i32" : "i64";
}

/** Writes `data` little-endian into `out` at `offset`. */
export function encodeLE(data: TensorData, out: Uint8Array, offset: number): void {
  if (HOST_LE) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  else if (data instanceof Int32Array) for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i], true);
  else for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i], true);
}
