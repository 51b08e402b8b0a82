// ONNX bytes -> the importer's view of a model: the default-domain opset, nodes with typed
// attributes, and every tensor (initializers, Constant values, attribute tensors) decoded to a
// Tensor. Floats of any width (f16, bf16, f64) become f32 data, as graphc computes in f32;
// integers and bools become exact numbers (int64 beyond 2^53 rounds, which only ever matters
// for the INT64_MAX "to the end" markers of Slice, where it is harmless).
import { bf16ToF32, f16ToF32 } from "../weights/tensor.js";
import { AttrType, DataType, decodeModel, type DecodedAttribute, type DecodedGraph, type DecodedTensor, type DecodedValueInfo } from "./proto.js";

/** The model cannot be read as an ONNX model graphc imports (a named, user-facing problem). */
export class OnnxImportError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export type ElemType = "float" | "int" | "bool";

/** A constant tensor: f32 data for floats, exact numbers for integers and bools. */
export interface Tensor {
  type: ElemType;
  /** The ONNX data type (TensorProto.DataType), kept for Cast and for int32 vs int64 outputs. */
  onnxType: number;
  dims: number[];
  data: Float32Array | Float64Array;
  /** For a folded 2-D transpose: the tensor it transposes (a linear layer's weight needs that one back). */
  transposeOf?: Tensor;
}

export type AttrValue = number | string | number[] | string[] | Tensor | "graph";

export interface OnnxNode {
  name: string;
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

/** A graph input or output: its element type and dims (a number, or the dim_param / undefined for a dynamic one). */
export interface OnnxPort {
  name: string;
  elemType: number;
  dims: (number | string | undefined)[];
  /** The value info gives a shape (else the rank is unknown too, and `dims` is empty). */
  shaped: boolean;
}

export interface OnnxModel {
  opset: number;
  producer: string;
  graphName: string;
  inputs: OnnxPort[];
  outputs: OnnxPort[];
  initializers: Map<string, Tensor>;
  nodes: OnnxNode[];
}

export const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);
const INT_TYPES: ReadonlySet<number> = new Set([DataType.UINT8, DataType.INT8, DataType.UINT16, DataType.INT16, DataType.INT32, DataType.INT64, DataType.UINT32, DataType.UINT64]);
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

export const typeName = (t: number): string => TYPE_NAMES[t] ?? `type ${t}`;

export function elemTypeOf(onnxType: number): ElemType | undefined {
  if (FLOAT_TYPES.has(onnxType)) return "float";
  if (INT_TYPES.has(onnxType)) return "int";
  if (onnxType === DataType.BOOL) return "bool";
  return undefined;
}

const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Reads `n` elements of ONNX type `t` from little-endian raw bytes. */
function fromRaw(raw: Uint8Array, t: number, n: number, what: string): number[] | Float32Array {
  const size: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
  const k = size[t]!;
  if (raw.byteLength !== n * k) throw new OnnxImportError([`tensor ${what}: raw_data has ${raw.byteLength} bytes, its ${n} ${typeName(t)} elements need ${n * k}`]);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read: Record<number, (i: number) => number> = {
    1: (i) => v.getFloat32(i * 4, true),
    2: (i) => v.getUint8(i),
    3: (i) => v.getInt8(i),
    4: (i) => v.getUint16(i * 2, true),
    5: (i) => v.getInt16(i * 2, true),
    6: (i) => v.getInt32(i * 4, true),
    7: (i) => Number(v.getBigInt64(i * 8, true)),
    9: (i) => (v.getUint8(i) ? 1 : 0),
    10: (i) => f16ToF32(v.getUint16(i * 2, true)),
    11: (i) => v.getFloat64(i * 8, true),
    12: (i) => v.getUint32(i * 4, true),
    13: (i) => Number(v.getBigUint64(i * 8, true)),
    16: (i) => bf16ToF32(v.getUint16(i * 2, true)),
  };
  if (t === DataType.FLOAT) {
    // A copy (protobufjs gives Buffer views into the file) is aligned; on a little-endian host its bytes are the floats.
    if (littleEndian) return new Float32Array(new Uint8Array(raw).buffer);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = read[1]!(i);
    return out;
  }
  return Array.from({ length: n }, (_, i) => read[t]!(i));
}

/** A TensorProto's data, from raw_data or the typed field its type uses. */
export function decodeTensor(t: DecodedTensor, what = t.name ?? "(unnamed)"): Tensor {
  const dims = (t.dims ?? []).map(Number);
  const onnxType = t.data_type ?? 0;
  const type = elemTypeOf(onnxType);
  if (type === undefined) throw new OnnxImportError([`tensor ${what}: ${typeName(onnxType)} tensors are not supported (only float, float16, bfloat16, double, integer and bool)`]);
  if (t.data_location === 1 || (t.external_data?.length ?? 0) > 0) {
    const location = t.external_data?.find((e) => e.key === "location")?.value;
    throw new OnnxImportError([`tensor ${what}: its data is stored outside the model${location ? ` (in ${location})` : ""}; graphc reads self-contained .onnx files only (save the model with all tensors inside, e.g. onnx.save(model, path, save_as_external_data=False))`]);
  }
  const n = numel(dims);
  let values: ArrayLike<number>;
  if (t.raw_data && t.raw_data.byteLength > 0) values = fromRaw(t.raw_data, onnxType, n, what);
  else {
    const typed: Record<number, ArrayLike<number> | undefined> = {
      [DataType.FLOAT]: t.float_data,
      [DataType.DOUBLE]: t.double_data,
      [DataType.INT64]: t.int64_data,
      [DataType.UINT32]: t.uint64_data,
      [DataType.UINT64]: t.uint64_data,
    };
    const field = typed[onnxType] ?? t.int32_data ?? [];
    // float16 and bfloat16 keep their bits in int32_data
    values = onnxType === DataType.FLOAT16 ? Array.from(field, f16ToF32) : onnxType === DataType.BFLOAT16 ? Array.from(field, bf16ToF32) : field;
    if (values.length !== n) throw new OnnxImportError([`tensor ${what}: it holds ${values.length} elements, its shape [${dims.join(", ")}] needs ${n}`]);
  }
  const data = type === "float" ? (values instanceof Float32Array ? values : Float32Array.from(values)) : Float64Array.from(values);
  return { type, onnxType, dims, data };
}

const utf8 = new TextDecoder();

function attrValue(a: DecodedAttribute, where: string): AttrValue {
  const what = `attribute ${a.name} of ${where}`;
  switch (a.type) {
    case AttrType.FLOAT:
      return a.f ?? 0;
    case AttrType.INT:
      return a.i ?? 0;
    case AttrType.STRING:
      return utf8.decode(a.s ?? new Uint8Array());
    case AttrType.TENSOR:
      return decodeTensor(a.t ?? {}, what);
    case AttrType.FLOATS:
      return a.floats ?? [];
    case AttrType.INTS:
      return a.ints ?? [];
    case AttrType.STRINGS:
      return (a.strings ?? []).map((s) => utf8.decode(s));
    case AttrType.GRAPH:
    case AttrType.GRAPHS:
      return "graph";
    default:
      // Before IR version 4 (2017) the type was optional: infer it from the field that is set.
      if (a.t) return decodeTensor(a.t, what);
      if (a.ints?.length) return a.ints;
      if (a.floats?.length) return a.floats;
      if (a.s) return utf8.decode(a.s);
      if (a.f !== undefined) return a.f;
      if (a.i !== undefined) return a.i;
      return [];
  }
}

function port(v: DecodedValueInfo): OnnxPort {
  const tt = v.type?.tensor_type;
  const dims = (tt?.shape?.dim ?? []).map((d) => (d.dim_value !== undefined && d.dim_value > 0 ? d.dim_value : (d.dim_param ?? undefined)));
  return { name: v.name ?? "", elemType: tt?.elem_type ?? 0, dims, shaped: tt?.shape !== undefined };
}

/** Parses ONNX bytes; malformed bytes or an unusable model are an OnnxImportError naming `file`. */
export function readOnnx(bytes: Uint8Array, file: string): OnnxModel {
  let decoded;
  try {
    decoded = decodeModel(bytes);
  } catch (e) {
    // protobufjs says "index out of range" where a field runs past the end of the bytes.
    const reason = /^index out of range/.test((e as Error).message) ? "it ends inside a field (a truncated file?)" : (e as Error).message;
    throw new OnnxImportError([`${file} is not an ONNX model: ${reason}`]);
  }
  const g: DecodedGraph | undefined = decoded.graph;
  if (!g || !(g.node?.length || g.output?.length)) throw new OnnxImportError([`${file} is not an ONNX model: it has no graph`]);
  const opsets = decoded.opset_import ?? [];
  const main = opsets.find((o) => !o.domain || o.domain === "ai.onnx");
  // IR version 2 files may carry no opset_import: they are opset 1.
  const opset = main?.version ?? 1;
  if (g.sparse_initializer?.length) throw new OnnxImportError([`${file}: sparse initializers are not supported`]);
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? "", decodeTensor(t));
  const nodes = (g.node ?? []).map((n, k): OnnxNode => {
    const name = n.name || `${n.op_type ?? "node"}_${k}`;
    return {
      name,
      op: n.op_type ?? "",
      domain: n.domain && n.domain !== "ai.onnx" ? n.domain : "",
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      attrs: new Map((n.attribute ?? []).map((a) => [a.name ?? "", attrValue(a, `${n.op_type} node ${name}`)])),
    };
  });
  return {
    opset,
    producer: [decoded.producer_name, decoded.producer_version].filter(Boolean).join(" "),
    graphName: g.name ?? "",
    // Inputs that are initializers too are defaults (IR < 4 lists every initializer as an input).
    inputs: (g.input ?? []).filter((v) => !initializers.has(v.name ?? "")).map(port),
    outputs: (g.output ?? []).map(port),
    initializers,
    nodes,
  };
}
