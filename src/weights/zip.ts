// A small zip reader for the archives torch.save writes (PKWARE APPNOTE 6.3): the end of central
// directory record (zip64 when a size or offset needs it), then the central directory; each
// entry's data is found through its local header. Stored entries (method 0, all torch.save
// writes) are read in place, piece by piece, so an archive of any size loads; deflated entries
// (method 8, from archives re-zipped by other tools) are inflated in memory to their declared size.
// Every offset and size is checked against the file before it is used.

import { inflateRawSync } from "node:zlib";
import { type ByteSource, memorySource, readBytes } from "./source.js";
import { fail } from "./tensor.js";

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** The entry's bytes as a source (read on demand for stored entries). */
  open(): ByteSource;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_BYTES = 22;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
/** The end record sits in the last 22 bytes plus a comment of at most 65535. */
const MAX_TAIL = EOCD_BYTES + 0xffff;
const STORED = 0;
const DEFLATED = 8;

/** The entries of the zip archive in `source`, by name; every malformed layout fails here. */
export function indexZip(source: ByteSource): Map<string, ZipEntry> {
  const file = source.name;
  const { count, cdOffset, cdSize } = endRecord(source);
  if (cdOffset + cdSize > source.size) fail("invalid_zip", file, `the central directory [${cdOffset}, ${cdOffset + cdSize}] lies beyond the ${source.size}-byte file`);
  const cd = view(readBytes(source, cdOffset, cdSize));
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_BYTES > cdSize || cd.getUint32(at, true) !== CENTRAL_SIG) fail("invalid_zip", file, `central directory entry ${i} of ${count} is missing or damaged`);
    const flags = cd.getUint16(at + 8, true);
    const method = cd.getUint16(at + 10, true);
    let compressed = cd.getUint32(at + 20, true);
    let size = cd.getUint32(at + 24, true);
    const nameLen = cd.getUint16(at + 28, true);
    const extraLen = cd.getUint16(at + 30, true);
    const commentLen = cd.getUint16(at + 32, true);
    let local = cd.getUint32(at + 42, true);
    const end = at + CENTRAL_BYTES + nameLen + extraLen + commentLen;
    if (end > cdSize) fail("invalid_zip", file, `central directory entry ${i} runs past the directory's end`);
    const name = utf8(cd, at + CENTRAL_BYTES, nameLen, file);
    // Zip64: the sizes and offset that do not fit 32 bits are in extra field 0x0001, in this order.
    const wide = readZip64Extra(cd, at + CENTRAL_BYTES + nameLen, extraLen);
    const next = (what: string) => {
      const v = wide.shift();
      if (v === undefined) fail("invalid_zip", file, `entry "${name}": the ${what} is in a zip64 field the entry lacks`);
      return v;
    };
    if (size === 0xffffffff) size = next("size");
    if (compressed === 0xffffffff) compressed = next("compressed size");
    if (local === 0xffffffff) local = next("local header offset");
    at = end;

    if (entries.has(name)) fail("invalid_zip", file, `entry "${name}" appears twice`);
    if (flags & 1) fail("invalid_zip", file, `entry "${name}" is encrypted`);
    if (method !== STORED && method !== DEFLATED) fail("unsupported_compression", file, `entry "${name}" uses compression method ${method}; only stored (0) and deflated (8) entries are read`);
    if (method === STORED && compressed !== size) fail("invalid_zip", file, `entry "${name}" is stored but its sizes differ (${compressed} and ${size} bytes)`);
    const start = dataStart(source, local, name);
    if (start + compressed > cdOffset) fail("invalid_zip", file, `entry "${name}": its ${compressed} bytes at ${start} run into the central directory at ${cdOffset}`);
    entries.set(name, {
      name,
      size,
      open: () => (method === STORED ? slice(source, start, size) : inflated(source, start, compressed, size, name)),
    });
  }
  return entries;
}

function endRecord(source: ByteSource): { count: number; cdOffset: number; cdSize: number } {
  const file = source.name;
  const tailLen = Math.min(source.size, MAX_TAIL);
  const tail = readBytes(source, source.size - tailLen, tailLen);
  const t = view(tail);
  let eocd = -1;
  // The comment may itself contain the signature: the record is the last one whose comment ends the file.
  for (let i = tailLen - EOCD_BYTES; i >= 0; i--) {
    if (t.getUint32(i, true) === EOCD_SIG && i + EOCD_BYTES + t.getUint16(i + 20, true) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail("invalid_zip", file, "no end of central directory record: not a zip archive, or truncated");
  if (t.getUint16(eocd + 4, true) !== 0 || t.getUint16(eocd + 6, true) !== 0) fail("invalid_zip", file, "a multi-disk archive");
  let count = t.getUint16(eocd + 10, true);
  let cdSize = t.getUint32(eocd + 12, true);
  let cdOffset = t.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locatorAt = source.size - tailLen + eocd - 20;
    if (locatorAt < 0) fail("invalid_zip", file, "the zip64 end record locator is missing");
    const locator = view(readBytes(source, locatorAt, 20));
    if (locator.getUint32(0, true) !== ZIP64_LOCATOR_SIG) fail("invalid_zip", file, "the zip64 end record locator is missing");
    const at = safe(locator.getBigUint64(8, true), "zip64 end record offset", file);
    if (at + 56 > locatorAt) fail("invalid_zip", file, `the zip64 end record at ${at} lies beyond its locator`);
    const z = view(readBytes(source, at, 56));
    if (z.getUint32(0, true) !== ZIP64_EOCD_SIG) fail("invalid_zip", file, `no zip64 end record at ${at}`);
    count = safe(z.getBigUint64(32, true), "entry count", file);
    cdSize = safe(z.getBigUint64(40, true), "central directory size", file);
    cdOffset = safe(z.getBigUint64(48, true), "central directory offset", file);
  }
  // Each entry takes at least 46 bytes: a count the directory cannot hold is a lie, caught before looping.
  if (count * CENTRAL_BYTES > cdSize) fail("invalid_zip", file, `${count} entries cannot fit a ${cdSize}-byte central directory`);
  return { count, cdOffset, cdSize };
}

/** Where an entry's data begins: after its local header, whose name must match the directory's. */
function dataStart(source: ByteSource, local: number, name: string): number {
  const file = source.name;
  if (local + LOCAL_BYTES > source.size) fail("invalid_zip", file, `entry "${name}": its local header at ${local} lies beyond the ${source.size}-byte file`);
  const h = view(readBytes(source, local, LOCAL_BYTES));
  if (h.getUint32(0, true) !== LOCAL_SIG) fail("invalid_zip", file, `entry "${name}": no local header at ${local}`);
  const nameLen = h.getUint16(26, true);
  const extraLen = h.getUint16(28, true);
  if (local + LOCAL_BYTES + nameLen + extraLen > source.size) fail("invalid_zip", file, `entry "${name}": its local header runs past the file's end`);
  const localName = utf8(view(readBytes(source, local + LOCAL_BYTES, nameLen)), 0, nameLen, file);
  if (localName !== name) fail("invalid_zip", file, `entry "${name}": its local header names "${localName}"`);
  return local + LOCAL_BYTES + nameLen + extraLen;
}

function readZip64Extra(d: DataView, at: number, length: number): number[] {
  for (let p = at; p + 4 <= at + length; ) {
    const id = d.getUint16(p, true);
    const size = d.getUint16(p + 2, true);
    if (id === 1) {
      const values: number[] = [];
      for (let q = p + 4; q + 8 <= Math.min(p + 4 + size, at + length); q += 8) values.push(Number(d.getBigUint64(q, true)));
      return values;
    }
    p += 4 + size;
  }
  return [];
}

function slice(source: ByteSource, start: number, size: number): ByteSource {
  return { name: source.name, size, readInto: (into, position) => source.readInto(into, start + position) };
}

function inflated(source: ByteSource, start: number, compressed: number, size: number, name: string): ByteSource {
  let bytes: Uint8Array;
  try {
    bytes = inflateRawSync(readBytes(source, start, compressed), { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    fail("invalid_zip", source.name, `entry "${name}" does not inflate to its declared ${size} bytes: ${(e as Error).message}`);
  }
  if (bytes.length !== size) fail("invalid_zip", source.name, `entry "${name}" inflates to ${bytes.length} bytes, not its declared ${size}`);
  return memorySource(bytes, source.name);
}

function safe(v: bigint, what: string, file: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail("invalid_zip", file, `the ${what} ${v} is out of range`);
  return Number(v);
}

function utf8(d: DataView, at: number, length: number, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(d.buffer, d.byteOffset + at, length));
  } catch {
    fail("invalid_zip", file, "an entry name is not valid UTF-8");
  }
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
