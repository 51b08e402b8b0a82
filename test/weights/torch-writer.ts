// A writer of PyTorch checkpoints byte for byte as torch.save writes them (there is no PyTorch on
// this machine), following torch/serialization.py `_save` and Python's pickle protocol 2:
//   * data.pkl: `\x80\x02`, then the object as pickle.Pickler(protocol=2) writes it: a dict is
//     EMPTY_DICT BINPUT, its items by SETITEM (one) or MARK ... SETITEMS; an OrderedDict is
//     GLOBAL collections.OrderedDict, EMPTY_TUPLE, REDUCE, BINPUT, its items, then its
//     `_metadata` state (a dict) and BUILD; strings BINUNICODE + BINPUT, repeated strings and
//     globals BINGET; ints BININT1/BININT2/BININT/LONG1 by size; tuples of 1-3 TUPLE1-3, longer
//     MARK ... TUPLE. A tensor is torch._utils._rebuild_tensor_v2(pid, offset, size, stride,
//     False, OrderedDict()) where pid = BINPERSID of ("storage", torch.<T>Storage, key, "cpu",
//     numel); a parameter wraps it in torch._utils._rebuild_parameter(tensor, True, OrderedDict()).
//   * The zip, as PyTorchStreamWriter (miniz) writes it: records NAME/data.pkl,
//     NAME/.format_version, NAME/.storage_alignment, NAME/byteorder, NAME/data/<key> for each
//     storage, NAME/version, NAME/.data/serialization_id; each stored (method 0) with its CRC-32,
//     the local header's extra field "FB" padding the data to a 64-byte boundary; then the
//     central directory and the end record (optionally zip64 records, as miniz writes past 4 GiB).
// With `protocol: 4` (torch.save(..., pickle_protocol=4)) the pickle is as protocol 4 writes it:
// one FRAME after PROTO, strings SHORT_BINUNICODE, memo entries MEMOIZE, globals STACK_GLOBAL.
// Knobs let the hostile tests write what torch.save never would.

import { deflateRawSync } from "node:zlib";

export type StorageType = "FloatStorage" | "HalfStorage" | "BFloat16Storage" | "DoubleStorage" | "LongStorage" | "IntStorage" | "ByteStorage";

export interface StorageSpec {
  key: string;
  type: StorageType;
  /** Raw little-endian element bytes. */
  bytes: Uint8Array;
  /** The numel written in the persistent id (default: bytes / itemsize). */
  numel?: number;
}

/** The pickled values the writer knows. */
export type PyValue =
  | string
  | number
  | boolean
  | null
  | PyValue[]
  | { tuple: PyValue[] }
  | { dict: [string | number, PyValue][]; ordered?: boolean }
  | { tensor: { storage: StorageSpec; offset?: number; size: number[]; stride?: number[]; parameter?: boolean } }
  | { raw: Uint8Array };

const ITEMSIZE: Record<StorageType, number> = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8, IntStorage: 4, ByteStorage: 1 };

/** Row-major strides of `size`. */
function contiguous(size: number[]): number[] {
  const out = new Array<number>(size.length);
  for (let i = size.length - 1, s = 1; i >= 0; i--) {
    out[i] = s;
    s *= size[i];
  }
  return out;
}

export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

class Pickler {
  private out: number[] = [];
  private memo = new Map<string, number>();
  readonly storages = new Map<string, StorageSpec>();
  constructor(private readonly protocol: 2 | 4) {}

  dump(v: PyValue): Uint8Array {
    this.save(v);
    this.out.push(0x2e);
    const body = this.out;
    return Uint8Array.from(this.protocol === 2 ? [0x80, 2, ...body] : [0x80, 4, 0x95, ...u64(body.length), ...body]);
  }

  private put(key?: string): void {
    const id = this.memo.size;
    if (key !== undefined) this.memo.set(key, id);
    else this.memo.set(`#${id}`, id);
    if (this.protocol === 4) this.out.push(0x94);
    else if (id < 256) this.out.push(0x71, id);
    else this.out.push(0x72, ...u32(id));
  }

  private memoized(key: string): boolean {
    const id = this.memo.get(key);
    if (id === undefined) return false;
    if (id < 256) this.out.push(0x68, id);
    else this.out.push(0x6a, ...u32(id));
    return true;
  }

  private str(s: string): void {
    if (this.memoized(`s:${s}`)) return;
    const b = new TextEncoder().encode(s);
    if (this.protocol === 4 && b.length < 256) this.out.push(0x8c, b.length, ...b);
    else this.out.push(0x58, ...u32(b.length), ...b);
    this.put(`s:${s}`);
  }

  global(module: string, name: string): void {
    if (this.memoized(`g:${module}.${name}`)) return;
    if (this.protocol === 4) {
      this.str(module);
      this.str(name);
      this.out.push(0x93);
    } else this.out.push(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
    this.put(`g:${module}.${name}`);
  }

  private int(n: number): void {
    if (n >= 0 && n < 256) this.out.push(0x4b, n);
    else if (n >= 0 && n < 65536) this.out.push(0x4d, n & 0xff, n >> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) this.out.push(0x4a, ...u32(n >>> 0));
    else {
      const bytes: number[] = [];
      let v = BigInt(n);
      do {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      } while (!(v === 0n && (bytes[bytes.length - 1] & 0x80) === 0) && !(v === -1n && (bytes[bytes.length - 1] & 0x80) !== 0));
      this.out.push(0x8a, bytes.length, ...bytes);
    }
  }

  private tuple(items: (() => void)[]): void {
    if (items.length === 0) return void this.out.push(0x29);
    if (items.length > 3) this.out.push(0x28);
    for (const f of items) f();
    this.out.push(items.length > 3 ? 0x74 : 0x84 + items.length);
    this.put();
  }

  private emptyOrderedDict(): void {
    this.global("collections", "OrderedDict");
    this.out.push(0x29, 0x52);
    this.put();
  }

  private items(entries: [string | number, PyValue][]): void {
    if (entries.length === 0) return;
    if (entries.length > 1) this.out.push(0x28);
    for (const [k, v] of entries) {
      if (typeof k === "string") this.str(k);
      else this.int(k);
      this.save(v);
    }
    this.out.push(entries.length > 1 ? 0x75 : 0x73);
  }

  save(v: PyValue): void {
    if (v === null) this.out.push(0x4e);
    else if (v === true) this.out.push(0x88);
    else if (v === false) this.out.push(0x89);
    else if (typeof v === "string") this.str(v);
    else if (typeof v === "number") {
      if (Number.isInteger(v)) this.int(v);
      else {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v, false);
        this.out.push(0x47, ...b);
      }
    } else if (Array.isArray(v)) {
      this.out.push(0x5d);
      this.put();
      if (v.length > 0) {
        this.out.push(0x28);
        for (const x of v) this.save(x);
        this.out.push(0x65);
      }
    } else if ("raw" in v) this.out.push(...v.raw);
    else if ("tuple" in v) this.tuple(v.tuple.map((x) => () => this.save(x)));
    else if ("dict" in v) {
      if (v.ordered) {
        this.emptyOrderedDict();
        this.items(v.dict);
        // state_dict()'s `_metadata` attribute: OrderedDict's __reduce__ pickles it as BUILD state.
        this.out.push(0x7d);
        this.put();
        this.str("_metadata");
        this.emptyOrderedDict();
        this.str("");
        this.out.push(0x7d);
        this.put();
        this.str("version");
        this.int(1);
        this.out.push(0x73, 0x73, 0x73, 0x62);
      } else {
        this.out.push(0x7d);
        this.put();
        this.items(v.dict);
      }
    } else this.tensor(v.tensor);
  }

  private tensor(t: { storage: StorageSpec; offset?: number; size: number[]; stride?: number[]; parameter?: boolean }): void {
    if (t.parameter) this.global("torch._utils", "_rebuild_parameter");
    this.global("torch._utils", "_rebuild_tensor_v2");
    const s = t.storage;
    this.storages.set(s.key, s);
    this.tuple([
      () => {
        this.tuple([() => this.str("storage"), () => this.global("torch", s.type), () => this.str(s.key), () => this.str("cpu"), () => this.int(s.numel ?? s.bytes.length / ITEMSIZE[s.type])]);
        this.out.push(0x51);
      },
      () => this.int(t.offset ?? 0),
      () => this.tuple(t.size.map((d) => () => this.int(d))),
      () => this.tuple((t.stride ?? contiguous(t.size)).map((d) => () => this.int(d))),
      () => this.out.push(0x89),
      () => this.emptyOrderedDict(),
    ]);
    this.out.push(0x52);
    this.put();
    if (t.parameter) {
      this.out.push(0x88);
      this.emptyOrderedDict();
      this.out.push(0x87, 0x52);
      this.put();
    }
  }
}

/** The data.pkl bytes of `obj`, and the storages it references. */
export function picklePy(obj: PyValue, protocol: 2 | 4 = 2): { pkl: Uint8Array; storages: StorageSpec[] } {
  const p = new Pickler(protocol);
  const pkl = p.dump(obj);
  return { pkl, storages: [...p.storages.values()].sort((a, b) => Number(a.key) - Number(b.key)) };
}

export interface ZipRecord {
  name: string;
  data: Uint8Array;
  /** 8: deflate the record (as a re-zipping tool would); any other number is written as the method as is. */
  method?: number;
}

export interface TorchSaveOptions {
  /** The archive folder (torch.save uses the file's stem). */
  archive?: string;
  byteorder?: string;
  zip64?: boolean;
  /** torch.save's pickle_protocol (default 2, torch's DEFAULT_PROTOCOL). */
  protocol?: 2 | 4;
  /** Rewrites the records before zipping (hostile tests). */
  edit?: (records: ZipRecord[]) => ZipRecord[];
}

/** A .pth file's bytes for `obj`, as torch.save(obj, "NAME.pth") writes it. */
export function torchSave(obj: PyValue, options: TorchSaveOptions = {}): Uint8Array {
  const name = options.archive ?? "archive";
  const { pkl, storages } = picklePy(obj, options.protocol);
  const text = (s: string) => new TextEncoder().encode(s);
  let records: ZipRecord[] = [
    { name: `${name}/data.pkl`, data: pkl },
    { name: `${name}/.format_version`, data: text("1") },
    { name: `${name}/.storage_alignment`, data: text("64") },
    { name: `${name}/byteorder`, data: text(options.byteorder ?? "little") },
    ...storages.map((s) => ({ name: `${name}/data/${s.key}`, data: s.bytes })),
    { name: `${name}/version`, data: text("3\n") },
    { name: `${name}/.data/serialization_id`, data: text("1234567890123456789012345678901234567890") },
  ];
  if (options.edit) records = options.edit(records);
  return writeZip(records, options.zip64 === true);
}

/** A zip archive as miniz writes it for PyTorch: 64-byte aligned stored data, CRC-32s, central directory, end record. */
export function writeZip(records: ZipRecord[], zip64 = false): Uint8Array {
  const parts: number[] = [];
  const central: number[] = [];
  for (const r of records) {
    const name = new TextEncoder().encode(r.name);
    const method = r.method ?? 0;
    const stored = method === 8 ? deflateRawSync(r.data) : r.data;
    const offset = parts.length;
    const headerEnd = offset + 30 + name.length + 4;
    const pad = (64 - (headerEnd % 64)) % 64;
    const extra = [0x46, 0x42, ...u16(pad), ...new Array<number>(pad).fill(0x5a)];
    const crc = crc32(r.data);
    parts.push(...u32(0x04034b50), ...u16(20), ...u16(0), ...u16(method), ...u16(0), ...u16(0x21), ...u32(crc), ...u32(stored.length), ...u32(r.data.length), ...u16(name.length), ...u16(extra.length), ...name, ...extra);
    for (const b of stored) parts.push(b);
    central.push(...u32(0x02014b50), ...u16(zip64 ? 45 : 20), ...u16(zip64 ? 45 : 20), ...u16(0), ...u16(method), ...u16(0), ...u16(0x21), ...u32(crc));
    if (zip64) {
      central.push(...u32(0xffffffff), ...u32(0xffffffff), ...u16(name.length), ...u16(28), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(0xffffffff), ...name);
      central.push(...u16(1), ...u16(24), ...u64(r.data.length), ...u64(stored.length), ...u64(offset));
    } else {
      central.push(...u32(stored.length), ...u32(r.data.length), ...u16(name.length), ...u16(0), ...u16(0), ...u16(0), ...u16(0), ...u32(0), ...u32(offset), ...name);
    }
  }
  const cdOffset = parts.length;
  parts.push(...central);
  if (zip64) {
    const z64 = parts.length;
    parts.push(...u32(0x06064b50), ...u64(44), ...u16(45), ...u16(45), ...u32(0), ...u32(0), ...u64(records.length), ...u64(records.length), ...u64(central.length), ...u64(cdOffset));
    parts.push(...u32(0x07064b50), ...u32(0), ...u64(z64), ...u32(1));
    parts.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(0xffff), ...u16(0xffff), ...u32(0xffffffff), ...u32(0xffffffff), ...u16(0));
  } else {
    parts.push(...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(records.length), ...u16(records.length), ...u32(central.length), ...u32(cdOffset), ...u16(0));
  }
  return Uint8Array.from(parts);
}

function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
function u64(v: number): number[] {
  return [...u32(v >>> 0), ...u32(Math.floor(v / 2 ** 32))];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
