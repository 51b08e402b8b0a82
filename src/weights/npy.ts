// NumPy .npy files (format versions 1.0, 2.0 and 3.0) and raw little-endian .bin tensors.
// An .npy file is "\x93NUMPY", a major and minor version byte, the header length (u16 LE for
// 1.0, u32 LE for 2.0 and 3.0), a Python dict literal such as
// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by a
// newline, then the data. Only little-endian C-order arrays of <f2, <f4, <f8, <i4, <i8 are read;
// <f2 widens and <f8 narrows to f32.

import {
  type ElemKind,
  ITEMSIZE,
  type TensorData,
  decodeLE,
  encodeLE,
  fail,
  isShape,
  kindOf,
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
  if (bytes.length < 10) fail("truncated", file, `${bytes.length} bytes, too short for an .npy preamble`);
  if (MAGIC.some((b, i) => bytes[i] !== b)) fail("bad_magic", file, "not an .npy file (no \\x93NUMPY magic)");
  const [major, minor] = [bytes[6]!, bytes[7]!];
  if (minor !== 0 || major < 1 || major > 3) {
    fail("unsupported_version", file, `unsupported .npy format version ${major}.${minor}`);
  }
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) {
    fail("truncated", file, `${bytes.length} bytes, too short for an .npy ${major}.0 preamble`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    fail(
      "header_out_of_range",
      file,
      `header length ${headerLen} exceeds the ${bytes.length - headerStart} bytes after it`,
    );
  }

  // Version 3.0 allows UTF-8 in the header, but only ASCII matters to the keys read here.
  const header = parseDict(new TextDecoder("latin1").decode(bytes.subarray(headerStart, dataStart)), file);
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
  return { dtype: memKind(kind), shape, data: decodeExact(kind, shape, bytes, dataStart, file) };
}

/** A raw little-endian tensor file whose dtype and shape are known from elsewhere. */
export function readRawTensor(
  bytes: Uint8Array,
  dtype: "f32" | "i32" | "i64",
  shape: number[],
  file = "<bytes>",
): Tensor {
  if (!isShape(shape)) fail("invalid_shape", file, `shape ${JSON.stringify(shape)} has a negative or non-integer dim`);
  return { dtype, shape, data: decodeExact(dtype, shape, bytes, 0, file) };
}

function decodeExact(kind: ElemKind, shape: number[], bytes: Uint8Array, start: number, file: string): TensorData {
  const numel = shape.reduce((n, d) => n * d, 1);
  const need = numel * ITEMSIZE[kind];
  if (bytes.length - start !== need) {
    fail("size_mismatch", file, `${bytes.length - start} data bytes but ${kind}${shapeStr(shape)} needs ${need}`);
  }
  return decodeLE(kind, bytes, start, numel);
}

function memKind(kind: ElemKind): Tensor["dtype"] {
  return kind === "i32" || kind === "i64" ? kind : "f32";
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
