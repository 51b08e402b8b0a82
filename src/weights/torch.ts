// PyTorch checkpoints in the zip format torch.save writes (PyTorch >= 1.6, torch/serialization.py
// `_save`): an archive whose records all sit under one folder NAME/:
//   NAME/data.pkl            the pickled object; each tensor is
//                            torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
//                            requires_grad, backward_hooks[, metadata]) (a Parameter wraps it in
//                            torch._utils._rebuild_parameter(tensor, requires_grad, hooks)), and
//                            each storage a persistent id ("storage", torch.<Type>Storage, key,
//                            location, numel)
//   NAME/.format_version, NAME/.storage_alignment, NAME/byteorder ("little" or "big")
//   NAME/data/<key>          each storage's raw elements, numel * itemsize bytes
//   NAME/version, NAME/.data/serialization_id
// The pickle is read by a restricted unpickler that knows only these records (pickle.ts): any
// other global (a pickled nn.Module, numpy, builtins.eval) is an error naming it, never code run.
// The state dict is the top-level dict, or the dict under "state_dict" / "model" /
// "model_state_dict". Tensors may be strided views at any offset of a shared storage; only the
// tensors the model binds are read. float64 storages are narrowed to f32 with a warning, like
// safetensors' F64.

import { type ByteSource, MAX_HEADER_BYTES, allocate, readBytes, readElements } from "./source.js";
import { type ElemKind, ITEMSIZE, type TensorData, fail, memKind, shapeStr } from "./tensor.js";
import { PickleDict, PickleGlobal, type PickleTuple, describe, unpickle } from "./pickle.js";
import { indexZip, type ZipEntry } from "./zip.js";
import type { TensorSource } from "./bind.js";

const STORAGE_KINDS: Record<string, ElemKind> = {
  FloatStorage: "f32",
  HalfStorage: "f16",
  BFloat16Storage: "bf16",
  DoubleStorage: "f64",
  IntStorage: "i32",
  LongStorage: "i64",
};

/** Storage types torch defines that no graphc weight can hold: named in the error, not "unknown". */
const UNSUPPORTED_STORAGES = new Set(["ByteStorage", "CharStorage", "ShortStorage", "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage"]);

const REBUILDERS = new Set(["_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter"]);

/** Keys under which training scripts commonly save the state dict, tried in order. */
export const STATE_DICT_KEYS = ["state_dict", "model", "model_state_dict"];

/** The first bytes of a legacy (pre-1.6, `_use_new_zipfile_serialization=False`) torch.save file: LONG1 of the magic 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

class Storage {
  constructor(
    readonly kind: ElemKind,
    readonly numel: number,
    readonly entry: ZipEntry,
  ) {}
}

export class TorchTensor implements TensorSource {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get kind(): ElemKind {
    return this.storage.kind;
  }
  read(): TensorData {
    return readStrided(this.storage.entry.open(), this.kind, this.offset, this.shape, this.stride);
  }
}

export interface TorchIndex {
  tensors: Map<string, TorchTensor>;
  warnings: string[];
}

export function isLegacyTorch(head: Uint8Array): boolean {
  return LEGACY_MAGIC.every((b, i) => head[i] === b);
}

/** The state dict of the torch.save archive in `source`: names, shapes and strides checked, no tensor data read. */
export function indexTorch(source: ByteSource): TorchIndex {
  const file = source.name;
  if (isLegacyTorch(readBytes(source, 0, Math.min(source.size, LEGACY_MAGIC.length))))
    fail("legacy_format", file, "is a legacy torch.save file (PyTorch < 1.6 or _use_new_zipfile_serialization=False); re-save it with torch.save in the zip format, or export safetensors");
  const entries = indexZip(source);
  const pickles = [...entries.keys()].filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
  if (pickles.length !== 1) fail("invalid_torch", file, pickles.length === 0 ? "a zip archive with no data.pkl record: not a torch.save checkpoint" : `${pickles.length} data.pkl records (${pickles.join(", ")})`);
  const prefix = pickles[0].slice(0, -"data.pkl".length);
  if (entries.has(`${prefix}constants.pkl`)) fail("invalid_torch", file, "is a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save instead");

  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(readBytes(byteorder.open(), 0, Math.min(byteorder.size, 16)));
    if (order !== "little") fail("big_endian", file, `the byteorder record says "${order}"; only little-endian checkpoints are read`);
  }

  const pkl = entries.get(pickles[0])!;
  if (pkl.size > MAX_HEADER_BYTES) fail("invalid_pickle", file, `data.pkl is ${pkl.size} bytes, over the limit of ${MAX_HEADER_BYTES}`);
  const storages = new Map<string, Storage>();
  const root = unpickle(readBytes(pkl.open(), 0, pkl.size), {
    file,
    allowGlobal: (module, name) =>
      (module === "torch._utils" && REBUILDERS.has(name)) || (module === "collections" && name === "OrderedDict") || (module === "torch" && (name in STORAGE_KINDS || UNSUPPORTED_STORAGES.has(name))),
    call: (fn, args) => rebuild(fn, args, file),
    persistentLoad: (id) => storage(id, storages, entries, prefix, file),
  });
  return stateDict(root, file);
}

function storage(id: unknown, storages: Map<string, Storage>, entries: Map<string, ZipEntry>, prefix: string, file: string): Storage {
  const record = Array.isArray(id) ? (id as unknown[]) : [];
  const [tag, type, key, , numel] = record;
  if (record.length !== 5 || tag !== "storage" || typeof key !== "string" || !Number.isSafeInteger(numel) || (numel as number) < 0 || !(type instanceof PickleGlobal))
    fail("invalid_torch", file, `a persistent id ${describe(id)} is not a ("storage", type, key, location, numel) record`);
  const typeName = (type as PickleGlobal).name;
  const kind = STORAGE_KINDS[typeName];
  if (kind === undefined) fail("unsupported_dtype", file, `storage ${key} is a torch.${typeName}; f32, f16, bf16, f64, i32 and i64 storages are read`);
  const known = storages.get(key as string);
  if (known) {
    if (known.kind !== kind || known.numel !== numel) fail("invalid_torch", file, `storage ${key} is declared twice, differently`);
    return known;
  }
  const entry = entries.get(`${prefix}data/${key}`);
  if (!entry) fail("invalid_torch", file, `storage ${key} has no record ${prefix}data/${key}`);
  const bytes = (numel as number) * ITEMSIZE[kind];
  if (entry.size !== bytes) fail("size_mismatch", file, `storage ${key} holds ${entry.size} bytes but ${numel} ${kind} elements need ${bytes}`);
  const s = new Storage(kind, numel as number, entry);
  storages.set(key as string, s);
  return s;
}

function rebuild(fn: PickleGlobal, args: PickleTuple, file: string): unknown {
  if (fn.module === "collections") {
    // OrderedDict(): the items follow as SETITEMS
    if (args.length !== 0) fail("forbidden_pickle", file, `the pickle calls collections.OrderedDict with ${args.length} argument(s); only tensor records are read`);
    return new PickleDict();
  }
  if (fn.module !== "torch._utils") fail("forbidden_pickle", file, `the pickle calls ${fn.qualified}; only tensor records are read`);
  if (fn.name === "_rebuild_parameter") {
    if (!(args[0] instanceof TorchTensor)) fail("invalid_torch", file, `_rebuild_parameter of ${describe(args[0])}, not a tensor`);
    return args[0];
  }
  // _rebuild_tensor(storage, offset, size, stride) and _v2's (..., requires_grad, hooks[, metadata])
  const [s, offset, size, stride] = args;
  if (!(s instanceof Storage)) fail("invalid_torch", file, `${fn.name} of ${describe(s)}, not a storage`);
  const ints = (v: unknown) => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!Number.isSafeInteger(offset) || (offset as number) < 0 || !ints(size) || !ints(stride) || (size as number[]).length !== (stride as number[]).length)
    fail("invalid_torch", file, `${fn.name}: offset ${describe(offset)}, size ${show(size)} and stride ${show(stride)} are not a non-negative offset and two equal-length tuples of non-negative ints`);
  const shape = [...(size as number[])];
  const strides = [...(stride as number[])];
  const storageRef = s as Storage;
  // The last element a view reaches: offset + sum((size - 1) * stride), within the storage.
  const last = shape.some((d) => d === 0) ? -1 : shape.reduce((n, d, i) => n + (d - 1) * strides[i], offset as number);
  if (last >= storageRef.numel || (shape.some((d) => d === 0) && (offset as number) > storageRef.numel))
    fail("offsets_out_of_range", file, `a ${shapeStr(shape)} view with stride ${shapeStr(strides)} at offset ${offset} reaches element ${last} of a ${storageRef.numel}-element storage`);
  return new TorchTensor(storageRef, offset as number, shape, strides);
}

function stateDict(root: unknown, file: string): TorchIndex {
  const warnings: string[] = [];
  if (!(root instanceof PickleDict)) fail("not_a_state_dict", file, `the checkpoint holds ${describe(root)}, not a dict of tensors (save model.state_dict())`);
  let dict = root as PickleDict;
  const values = [...dict.entries.values()];
  if (!values.some((v) => v instanceof TorchTensor) && values.length > 0) {
    const key = STATE_DICT_KEYS.find((k) => dict.entries.get(k) instanceof PickleDict);
    if (key === undefined) {
      const keys = [...dict.entries.keys()].map(String);
      fail("not_a_state_dict", file, `the checkpoint is a dict of no tensors (keys: ${keys.slice(0, 10).join(", ")}) and none of ${STATE_DICT_KEYS.map((k) => `"${k}"`).join(", ")} holds a dict`);
    }
    const others = [...dict.entries.keys()].filter((k) => k !== key).map(String);
    warnings.push(`${file}: reading the state dict under key "${key}"${others.length ? ` (also in the checkpoint: ${others.join(", ")})` : ""}`);
    dict = dict.entries.get(key) as PickleDict;
  }
  const tensors = new Map<string, TorchTensor>();
  const skipped: string[] = [];
  for (const [name, v] of dict.entries) {
    if (v instanceof TorchTensor && typeof name === "string") tensors.set(name, v);
    else skipped.push(`${String(name)} (${describe(v)})`);
  }
  if (skipped.length > 0) warnings.push(`${file}: ignoring ${skipped.length} entr${skipped.length === 1 ? "y" : "ies"} that are not named tensors: ${skipped.join(", ")}`);
  const narrowed = [...tensors].filter(([, t]) => t.kind === "f64").map(([n]) => n);
  if (narrowed.length > 0) warnings.push(`${file}: ${narrowed.length} float64 tensor(s) narrowed to f32: ${narrowed.join(", ")}`);
  return { tensors, warnings };
}

/** The elements of a strided view, row-major; a contiguous one is read straight from its offset. */
function readStrided(source: ByteSource, kind: ElemKind, offset: number, shape: number[], stride: number[]): TensorData {
  const count = shape.reduce((n, d) => n * d, 1);
  let expected = 1;
  let contiguous = true;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) contiguous = false;
    expected *= shape[i];
  }
  if (contiguous || count === 0) return readElements(source, kind, offset * ITEMSIZE[kind], count);
  // Read the span the view covers once, then gather.
  const span = shape.reduce((n, d, i) => n + (d - 1) * stride[i], 0) + 1;
  const base = readElements(source, kind, offset * ITEMSIZE[kind], span);
  const out = allocate(source, memKind(kind), count);
  const index = new Array<number>(shape.length).fill(0);
  let at = 0;
  for (let i = 0; i < count; i++) {
    // out and base are arrays of one type (memKind(kind)): the element is copied as it is.
    (out as Float32Array)[i] = (base as Float32Array)[at];
    // Odometer step over the multi-index, last axis fastest.
    for (let k = shape.length - 1; k >= 0; k--) {
      at += stride[k];
      if (++index[k] < shape[k]) break;
      at -= stride[k] * shape[k];
      index[k] = 0;
    }
  }
  return out;
}

function show(v: unknown): string {
  return Array.isArray(v) ? `(${v.map((x) => (typeof x === "number" ? String(x) : describe(x))).join(", ")})` : describe(v);
}
