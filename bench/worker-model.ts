// A graph the size and shape of the real export, for benchmarking the worker
// before a trained model exists: two towers (conv 3x3x32, pool, conv 3x3x64,
// pool, dense 1024, logits) joined by layer-wise cross-stitch units after pool1,
// pool2 and fc3; in the int8 file, static QDQ (int8 per-channel weights, int8
// activations) as SPEC.md found fastest in wasm. Random weights: for timing only.
//
//   tsx bench/worker-model.ts [dir]   (default .cache/bench-artifacts)
import { resolve } from "node:path";
import type { onnx as Onnx } from "onnx-proto";
import type { Manifest } from "../contracts/manifest.ts";
import {
  FIXTURE_TASKS,
  floatTensor,
  int64Tensor,
  ints,
  onnx,
  seededRandom,
  valueInfo,
  writeArtifacts,
} from "../testing/onnx-model.ts";

export const BENCH_ARTIFACTS_DIR = ".cache/bench-artifacts";
/** Activation quantization: signed around zero (input, before ReLU) and unsigned-in-int8 after ReLU. */
const SIGNED = { scale: 0.05, zero: 0 };
const AFTER_RELU = { scale: 0.05, zero: -128 };
/** Layer-wise cross-stitch init from the paper: 0.9 self, 0.1 other. */
const STITCH = { self: 0.9, other: 0.1 };

type Quant = typeof SIGNED;
const INT = onnx.AttributeProto.AttributeType.INT;

/**
 * Builds the graph the way ORT's static QDQ quantizer lays it out, so ORT fuses
 * each DQ -> op -> Q group into QLinearConv / QGemm / QLinearAdd / QLinearMul:
 * weights int8 per output channel, biases int32 at input scale x weight scale,
 * ReLU followed by a Q whose zero point is -128 (so the ReLU folds away).
 * With `quantized` false it writes the same graph in float32.
 */
class GraphBuilder {
  readonly nodes: Onnx.INodeProto[] = [];
  readonly initializers: Onnx.ITensorProto[] = [];
  private readonly random = seededRandom(7);
  private count = 0;
  /** Quantized tensors and their (scale, zero) names: each consumer gets its own DequantizeLinear. */
  private readonly quantizedParams = new Map<string, [string, string]>();

  constructor(readonly quantized: boolean) {
    for (const [name, q] of [
      ["signed", SIGNED],
      ["relu", AFTER_RELU],
    ] as const) {
      this.initializers.push(floatTensor(`${name}_scale`, [], Float32Array.of(q.scale)), {
        name: `${name}_zero`,
        dims: [],
        dataType: onnx.TensorProto.DataType.INT8,
        rawData: Uint8Array.of(q.zero & 0xff),
      });
    }
  }

  node(opType: string, input: string[], attribute: Onnx.IAttributeProto[] = [], output?: string): string {
    this.count += 1;
    const name = output ?? `${opType}_${this.count}`;
    this.nodes.push({ opType, input, output: [name], attribute });
    return name;
  }

  /** Quantizes an activation (int8 file only); read it through use(). */
  qdq(input: string, q: Quant): string {
    if (!this.quantized) return input;
    const params = q === SIGNED ? "signed" : "relu";
    const quantized = this.node("QuantizeLinear", [input, `${params}_scale`, `${params}_zero`]);
    this.quantizedParams.set(quantized, [`${params}_scale`, `${params}_zero`]);
    return quantized;
  }

  /**
   * A consumer's float view of a tensor: a DequantizeLinear of its own when the
   * tensor is quantized (ORT only fuses DQ -> op -> Q groups whose DQ has one consumer).
   */
  use(name: string): string {
    const params = this.quantizedParams.get(name);
    return params ? this.node("DequantizeLinear", [name, ...params]) : name;
  }

  private initializer(name: string, dims: number[], type: number, bytes: Uint8Array): void {
    this.initializers.push({ name, dims, dataType: type, rawData: bytes });
  }

  /** He-initialized weight (output channels on axis 0) and a small bias, both dequantized when quantized. */
  weightAndBias(name: string, dims: number[], fanIn: number, inputScale: number): [string, string] {
    const channels = dims[0] ?? 1;
    const perChannel = dims.slice(1).reduce((a, b) => a * b, 1);
    const bound = Math.sqrt(6 / fanIn);
    const values = Float32Array.from(
      { length: channels * perChannel },
      () => (this.random() * 2 - 1) * bound,
    );
    const bias = new Float32Array(channels).fill(0.01);
    if (!this.quantized) {
      this.initializers.push(
        floatTensor(`${name}_w`, dims, values),
        floatTensor(`${name}_b`, [channels], bias),
      );
      return [`${name}_w`, `${name}_b`];
    }
    const scales = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      let max = 0;
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++)
        max = Math.max(max, Math.abs(values[i] ?? 0));
      scales[c] = max > 0 ? max / 127 : 1;
    }
    const int8 = Int8Array.from(values, (v, i) => Math.round(v / (scales[Math.floor(i / perChannel)] ?? 1)));
    const biasScales = scales.map((s) => s * inputScale);
    const int32 = Int32Array.from(bias, (b, c) => Math.round(b / (biasScales[c] ?? 1)));
    const { INT8, INT32 } = onnx.TensorProto.DataType;
    this.initializer(`${name}_wq`, dims, INT8, new Uint8Array(int8.buffer));
    this.initializer(`${name}_wz`, [channels], INT8, new Uint8Array(channels));
    this.initializer(`${name}_bq`, [channels], INT32, new Uint8Array(int32.buffer));
    this.initializer(`${name}_bz`, [channels], INT32, new Uint8Array(channels * 4));
    this.initializers.push(floatTensor(`${name}_ws`, [channels], scales));
    this.initializers.push(floatTensor(`${name}_bs`, [channels], biasScales));
    const axis = [{ name: "axis", i: 0, type: INT }];
    return [
      this.node("DequantizeLinear", [`${name}_wq`, `${name}_ws`, `${name}_wz`], axis),
      this.node("DequantizeLinear", [`${name}_bq`, `${name}_bs`, `${name}_bz`], axis),
    ];
  }

  /** A constant scalar, dequantized from int8 when quantized. */
  scalar(name: string, value: number): string {
    if (!this.quantized) {
      this.initializers.push(floatTensor(name, [], Float32Array.of(value)));
      return name;
    }
    const { INT8 } = onnx.TensorProto.DataType;
    this.initializers.push(floatTensor(`${name}_s`, [], Float32Array.of(value / 127)));
    this.initializer(`${name}_q`, [], INT8, Uint8Array.of(127));
    this.initializer(`${name}_z`, [], INT8, new Uint8Array(1));
    this.quantizedParams.set(`${name}_q`, [`${name}_s`, `${name}_z`]);
    return `${name}_q`;
  }

  /** 3x3 conv, ReLU, 2x2 max pool. */
  conv(input: string, inputScale: number, name: string, inChannels: number, outChannels: number): string {
    const [w, b] = this.weightAndBias(name, [outChannels, inChannels, 3, 3], inChannels * 9, inputScale);
    const conv = this.node(
      "Conv",
      [this.use(input), w, b],
      [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1])],
    );
    const relu = this.qdq(this.node("Relu", [conv]), AFTER_RELU);
    const pool = this.node(
      "MaxPool",
      [this.use(relu)],
      [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])],
    );
    return this.qdq(pool, AFTER_RELU);
  }

  /** Dense layer as Gemm with the weight stored [outputs, inputs] (transB). */
  dense(input: string, name: string, inputs: number, outputs: number, output?: string): string {
    const [w, b] = this.weightAndBias(name, [outputs, inputs], inputs, AFTER_RELU.scale);
    return this.node("Gemm", [this.use(input), w, b], [{ name: "transB", i: 1, type: INT }], output);
  }

  /** x'_i = 0.9 x_i + 0.1 x_j for two towers (inputs are post-ReLU, so non-negative). */
  crossStitch([a, b]: [string, string], stage: number): [string, string] {
    const self = this.scalar(`stitch${stage}_self`, STITCH.self);
    const other = this.scalar(`stitch${stage}_other`, STITCH.other);
    const mix = (x: string, y: string) => {
      const kept = this.qdq(this.node("Mul", [this.use(x), this.use(self)]), AFTER_RELU);
      const taken = this.qdq(this.node("Mul", [this.use(y), this.use(other)]), AFTER_RELU);
      return this.qdq(this.node("Add", [this.use(kept), this.use(taken)]), AFTER_RELU);
    };
    return [mix(a, b), mix(b, a)];
  }
}

export function buildBenchGraph(quantized: boolean): Uint8Array {
  const g = new GraphBuilder(quantized);
  g.initializers.push(int64Tensor("flat_shape", [-1, 64 * 7 * 7]));
  const input = g.qdq(g.node("Transpose", ["image"], [ints("perm", [0, 3, 1, 2])]), SIGNED);
  const [fashion, category] = FIXTURE_TASKS;
  if (!fashion || !category) throw new Error("two tasks expected");
  let towers: [string, string] = [
    g.conv(input, SIGNED.scale, "fashion_conv1", 1, 32),
    g.conv(input, SIGNED.scale, "category_conv1", 1, 32),
  ];
  towers = g.crossStitch(towers, 1);
  towers = [
    g.conv(towers[0], AFTER_RELU.scale, "fashion_conv2", 32, 64),
    g.conv(towers[1], AFTER_RELU.scale, "category_conv2", 32, 64),
  ];
  towers = g.crossStitch(towers, 2);
  const fc = (x: string, task: string) => {
    const flat = g.qdq(g.node("Reshape", [g.use(x), "flat_shape"]), AFTER_RELU);
    return g.qdq(g.node("Relu", [g.dense(flat, `${task}_fc3`, 64 * 7 * 7, 1024)]), AFTER_RELU);
  };
  towers = g.crossStitch([fc(towers[0], "fashion"), fc(towers[1], "category")], 3);
  g.dense(towers[0], "fashion_logits_dense", 1024, fashion.classes.length, "fashion_logits");
  g.dense(towers[1], "category_logits_dense", 1024, category.classes.length, "category_logits");
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "stitch-edge benchmark graph",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "bench",
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo("image", ["batch", 28, 28, 1])],
      output: FIXTURE_TASKS.map((task) => valueInfo(`${task.name}_logits`, ["batch", task.classes.length])),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export const writeBenchArtifacts = (dir: string): Promise<Manifest> =>
  writeArtifacts(dir, { int8: buildBenchGraph(true), fp32: buildBenchGraph(false), label: "bench-random" });

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = resolve(process.argv[2] ?? BENCH_ARTIFACTS_DIR);
  const manifest = await writeBenchArtifacts(dir);
  console.log(`wrote ${manifest.modelId} (${manifest.models.int8.bytes} bytes int8) to ${dir}`);
}
