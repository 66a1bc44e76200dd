// Serializes a Graph with the protobuf classes generated from the official
// onnx.proto (package onnx-proto), so the bytes follow the schema, not a guess.
import onnxProto from "onnx-proto";
import projectPackage from "../package.json" with { type: "json" };
import { type Attr, CROSS_STITCH_DOMAIN, type Graph, type Tensor, type ValueInfo } from "./graph.ts";

const { onnx } = onnxProto;

/** Who wrote the file, in every ONNX file's producer_name and producer_version. */
export const PRODUCER = { name: projectPackage.name, version: projectPackage.version } as const;

/** Opset 13: QuantizeLinear/DequantizeLinear with a per-channel axis, Split/ReduceSum with tensor inputs. */
export const OPSET = 13;
const IR_VERSION = 7;

const DATA_TYPES = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int8: onnx.TensorProto.DataType.INT8,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
} as const;

function tensorProto(name: string, tensor: Tensor): onnxProto.onnx.ITensorProto {
  const { buffer, byteOffset, byteLength } = tensor.data;
  return {
    name,
    dims: [...tensor.dims],
    dataType: DATA_TYPES[tensor.dtype],
    // Little-endian raw bytes, as the ONNX spec requires; every host we run on is little-endian.
    rawData: new Uint8Array(buffer, byteOffset, byteLength),
  };
}

function attributeProto(name: string, attr: Attr): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  switch (attr.kind) {
    case "int":
      return { name, type: AttributeType.INT, i: attr.value };
    case "float":
      return { name, type: AttributeType.FLOAT, f: attr.value };
    case "ints":
      return { name, type: AttributeType.INTS, ints: [...attr.value] };
  }
}

function valueInfo(info: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: info.dims.map((d) => (d < 0 ? { dimParam: "batch" } : { dimValue: d })) },
      },
    },
  };
}

/**
 * The ONNX model bytes, describing themselves with `docString` and `metadata` (ONNX's
 * metadata_props); refuses graphs that still hold export-internal ops.
 */
export function encodeOnnx(
  graph: Graph,
  docString: string,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const foreign = graph.nodes.find((n) => n.domain !== undefined);
  if (foreign) {
    const hint = foreign.domain === CROSS_STITCH_DOMAIN ? " (run the cross-stitch pass first)" : "";
    throw new Error(
      `node ${foreign.name} (${foreign.domain}.${foreign.op}) is not a standard ONNX op${hint}`,
    );
  }
  const model: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }],
    producerName: PRODUCER.name,
    producerVersion: PRODUCER.version,
    docString,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        input: [...n.inputs],
        output: [...n.outputs],
        attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
      })),
      initializer: [...graph.initializers].map(([name, t]) => tensorProto(name, t)),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
