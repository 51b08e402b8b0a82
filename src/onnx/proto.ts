// The subset of the ONNX protobuf schema (onnx/onnx.proto, proto2, package `onnx`) that the
// exporter writes and the importer reads, as a protobufjs reflection root. Field names, numbers
// and types are copied from the official onnx.proto; fields neither side uses are left out (the
// decoder skips fields it does not know, and an ONNX reader treats absent optional fields as
// unset). The importer also reads subgraphs (`g`, `graphs`), typed tensor fields and external
// data markers, only to refuse what it cannot use by name.
//
// Why protobufjs with a JSON descriptor and not the `onnx-proto` package: onnx-proto's last
// schema import is ONNX v1.10.2 (2021), it is pbjs-generated CommonJS that registers itself in
// protobufjs's global `roots.default`, and it pins the protobufjs 6 line (whose own postinstall
// script and old advisories come along). protobufjs is the maintained, widely used protobuf
// runtime for JavaScript (types included, no install scripts, no native code); describing the
// handful of messages we write in code keeps the schema reviewable next to the official field
// numbers and needs no code generation step.
import protobuf from "protobufjs";

const repeated = (type: string, id: number, packed?: boolean) => ({ rule: "repeated", type, id, ...(packed === undefined ? {} : { options: { packed } }) });
const optional = (type: string, id: number) => ({ type, id });

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: optional("string", 1),
            type: optional("AttributeType", 20),
            f: optional("float", 2),
            i: optional("int64", 3),
            s: optional("bytes", 4),
            t: optional("TensorProto", 5),
            g: optional("GraphProto", 6),
            floats: repeated("float", 7, false),
            ints: repeated("int64", 8, false),
            strings: repeated("bytes", 9),
            tensors: repeated("TensorProto", 10),
            graphs: repeated("GraphProto", 11),
          },
          nested: {
            AttributeType: {
              values: { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 },
            },
          },
        },
        ValueInfoProto: {
          fields: { name: optional("string", 1), type: optional("TypeProto", 2), doc_string: optional("string", 3) },
        },
        NodeProto: {
          fields: {
            input: repeated("string", 1),
            output: repeated("string", 2),
            name: optional("string", 3),
            op_type: optional("string", 4),
            domain: optional("string", 7),
            attribute: repeated("AttributeProto", 5),
            doc_string: optional("string", 6),
          },
        },
        ModelProto: {
          fields: {
            ir_version: optional("int64", 1),
            opset_import: repeated("OperatorSetIdProto", 8),
            producer_name: optional("string", 2),
            producer_version: optional("string", 3),
            domain: optional("string", 4),
            model_version: optional("int64", 5),
            doc_string: optional("string", 6),
            graph: optional("GraphProto", 7),
            metadata_props: repeated("StringStringEntryProto", 14),
          },
        },
        GraphProto: {
          fields: {
            node: repeated("NodeProto", 1),
            name: optional("string", 2),
            initializer: repeated("TensorProto", 5),
            doc_string: optional("string", 10),
            input: repeated("ValueInfoProto", 11),
            output: repeated("ValueInfoProto", 12),
            value_info: repeated("ValueInfoProto", 13),
            sparse_initializer: repeated("SparseTensorProto", 15),
          },
        },
        TensorProto: {
          fields: {
            dims: repeated("int64", 1, false),
            data_type: optional("int32", 2),
            float_data: repeated("float", 4, true),
            int32_data: repeated("int32", 5, true),
            int64_data: repeated("int64", 7, true),
            name: optional("string", 8),
            doc_string: optional("string", 12),
            raw_data: optional("bytes", 9),
            double_data: repeated("double", 10, true),
            uint64_data: repeated("uint64", 11, true),
            external_data: repeated("StringStringEntryProto", 13),
            data_location: optional("int32", 14),
          },
          nested: {
            DataType: {
              values: { UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16 },
            },
          },
        },
        SparseTensorProto: {
          fields: { values: optional("TensorProto", 1), indices: optional("TensorProto", 2), dims: repeated("int64", 3, true) },
        },
        StringStringEntryProto: {
          fields: { key: optional("string", 1), value: optional("string", 2) },
        },
        TensorShapeProto: {
          fields: { dim: repeated("Dimension", 1) },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ["dim_value", "dim_param"] } },
              fields: { dim_value: optional("int64", 1), dim_param: optional("string", 2), denotation: optional("string", 3) },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ["tensor_type"] } },
          fields: { tensor_type: optional("Tensor", 1), denotation: optional("string", 6), sequence_type: optional("Sequence", 4), map_type: optional("Map", 5) },
          nested: {
            Tensor: { fields: { elem_type: optional("int32", 1), shape: optional("TensorShapeProto", 2) } },
            Sequence: { fields: { elem_type: optional("TypeProto", 1) } },
            Map: { fields: { key_type: optional("int32", 1), value_type: optional("TypeProto", 2) } },
          },
        },
        OperatorSetIdProto: {
          fields: { domain: optional("string", 1), version: optional("int64", 2) },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);

export const ModelProto = root.lookupType("onnx.ModelProto");

/** TensorProto.DataType values. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, BFLOAT16: 16 } as const;

/** AttributeProto.AttributeType values. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;

// Plain-object shapes of the messages as the exporter builds them (snake_case, as in onnx.proto).
export interface AttributeMsg {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}
export interface TensorMsg {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

// The messages as the decoder gives them: every field optional (proto2), int64 as numbers.
export interface DecodedTensor {
  name?: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  uint64_data?: number[];
  external_data?: { key?: string; value?: string }[];
  data_location?: number;
}
export interface DecodedAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: DecodedTensor;
  g?: DecodedGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: DecodedTensor[];
  graphs?: DecodedGraph[];
}
export interface DecodedNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: DecodedAttribute[];
}
export interface DecodedDim {
  dim_value?: number;
  dim_param?: string;
}
export interface DecodedValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: DecodedDim[] } }; sequence_type?: unknown; map_type?: unknown };
}
export interface DecodedGraph {
  name?: string;
  node?: DecodedNode[];
  initializer?: DecodedTensor[];
  sparse_initializer?: unknown[];
  input?: DecodedValueInfo[];
  output?: DecodedValueInfo[];
}
export interface DecodedModel {
  ir_version?: number;
  opset_import?: { domain?: string; version?: number }[];
  producer_name?: string;
  producer_version?: string;
  graph?: DecodedGraph;
}

/** Decodes ModelProto bytes (int64 fields as numbers); throws protobufjs's error on malformed bytes. */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, enums: Number, defaults: false }) as DecodedModel;
}
export interface NodeMsg {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: AttributeMsg[];
  doc_string?: string;
}
export interface ValueInfoMsg {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: { dim_value: number }[] } } };
}
export interface ModelMsg {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  graph: { name: string; node: NodeMsg[]; initializer: TensorMsg[]; input: ValueInfoMsg[]; output: ValueInfoMsg[] };
}

export function encodeModel(m: ModelMsg): Uint8Array {
  const err = ModelProto.verify(m);
  if (err) throw new Error(`internal error: invalid ONNX model message: ${err}`);
  return ModelProto.encode(m).finish();
}
