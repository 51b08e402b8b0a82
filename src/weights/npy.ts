// NumPy .npy files (format versions 1.0, 2.0 and 3.0) and raw little-endian .bin tensors.
// An .npy file is "\x93NUMPY", a major and minor version byte, the header length (u16 LE for
// 1.0, u32 LE for 2.0 and 3.0), a Python dict literal such as
// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by a
// newline, then the data. Only little-endian C-order arrays of <f2, <f4, <f8, <i4, <i8 are read;
// <f2 widens and <f8 narrows to f32.

import { formatType, type TensorType } from "../ir/graph.js";
import { type ByteSource, MAX_HEADER_BYTES, memorySource, readBytes, readElements, withFile } from "./source.js";
import {
  type ElemKind,
  ITEMSIZE,
  type TensorData,
  encodeLE,
  fail,
  isShape,
  kindOf,
  memKind,
  shapeStr,
} from "./tensor.js";

export interface Tensor {
  dtype: "f32" | "i32" | "i64";
  shape: number[];
  data: TensorData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR_KIND = new Map<string, ElemKind>([
  ["<f2", "f16"],
  ["<f4", "f32"],
  ["<f8", "f64"],
  ["<i4", "i32"],
  ["<i8", "i64"],
]);
const WRITE_DESCR = { f32: "<f4", i32: "<i4", i64: "<i8" } as const;
/** numpy aligns the data start to 64 bytes. */
const ALIGN = 64;

export function readNpy(bytes: Uint8Array, file = "<bytes>"): Tensor {
  return readNpyFrom(memorySource(bytes, file));
}

/** An .npy file; its problems are WeightsErrors naming it. */
export function readNpyFile(path: string): Tensor {
  return withFile(path, readNpyFrom);
}

/** A raw little-endian tensor file whose dtype and shape are known from elsewhere. */
export function readRawTensor(
  bytes: Uint8Array,
  dtype: "f32" | "i32" | "i64",
  shape: number[],
  file = "<bytes>",
): Tensor {
  return readRawFrom(memorySource(bytes, file), dtype, shape);
}

/**
 * Reads the file given for model input `name`: `.npy`, else raw little-endian data of the input's
 * dtype and shape. Every problem with it, a shape or dtype other than the input's included, is a
 * WeightsError naming the file.
 */
export function readInputFile(path: string, name: string, type: TensorType): TensorData {
  // The elaborator allows only f32, i32 and i64 inputs.
  const dtype = type.dtype as Tensor["dtype"];
  return withFile(path, (source) => {
    if (!path.endsWith(".npy")) return readRawFrom(source, dtype, type.shape).data;
    const t = readNpyFrom(source);
    const expects = `but the model's input ${name} is ${formatType(type)}`;
    if (shapeStr(t.shape) !== shapeStr(type.shape)) fail("shape_mismatch", path, `has shape ${shapeStr(t.shape)} ${expects}`);
    return inputData(t, dtype, path, expects);
  });
}

/**
 * `t`'s data for a model input of `dtype` (`expects` says which, for messages): f32 for an f32
 * input; integers of either width for an integer one, i64 narrowed to i32 for an i32 input (a
 * module's run() takes i64 data for i64 inputs only).
 */
export function inputData(t: Tensor, dtype: Tensor["dtype"], path: string, expects: string): TensorData {
  if ((t.dtype === "f32") !== (dtype === "f32")) fail("dtype_mismatch", path, `holds ${t.dtype} data ${expects}`);
  if (dtype !== "i32" || t.dtype !== "i64") return t.data;
  const wide = t.data as BigInt64Array;
  const bad = wide.findIndex((v) => v !== BigInt.asIntN(32, v));
  if (bad >= 0) fail("dtype_mismatch", path, `element ${bad} is ${wide[bad]}, outside i32, ${expects}`);
  return Int32Array.from(wide, Number);
}

function readNpyFrom(source: ByteSource): Tensor {
  const { name: file, size } = source;
  if (size < 10) fail("truncated", file, `${size} bytes, too short for an .npy preamble`);
  const preamble = readBytes(source, 0, Math.min(size, 12));
  if (MAGIC.some((b, i) => preamble[i] !== b)) fail("bad_magic", file, "not an .npy file (no \\x93NUMPY magic)");
  const [major, minor] = [preamble[6]!, preamble[7]!];
  if (minor !== 0 || major < 1 || major > 3) {
    fail("unsupported_version", file, `unsupported .npy format version ${major}.${minor}`);
  }
  const headerStart = major === 1 ? 10 : 12;
  if (size < headerStart) {
    fail("truncated", file, `${size} bytes, too short for an .npy ${major}.0 preamble`);
  }
  const view = new DataView(preamble.buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLen;
  if (dataStart > size) {
    fail("header_out_of_range", file, `header length ${headerLen} exceeds the ${size - headerStart} bytes after it`);
  }
  if (headerLen > MAX_HEADER_BYTES) {
    fail("header_out_of_range", file, `header length ${headerLen} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }

  // Version 3.0 allows UTF-8 in the header, but only ASCII matters to the keys read here.
  const header = parseDict(new TextDecoder("latin1").decode(readBytes(source, headerStart, headerLen)), file);
  const { descr, fortran_order: fortran, shape } = header;
  if (Object.keys(header).sort().join() !== "descr,fortran_order,shape") {
    fail(
      "invalid_header",
      file,
      `header keys are [${Object.keys(header).join(", ")}], expected descr, fortran_order, shape`,
    );
  }
  if (typeof descr !== "string") fail("unsupported_dtype", file, "descr is not a simple dtype string");
  if (descr.startsWith(">")) fail("big_endian", file, `big-endian dtype ${descr} is not supported`);
  const kind = DESCR_KIND.get(descr);
  if (kind === undefined) {
    fail("unsupported_dtype", file, `unsupported dtype ${descr} (expected <f2, <f4, <f8, <i4 or <i8)`);
  }
  if (typeof fortran !== "boolean") fail("invalid_header", file, "fortran_order is not True or False");
  if (fortran) fail("fortran_order", file, "Fortran-order arrays are not supported; save with C order");
  if (!Array.isArray(shape)) fail("invalid_header", file, "shape is not a tuple");
  return { dtype: memKind(kind), shape, data: readExact(source, kind, shape, dataStart) };
}

function readRawFrom(source: ByteSource, dtype: Tensor["dtype"], shape: number[]): Tensor {
  if (!isShape(shape)) {
    fail("invalid_shape", source.name, `shape ${JSON.stringify(shape)} has a negative or non-integer dim`);
  }
  return { dtype, shape, data: readExact(source, dtype, shape, 0) };
}

/** The data from `start` to the end of the file, which must be exactly the shape's elements. */
function readExact(source: ByteSource, kind: ElemKind, shape: number[], start: number): TensorData {
  const numel = shape.reduce((n, d) => n * d, 1);
  const need = numel * ITEMSIZE[kind];
  if (source.size - start !== need) {
    fail("size_mismatch", source.name, `${source.size - start} data bytes but ${kind}${shapeStr(shape)} needs ${need}`);
  }
  return readElements(source, kind, start, numel);
}

/** Writes a C-order .npy file, version 1.0 unless the header needs 2.0's longer length field. */
export function writeNpy(shape: readonly number[], data: TensorData): Uint8Array {
  const file = "<writeNpy>";
  if (!isShape(shape)) fail("invalid_shape", file, `shape ${JSON.stringify(shape)} has a negative or non-integer dim`);
  const numel = shape.reduce((n, d) => n * d, 1);
  if (numel !== data.length) {
    fail("size_mismatch", file, `${data.length} elements but shape ${shapeStr(shape)} has ${numel}`);
  }
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${WRITE_DESCR[kindOf(data)]}', 'fortran_order': False, 'shape': ${tuple}, }`;
  // The header (dict, space padding, newline) ends on an ALIGN boundary.
  const padded = (start: number) => Math.ceil((start + dict.length + 1) / ALIGN) * ALIGN - start;
  const major = padded(10) <= 0xffff ? 1 : 2;
  const headerStart = major === 1 ? 10 : 12;
  const headerLen = padded(headerStart);
  const out = new Uint8Array(headerStart + headerLen + data.byteLength);
  out.set(MAGIC);
  out[6] = major;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  out.set(new TextEncoder().encode(dict.padEnd(headerLen - 1) + "\n"), headerStart);
  encodeLE(data, out, headerStart + headerLen);
  return out;
}

type PyValue = string | boolean | number[];

/**
 * Parses the header's Python literal: a dict of quoted-string keys whose values are strings,
 * True/False or tuples of non-negative ints. Anything else (lists, escapes) is rejected.
 */
function parseDict(text: string, file: string): Record<string, PyValue> {
  let pos = 0;
  function bad(what: string): never {
    fail("invalid_header", file, `malformed header at offset ${pos}: ${what} in ${JSON.stringify(text.trim())}`);
  }
  const ws = () => {
    while (pos < text.length && " \t\r\n".includes(text[pos]!)) pos++;
  };
  const eat = (s: string): boolean => {
    ws();
    if (!text.startsWith(s, pos)) return false;
    pos += s.length;
    return true;
  };
  const str = (): string => {
    ws();
    const quote = text[pos];
    if (quote !== "'" && quote !== '"') bad("expected a quoted string");
    const end = text.indexOf(quote, pos + 1);
    if (end < 0) bad("unterminated string");
    const s = text.slice(pos + 1, end);
    if (s.includes("\\")) bad("escapes in strings are not supported");
    pos = end + 1;
    return s;
  };
  const int = (): number => {
    ws();
    const m = /^[0-9]+/.exec(text.slice(pos));
    if (!m || !Number.isSafeInteger(Number(m[0]))) bad("expected a non-negative integer");
    pos += m[0].length;
    return Number(m[0]);
  };
  const tuple = (): number[] => {
    const items: number[] = [];
    while (!eat(")")) {
      items.push(int());
      if (eat(",")) continue;
      if (!eat(")")) bad("expected ',' or ')' in tuple");
      if (items.length === 1) bad("(n) is an int, not a tuple; write (n,)");
      break;
    }
    return items;
  };
  const value = (): PyValue => {
    if (eat("True")) return true;
    if (eat("False")) return false;
    if (eat("(")) return tuple();
    return str();
  };

  const dict: Record<string, PyValue> = Object.create(null);
  if (!eat("{")) bad("expected '{'");
  while (!eat("}")) {
    const key = str();
    if (key in dict) bad(`duplicate key '${key}'`);
    if (!eat(":")) bad("expected ':'");
    dict[key] = value();
    if (eat(",")) continue;
    if (!eat("}")) bad("expected ',' or '}'");
    break;
  }
  ws();
  if (pos !== text.length) bad("trailing characters after the dict");
  return dict;
}
