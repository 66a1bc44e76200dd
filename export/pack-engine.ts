// Packs the int8 QDQ graph (model.int8.onnx, per-tower layout) into the engine's
// serving artifact (engine/pack-format.ts): reads the quantized integers and
// scales the ONNX file holds, follows the graph the way onnxruntime fuses it
// (DQ -> Conv/Gemm [-> Relu] -> Q into one integer kernel; MaxPool and Flatten
// on int8; a cross-stitch unit's Mul/Sum in float between a DQ and a Q), and
// writes each linear layer's weights in the panel layout the kernels read.
import { createHash } from "node:crypto";
import onnxProto from "onnx-proto";
import {
  alignUp,
  type Blob,
  encodePack,
  type LinearWeights,
  PACK_ALIGN,
  PACK_KBLOCK,
  PACK_PANEL,
  type PackHeader,
  type PackOp,
  type TensorInfo,
} from "../contracts/engine-pack.ts";

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

type Numbers = Float32Array | Int8Array | Int32Array | BigInt64Array;

export class PackError extends Error {}

function tensorValues(t: onnxProto.onnx.ITensorProto): Numbers {
  const raw = t.rawData;
  // A copy: decoded bytes may be a view into the file (a Node Buffer at any offset).
  const copy = (bytes: Uint8Array) => new Uint8Array(bytes).buffer;
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw?.length ? new Float32Array(copy(raw)) : Float32Array.from(t.floatData ?? []);
    case DataType.INT8:
      return raw?.length ? new Int8Array(copy(raw)) : Int8Array.from(t.int32Data ?? []);
    case DataType.INT32:
      return raw?.length ? new Int32Array(copy(raw)) : Int32Array.from(t.int32Data ?? []);
    case DataType.INT64:
      return raw?.length
        ? new BigInt64Array(copy(raw))
        : BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(v.toString())));
    default:
      throw new PackError(`initializer ${t.name} has an unsupported data type ${t.dataType}`);
  }
}

interface Initializer {
  readonly dims: readonly number[];
  readonly values: Numbers;
}

/** The data section under construction: 64-byte aligned blobs. */
export class DataWriter {
  private readonly chunks: { offset: number; bytes: Uint8Array }[] = [];
  private size = 0;

  add(values: Int8Array | Int32Array | Float32Array): Blob {
    const offset = alignUp(this.size, PACK_ALIGN);
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.chunks.push({ offset, bytes });
    this.size = offset + bytes.length;
    return { offset, bytes: bytes.length };
  }

  finish(): Uint8Array {
    const out = new Uint8Array(alignUp(this.size, PACK_ALIGN));
    for (const c of this.chunks) out.set(c.bytes, c.offset);
    return out;
  }
}

/**
 * Weights [n][k] (k in the kernel's input order) -> panels of 4 columns, k-blocks of 16; biases
 * with the input zero point folded in; per-column scales as onnxruntime computes them.
 */
export function packLinear(
  data: DataWriter,
  weight: (n: number, k: number) => number,
  n: number,
  k: number,
  bias: Int32Array,
  inputZeroPoint: number,
  scales: Float32Array,
): LinearWeights {
  const kPadded = alignUp(k, PACK_KBLOCK);
  const nPadded = alignUp(n, PACK_PANEL);
  const packed = new Int8Array(nPadded * kPadded);
  const colsum = new Int32Array(nPadded);
  const folded = new Int32Array(nPadded);
  const scale = new Float32Array(nPadded);
  for (let col = 0; col < n; col++) {
    const panel = Math.floor(col / PACK_PANEL);
    const lane = col % PACK_PANEL;
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const w = weight(col, i);
      sum += w;
      const block = Math.floor(i / PACK_KBLOCK);
      packed[
        ((panel * (kPadded / PACK_KBLOCK) + block) * PACK_PANEL + lane) * PACK_KBLOCK + (i % PACK_KBLOCK)
      ] = w;
    }
    colsum[col] = sum;
    folded[col] = (bias[col] as number) - inputZeroPoint * sum;
    scale[col] = scales[col] as number;
  }
  return {
    k,
    kPadded,
    n,
    weights: data.add(packed),
    bias: data.add(folded),
    colsum: data.add(colsum),
    scale: data.add(scale),
  };
}

/** What a float tensor of the graph stands for while the graph is followed. */
type Value =
  | { kind: "image" }
  | { kind: "dq"; tensor: number }
  | { kind: "weight"; name: string; scale: string; zeroPoint: string | undefined }
  | { kind: "linear"; node: onnxProto.onnx.INodeProto; input: number; relu: boolean }
  | { kind: "pool"; input: number }
  | { kind: "flatten"; input: number }
  | { kind: "terms"; terms: { input: number; alpha: Float32Array }[] };

export interface PackedModel {
  readonly bytes: Uint8Array;
  readonly header: PackHeader;
}

/** `tasks`: name, logits output name and class count of each head, in manifest order. */
export function packEngine(
  model: Uint8Array,
  tasks: readonly { name: string; output: string; classes: number }[],
): PackedModel {
  const graph = onnx.ModelProto.decode(model).graph;
  if (!graph) throw new PackError("the ONNX file holds no graph");
  const inits = new Map<string, Initializer>();
  for (const t of graph.initializer ?? [])
    inits.set(t.name as string, { dims: (t.dims ?? []).map(Number), values: tensorValues(t) });
  const init = (name: string | null | undefined): Initializer => {
    const found = name ? inits.get(name) : undefined;
    if (!found) throw new PackError(`expected an initializer, got ${name}`);
    return found;
  };
  const scalar = (name: string | null | undefined) => Number(init(name).values[0]);

  const readers = new Map<string, number>();
  for (const node of graph.node ?? [])
    for (const name of node.input ?? []) readers.set(name, (readers.get(name) ?? 0) + 1);

  const imageInput = graph.input?.[0]?.name;
  const values = new Map<string, Value>([[imageInput as string, { kind: "image" }]]);
  const tensors: TensorInfo[] = [];
  const ops: PackOp[] = [];
  const data = new DataWriter();
  const logitsOf = new Map(tasks.map((t, i) => [t.output, i]));
  const packedTasks = new Set<number>();
  const height = 28;
  const width = 28;

  const follow = (name: string | null | undefined): Value => {
    const v = name ? values.get(name) : undefined;
    if (!v) throw new PackError(`the engine cannot follow tensor ${name}`);
    return v;
  };
  const dqTensor = (name: string | null | undefined): number => {
    const v = follow(name);
    if (v.kind !== "dq") throw new PackError(`${name} is not a dequantized int8 activation`);
    return v.tensor;
  };
  const tensor = (index: number) => tensors[index] as TensorInfo;
  const addTensor = (info: TensorInfo) => tensors.push(info) - 1;
  const attrInts = (node: onnxProto.onnx.INodeProto, name: string) =>
    (node.attribute ?? []).find((a) => a.name === name)?.ints?.map(Number);
  const attrInt = (node: onnxProto.onnx.INodeProto, name: string) => {
    const a = (node.attribute ?? []).find((x) => x.name === name);
    return a ? Number(a.i) : undefined;
  };

  const weightInfo = (name: string | null | undefined) => {
    const v = follow(name);
    if (v.kind !== "weight") throw new PackError(`${name} is not a dequantized int8 initializer`);
    return v;
  };

  /** Emits a Conv (3x3 same, or a kernel covering the whole map = dense) ending in QuantizeLinear. */
  const emitLinear = (v: Extract<Value, { kind: "linear" }>, outScale: number, outZp: number): number => {
    const node = v.node;
    const input = tensor(v.input);
    const wName = weightInfo(node.input?.[1]).name;
    const w = init(wName);
    const wScales = init(weightInfo(node.input?.[1]).scale).values as Float32Array;
    const bName = node.input?.[2] ? weightInfo(node.input[2]).name : undefined;
    const n = w.dims[0] as number;
    const bias = bName ? (init(bName).values as Int32Array) : new Int32Array(n);
    const scales = Float32Array.from(wScales, (ws) => Math.fround(Math.fround(input.scale * ws) / outScale));
    const wv = w.values as Int8Array;
    const [h, wd, c] = input.shape;
    const kernel = attrInts(node, "kernel_shape") ?? [w.dims[2] as number, w.dims[3] as number];
    const pads = attrInts(node, "pads") ?? [0, 0, 0, 0];
    const strides = attrInts(node, "strides") ?? [1, 1];
    if ((attrInt(node, "group") ?? 1) !== 1 || strides.some((s) => s !== 1) || w.dims[1] !== c)
      throw new PackError(`${node.name}: only ungrouped, stride-1 convolutions are supported`);
    // ONNX kernel [N][C][KH][KW] -> k in (ky, kx, c) order.
    const at = (col: number, ky: number, kx: number, ch: number) =>
      wv[((col * c + ch) * (kernel[0] as number) + ky) * (kernel[1] as number) + kx] as number;
    const same3x3 = kernel[0] === 3 && kernel[1] === 3 && pads.every((p) => p === 1);
    if (same3x3 && (readers.get(node.input?.[0] as string) ?? 0) > 1) {
      const nPadded = alignUp(n, PACK_PANEL);
      const weights = new Float32Array(9 * c * nPadded);
      for (let col = 0; col < n; col++)
        for (let i = 0; i < 9 * c; i++)
          weights[i * nPadded + col] = Math.fround(
            (wv[col * 9 * c + i] as number) * (wScales[col] as number),
          );
      const bScales = bName
        ? (init(weightInfo(node.input?.[2]).scale).values as Float32Array)
        : new Float32Array(n);
      const floatBias = new Float32Array(nPadded);
      for (let col = 0; col < n; col++)
        floatBias[col] = Math.fround(Math.fround(bias[col] as number) * (bScales[col] as number));
      const output = addTensor({ shape: [h, wd, n], scale: outScale, zeroPoint: outZp });
      ops.push({
        op: "conv3x3Float",
        input: v.input,
        output,
        relu: v.relu,
        n,
        weights: data.add(weights),
        bias: data.add(floatBias),
      });
      return output;
    }
    if (same3x3) {
      const linear = packLinear(
        data,
        (col, i) => at(col, Math.floor(i / (3 * c)), Math.floor(i / c) % 3, i % c),
        n,
        9 * c,
        bias,
        input.zeroPoint,
        scales,
      );
      const output = addTensor({ shape: [h, wd, n], scale: outScale, zeroPoint: outZp });
      ops.push({ op: "conv3x3", input: v.input, output, relu: v.relu, ...linear });
      return output;
    }
    if (kernel[0] === h && kernel[1] === wd && pads.every((p) => p === 0)) {
      const linear = packLinear(
        data,
        (col, i) => at(col, Math.floor(i / (wd * c)), Math.floor(i / c) % wd, i % c),
        n,
        h * wd * c,
        bias,
        input.zeroPoint,
        scales,
      );
      const output = addTensor({ shape: [1, 1, n], scale: outScale, zeroPoint: outZp });
      ops.push({ op: "dense", input: v.input, output, relu: v.relu, ...linear });
      return output;
    }
    throw new PackError(`${node.name}: only 3x3 same-padding and whole-map convolutions are supported`);
  };

  for (const node of graph.node ?? []) {
    const op = node.opType;
    const inputs = node.input ?? [];
    const out = node.output?.[0] as string;
    if (node.domain) throw new PackError(`${node.name}: custom op ${node.domain}.${op} is not supported`);
    switch (op) {
      case "Reshape":
      case "Transpose": {
        // Only the image's NHWC -> NCHW view, the same bytes for one channel.
        if (follow(inputs[0]).kind !== "image") throw new PackError(`${node.name}: unsupported ${op}`);
        values.set(out, { kind: "image" });
        break;
      }
      case "QuantizeLinear": {
        const v = follow(inputs[0]);
        const scale = scalar(inputs[1]);
        const zp = scalar(inputs[2]);
        let index: number;
        if (v.kind === "image") {
          index = addTensor({ shape: [height, width, 1], scale, zeroPoint: zp });
          ops.push({ op: "quantize", output: index });
        } else if (v.kind === "linear") {
          index = emitLinear(v, scale, zp);
        } else if (v.kind === "pool" || v.kind === "flatten") {
          const from = tensor(v.input);
          if (from.scale !== scale || from.zeroPoint !== zp)
            throw new PackError(`${node.name}: ${v.kind} changes the quantization of its input`);
          if (v.kind === "pool") {
            const [h, w, c] = from.shape;
            if (h % 2 || w % 2) throw new PackError(`${node.name}: max pool of an odd-sized map`);
            index = addTensor({ shape: [h / 2, w / 2, c], scale, zeroPoint: zp });
            ops.push({ op: "maxpool", input: v.input, output: index });
          } else {
            if (from.shape[0] !== 1 || from.shape[1] !== 1)
              throw new PackError(`${node.name}: flatten of a spatial map`);
            index = v.input;
          }
        } else if (v.kind === "terms") {
          const shape = tensor(v.terms[0]?.input as number).shape;
          index = addTensor({ shape, scale, zeroPoint: zp });
          ops.push({
            op: "stitch",
            inputs: v.terms.map((t) => t.input),
            alphas: v.terms.map((t) => data.add(t.alpha)),
            output: index,
          });
        } else {
          throw new PackError(`${node.name}: cannot quantize ${v.kind}`);
        }
        values.set(out, { kind: "dq", tensor: index });
        break;
      }
      case "DequantizeLinear": {
        if (inits.has(inputs[0] as string)) {
          const zeroPoint = inputs[2] || undefined;
          if (zeroPoint && init(zeroPoint).values.some((z) => Number(z) !== 0))
            throw new PackError(`${node.name}: ${inputs[0]} is not symmetric (non-zero zero point)`);
          values.set(out, {
            kind: "weight",
            name: inputs[0] as string,
            scale: inputs[1] as string,
            zeroPoint,
          });
        } else values.set(out, follow(inputs[0]));
        break;
      }
      case "Conv":
      case "Gemm": {
        const input = dqTensor(inputs[0]);
        if (op === "Gemm") {
          const task = logitsOf.get(out);
          if (task === undefined)
            throw new PackError(`${node.name}: a Gemm whose output is not a task's logits`);
          if ((attrInt(node, "transA") ?? 0) !== 0 || (attrInt(node, "transB") ?? 0) !== 0)
            throw new PackError(`${node.name}: transposed Gemm is not supported`);
          const from = tensor(input);
          const wName = weightInfo(inputs[1]).name;
          const w = init(wName);
          const [k, n] = w.dims as [number, number];
          if (k !== from.shape[0] * from.shape[1] * from.shape[2])
            throw new PackError(`${node.name}: ${k} inputs, its input has ${from.shape.join("x")}`);
          const wv = w.values as Int8Array;
          const bias = inputs[2]
            ? (init(weightInfo(inputs[2]).name).values as Int32Array)
            : new Int32Array(n);
          const scales = Float32Array.from(init(weightInfo(inputs[1]).scale).values as Float32Array, (ws) =>
            Math.fround(from.scale * ws),
          );
          const linear = packLinear(
            data,
            (col, i) => wv[i * n + col] as number,
            n,
            k,
            bias,
            from.zeroPoint,
            scales,
          );
          if (n !== tasks[task]?.classes)
            throw new PackError(`${out}: ${n} logits, the task has ${tasks[task]?.classes}`);
          ops.push({ op: "logits", input, task, ...linear });
          packedTasks.add(task);
          break;
        }
        values.set(out, { kind: "linear", node, input, relu: false });
        break;
      }
      case "Relu": {
        const v = follow(inputs[0]);
        if (v.kind !== "linear") throw new PackError(`${node.name}: ReLU must follow a convolution`);
        values.set(out, { ...v, relu: true });
        break;
      }
      case "MaxPool": {
        const kernel = attrInts(node, "kernel_shape");
        const strides = attrInts(node, "strides");
        if (kernel?.join() !== "2,2" || strides?.join() !== "2,2" || attrInts(node, "pads")?.some((p) => p))
          throw new PackError(`${node.name}: only 2x2 stride-2 max pooling is supported`);
        values.set(out, { kind: "pool", input: dqTensor(inputs[0]) });
        break;
      }
      case "Flatten":
        values.set(out, { kind: "flatten", input: dqTensor(inputs[0]) });
        break;
      case "Mul": {
        const input = dqTensor(inputs[0]);
        if (!inits.has(inputs[1] as string))
          throw new PackError(
            `${node.name}: a cross-stitch coefficient must be a float initializer (QDQ Mul is not supported)`,
          );
        const coefficient = init(inputs[1]).values as Float32Array;
        const channels = tensor(input).shape[2];
        const alpha =
          coefficient.length === 1
            ? new Float32Array(channels).fill(coefficient[0] as number)
            : Float32Array.from(coefficient);
        if (alpha.length !== channels)
          throw new PackError(`${node.name}: ${alpha.length} coefficients for ${channels} channels`);
        values.set(out, { kind: "terms", terms: [{ input, alpha }] });
        break;
      }
      case "Sum":
      case "Identity": {
        const terms = inputs.flatMap((name) => {
          const v = follow(name);
          if (v.kind === "terms") return v.terms;
          if (v.kind === "dq")
            return [{ input: v.tensor, alpha: new Float32Array(tensor(v.tensor).shape[2]).fill(1) }];
          throw new PackError(`${node.name}: cannot sum ${v.kind}`);
        });
        values.set(out, { kind: "terms", terms });
        break;
      }
      default:
        throw new PackError(`${node.name}: op ${op} is not supported by the engine`);
    }
  }
  tasks.forEach((t, i) => {
    if (!packedTasks.has(i)) throw new PackError(`no logits for task ${t.name} (${t.output})`);
  });
  const body = data.finish();
  const header: PackHeader = {
    tasks,
    input: { height, width },
    tensors,
    ops,
    dataBytes: body.length,
    source: { sha256: createHash("sha256").update(model).digest("hex"), bytes: model.length },
  };
  return { bytes: encodePack(header, body), header };
}
