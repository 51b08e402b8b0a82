// Where the weight-file readers get their bytes: a file read piece by piece at explicit positions
// (so a checkpoint over 2 GiB, Node's limit for one Buffer, loads, and only the tensors sit in
// memory), or bytes already in memory. One interface, so each format has one reader.

import { type Stats, closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ITEMSIZE, type ElemKind, type TensorData, HOST_LE, decodeInto, fail, memKind } from "./tensor.js";
import { isSystemError, systemErrorReason } from "../base/errors.js";

export interface ByteSource {
  /** The file name for messages. */
  readonly name: string;
  readonly size: number;
  /** Fills `into` with the bytes at `position`; callers check the range against `size` first. */
  readInto(into: Uint8Array, position: number): void;
}

/** The most one read or decode step handles: bounds the scratch memory of converting reads. */
const CHUNK_BYTES = 16 << 20;

/** The bound the reference safetensors implementation puts on headers; .npy headers are far smaller. */
export const MAX_HEADER_BYTES = 100_000_000;

export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return { name, size: bytes.length, readInto: (into, position) => into.set(bytes.subarray(position, position + into.length)) };
}

/**
 * Opens `path` once, checks on the descriptor that it is a regular file, and lends it to `use` as
 * a source. Non-blocking open: a FIFO with no writer is reported, not waited on. The size comes
 * from fstat, so a device or /proc file is never read to its (missing) end.
 */
export function withFile<T>(path: string, use: (source: ByteSource) => T): T {
  const fd = attempt(path, "open", () => openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)));
  try {
    const stats = attempt(path, "read", () => fstatSync(fd));
    if (!stats.isFile()) fail("not_a_file", path, `is ${fileKind(stats)}, not a regular file`);
    return use({
      name: path,
      size: stats.size,
      readInto(into, position) {
        for (let done = 0; done < into.length; ) {
          const length = Math.min(CHUNK_BYTES, into.length - done);
          const n = attempt(path, "read", () => readSync(fd, into, done, length, position + done));
          if (n === 0) fail("truncated", path, `the file ends at byte ${position + done}, before the ${stats.size} bytes it had when opened`);
          done += n;
        }
      },
    });
  } finally {
    closeSync(fd);
  }
}

export function readBytes(source: ByteSource, position: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  source.readInto(bytes, position);
  return bytes;
}

/** Reads `count` little-endian `kind` elements at `position` into a fresh array of `memKind(kind)`. */
export function readElements(source: ByteSource, kind: ElemKind, position: number, count: number): TensorData {
  const mem = memKind(kind);
  const out = allocate(source, mem, count);
  if (HOST_LE && kind === mem) {
    // The file layout is the memory layout: the bytes go straight into the array.
    source.readInto(new Uint8Array(out.buffer), position);
    return out;
  }
  const size = ITEMSIZE[kind];
  const perChunk = Math.floor(CHUNK_BYTES / size);
  const scratch = new Uint8Array(Math.min(count, perChunk) * size);
  for (let at = 0; at < count; at += perChunk) {
    const bytes = scratch.subarray(0, Math.min(perChunk, count - at) * size);
    source.readInto(bytes, position + at * size);
    decodeInto(kind, bytes, out, at);
  }
  return out;
}

/** A fresh array of `count` `mem` elements; one too large for memory is a named error. */
export function allocate(source: ByteSource, mem: "f32" | "i32" | "i64", count: number): TensorData {
  try {
    return mem === "f32" ? new Float32Array(count) : mem === "i32" ? new Int32Array(count) : new BigInt64Array(count);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    fail("too_large", source.name, `a tensor of ${count} ${mem} elements does not fit in memory (${e.message})`);
  }
}

/** Runs a file system call, turning its failure into a WeightsError that names the file. */
function attempt<T>(path: string, action: "open" | "read", call: () => T): T {
  try {
    return call();
  } catch (e) {
    if (!isSystemError(e)) throw e;
    fail("unreadable", path, `cannot ${action} the file: ${systemErrorReason(e)}`);
  }
}

function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a FIFO (named pipe)";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isSocket()) return "a socket";
  return "a special file";
}
