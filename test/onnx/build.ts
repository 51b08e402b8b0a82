// Hand-built ONNX models for the import tests, written with graphc's own encoder: nodes with
// typed attributes, float or int64 initializers, inputs with fixed or dynamic (dim_param) dims.
import { AttrType, DataType, encodeModel, type AttributeMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg } from "../../src/onnx/proto.js";

/** A float attribute (plain numbers are ints). */
export const fl = (v: number) => ({ float: v });
/** A list of floats (plain number arrays are ints). */
export const fls = (v: number[]) => ({ floats: v });

type Attr = number | number[] | string | { float: number } | { floats: number[] } | { tensor: TensorMsg };

function attribute(name: string, v: Attr): AttributeMsg {
  if (typeof v === "number") return { name, type: AttrType.INT, i: v };
  if (typeof v === "string") return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  if ("float" in v) return { name, type: AttrType.FLOAT, f: v.float };
  if ("floats" in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  return { name, type: AttrType.TENSOR, t: v.tensor } as AttributeMsg;
}

export function floatTensor(name: string, dims: number[], data: ArrayLike<number>): TensorMsg {
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(Float32Array.from(data).buffer) };
}

export function intTensor(name: string, dims: number[], data: number[]): TensorMsg {
  return { name, dims, data_type: DataType.INT64, raw_data: new Uint8Array(BigInt64Array.from(data, (v) => BigInt(v)).buffer) };
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, Attr>;
}

export interface ModelSpec {
  opset: number;
  /** `dims` absent: the value info gives no shape. */
  inputs: { name: string; dims?: (number | string)[]; type?: number }[];
  /** Float outputs by name, others with their element type. */
  outputs: (string | { name: string; type: number })[];
  initializers?: TensorMsg[];
  nodes: NodeSpec[];
}

export function onnxModel(m: ModelSpec): Uint8Array {
  const info = (name: string, dims?: (number | string)[], type: number = DataType.FLOAT) =>
    ({ name, type: { tensor_type: { elem_type: type, ...(dims ? { shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) } } : {}) } } }) as unknown as ValueInfoMsg;
  return encodeModel({
    ir_version: m.opset >= 9 ? 7 : 3,
    opset_import: [{ domain: "", version: m.opset }],
    producer_name: "test",
    producer_version: "1",
    graph: {
      name: "test_graph",
      node: m.nodes.map((n, k): NodeMsg => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.op}_${k}`,
        op_type: n.op,
        attribute: Object.entries(n.attrs ?? {}).map(([name, v]) => attribute(name, v)),
        ...(n.domain ? { domain: n.domain } : {}),
      })),
      initializer: m.initializers ?? [],
      input: m.inputs.map((i) => info(i.name, i.dims, i.type)),
      output: m.outputs.map((o) => (typeof o === "string" ? info(o) : info(o.name, undefined, o.type))),
    },
  });
}
