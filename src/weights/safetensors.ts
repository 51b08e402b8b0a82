// The safetensors format: an 8-byte little-endian u64 header length N, N bytes of JSON header
// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {key: string}}`, then the
// data buffer; offsets are relative to the buffer start. The reader validates everything before
// it decodes anything: the tensors must tile the buffer exactly, so a file cannot hide bytes,
// alias tensors or be misread.

import { type ByteSource, MAX_HEADER_BYTES, memorySource, readBytes, readElements } from "./source.js";
import { type ElemKind, ITEMSIZE, type TensorData, encodeLE, fail, isShape, kindOf, shapeStr } from "./tensor.js";

/** Every dtype the format defines; only those in SUPPORTED can be read. */
const KNOWN_DTYPES = new Set(
  "BOOL U8 I8 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64 C64 F4 F6_E2M3 F6_E3M2 F8_E5M2 F8_E4M3 F8_E8M0".split(" "),
);

const SUPPORTED = { F16: "f16", BF16: "bf16", F32: "f32", F64: "f64", I32: "i32", I64: "i64" } as const;

export type SafetensorsDType = keyof typeof SUPPORTED;

export interface SafeTensor {
  /** The dtype stored in the file; F16/BF16/F64 data is converted to a Float32Array. */
  dtype: SafetensorsDType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: TensorData;
}

const DTYPE_OF = { f32: "F32", i32: "I32", i64: "I64" } as const;

export function readSafetensors(bytes: Uint8Array, file = "<bytes>"): Map<string, SafeTensor> {
  return parseSafetensors(bytes, file).tensors;
}

/** Like readSafetensors, also returning the `__metadata__` map. */
export function parseSafetensors(bytes: Uint8Array, file = "<bytes>"): SafetensorsFile {
  return readAll(indexSafetensors(memorySource(bytes, file)));
}

/**
 * A checked header: what the file holds, each tensor's data read, at its offset, only when asked
 * for (on a file source: any size loads, never as one Buffer).
 */
export interface SafetensorsIndex {
  /** In file order. */
  tensors: Map<string, { dtype: SafetensorsDType; shape: number[]; read(): TensorData }>;
  metadata: Record<string, string>;
}

/** Reads and checks the header (nothing else): every malformed layout fails here, before any data is read. */
export function indexSafetensors(source: ByteSource): SafetensorsIndex {
  const { name: file, size } = source;
  if (size < 8) fail("truncated", file, `${size} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(readBytes(source, 0, 8).buffer).getBigUint64(0, true);
  if (headerLen > BigInt(size - 8)) {
    fail("header_out_of_range", file, `header length ${headerLen} exceeds the ${size - 8} bytes after it`);
  }
  if (headerLen > MAX_HEADER_BYTES) {
    fail("header_out_of_range", file, `header length ${headerLen} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const start = 8 + Number(headerLen);
  const header = parseHeader(readBytes(source, 8, Number(headerLen)), file);
  const bufferLen = size - start;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") metadata = checkMetadata(entry, file);
    else entries.push(checkEntry(name, entry, bufferLen, file));
  }

  // Sorted by position, each tensor must start exactly where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev = "";
  for (const e of entries) {
    if (e.begin < pos) fail("offsets_overlap", file, `bytes [${e.begin}, ${e.end}] overlap tensor "${prev}"`, e.name);
    if (e.begin > pos) {
      fail("offsets_gap", file, `bytes [${pos}, ${e.begin}] of the buffer belong to no tensor`, e.name);
    }
    pos = e.end;
    prev = e.name;
  }
  if (pos !== bufferLen) {
    fail("offsets_gap", file, `bytes [${pos}, ${bufferLen}] at the end of the buffer belong to no tensor`);
  }

  const tensors: SafetensorsIndex["tensors"] = new Map();
  for (const e of entries) {
    const count = (e.end - e.begin) / ITEMSIZE[e.kind];
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, read: () => readElements(source, e.kind, start + e.begin, count) });
  }
  return { tensors, metadata };
}

function readAll({ tensors, metadata }: SafetensorsIndex): SafetensorsFile {
  const read = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) read.set(name, { dtype: t.dtype, shape: t.shape, data: t.read() });
  return { tensors: read, metadata };
}

interface Entry {
  name: string;
  kind: ElemKind;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

function checkEntry(name: string, entry: unknown, bufferLen: number, file: string): Entry {
  if (!isObject(entry)) fail("invalid_entry", file, "entry is not an object", name);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== "string") fail("invalid_entry", file, "missing or non-string dtype", name);
  if (!KNOWN_DTYPES.has(dtype)) fail("unknown_dtype", file, `unknown dtype ${JSON.stringify(dtype)}`, name);
  if (!(dtype in SUPPORTED)) fail("unsupported_dtype", file, `unsupported dtype ${dtype}`, name);
  if (!Array.isArray(shape)) fail("invalid_entry", file, "missing or non-array shape", name);
  if (!isShape(shape)) {
    fail("invalid_shape", file, `shape ${JSON.stringify(shape)} has a negative or non-integer dim`, name);
  }
  const valid = (o: unknown) => Number.isSafeInteger(o) && (o as number) >= 0;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(valid) || offsets[0] > offsets[1]) {
    const got = JSON.stringify(offsets);
    fail("invalid_entry", file, `data_offsets ${got} is not [begin, end] with 0 <= begin <= end`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (end > bufferLen) {
    fail("offsets_out_of_range", file, `data_offsets [${begin}, ${end}] beyond the ${bufferLen}-byte buffer`, name);
  }
  const kind = SUPPORTED[dtype as SafetensorsDType];
  const expected = shape.reduce((n, d) => n * d, ITEMSIZE[kind]);
  if (end - begin !== expected) {
    fail("size_mismatch", file, `${end - begin} bytes but ${dtype}${shapeStr(shape)} needs ${expected}`, name);
  }
  return { name, kind, dtype: dtype as SafetensorsDType, shape, begin, end };
}

function parseHeader(raw: Uint8Array, file: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (e) {
    fail("invalid_header", file, `header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isObject(header)) fail("invalid_header", file, "header is not a JSON object");
  return header;
}

function checkMetadata(meta: unknown, file: string): Record<string, string> {
  if (!isObject(meta) || !Object.values(meta).every((v) => typeof v === "string")) {
    fail("invalid_metadata", file, "__metadata__ is not an object of strings");
  }
  return meta as Record<string, string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Serialises tensors as F32/I32/I64 (by array type), sorted by name, with the header padded with
 * spaces so the data buffer starts 8-byte aligned.
 */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const file = "<writeSafetensors>";
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Null prototype: a tensor may be called "__proto__" or "constructor".
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) header.__metadata__ = checkMetadata(metadata, file);
  let offset = 0;
  for (const t of sorted) {
    if (t.name === "__metadata__") fail("invalid_entry", file, "the name is reserved", t.name);
    if (Object.hasOwn(header, t.name)) fail("duplicate_name", file, "name appears twice", t.name);
    if (!isShape(t.shape)) {
      fail("invalid_shape", file, `shape ${JSON.stringify(t.shape)} has a negative or non-integer dim`, t.name);
    }
    const numel = t.shape.reduce((n, d) => n * d, 1);
    if (numel !== t.data.length) {
      fail("size_mismatch", file, `${t.data.length} elements but shape ${shapeStr(t.shape)} has ${numel}`, t.name);
    }
    header[t.name] = {
      dtype: DTYPE_OF[kindOf(t.data)],
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const t of sorted) {
    encodeLE(t.data, out, pos);
    pos += t.data.byteLength;
  }
  return out;
}
