// Static int8 quantization in QDQ form. Weights: symmetric, per output channel,
// int8 in [-127, 127], biases int32 at scale s_input · s_weight. Activations:
// asymmetric int8 with a range calibrated beforehand. onnxruntime fuses each
// DequantizeLinear -> Conv/Gemm -> QuantizeLinear group into one integer kernel.
import {
  consumersOf,
  floatData,
  type Graph,
  type GraphNode,
  int,
  intAttr,
  isGraphOutput,
  producerOf,
  pruneInitializers,
  renameInputs,
  requireInitializer,
  type Tensor,
} from "./graph.ts";

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface ActivationParams {
  readonly scale: number;
  readonly zeroPoint: number;
}

const LINEAR_OPS = new Set(["Conv", "Gemm", "MatMul"]);
/** Ops that only move or select values: their output keeps their input's quantization, so ORT drops the QDQ pair around them. */
const PASS_THROUGH_OPS = new Set(["MaxPool", "Flatten", "Reshape", "Identity"]);

/** Weight axis holding the output channels of a linear node. */
function weightAxis(node: GraphNode): number {
  return node.op === "Conv" ? 0 : intAttr(node, "transB", 0) === 1 ? 0 : 1;
}

/**
 * Activation tensors that get a QuantizeLinear/DequantizeLinear pair: the inputs of every
 * linear node, its output (after the ReLU that follows it, which the int8 clamp then replaces),
 * and whatever a pass-through op makes of a quantized tensor. Graph outputs stay float.
 */
export function quantizedActivations(graph: Graph): string[] {
  const chosen = new Set<string>();
  for (const node of graph.nodes) {
    if (node.domain !== undefined || !LINEAR_OPS.has(node.op)) continue;
    chosen.add(node.inputs[0] as string);
    const output = node.outputs[0] as string;
    const readers = consumersOf(graph, output);
    const relu = readers.length === 1 && readers[0]?.op === "Relu" ? readers[0] : undefined;
    const quantized = relu ? (relu.outputs[0] as string) : output;
    if (!isGraphOutput(graph, quantized)) chosen.add(quantized);
  }
  for (const node of graph.nodes) {
    const output = node.outputs[0] as string;
    if (
      PASS_THROUGH_OPS.has(node.op) &&
      chosen.has(node.inputs[0] as string) &&
      !isGraphOutput(graph, output)
    ) {
      chosen.add(output);
    }
  }
  // Producer order, so a pass-through op's input is resolved before its output.
  const order = (name: string) => graph.nodes.findIndex((n) => n.outputs.includes(name));
  return [...chosen].sort((a, b) => order(a) - order(b));
}

/** Asymmetric int8 parameters covering `range` (always including 0, so zero is exact). */
export function activationParams(range: Range): ActivationParams {
  const lo = Math.min(0, range.min);
  const hi = Math.max(0, range.max);
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  const zeroPoint = Math.max(-128, Math.min(127, Math.round(-128 - lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric per-channel int8 quantization of a float weight along `axis`. */
export function quantizeWeight(weight: Tensor, axis: number): { values: Int8Array; scales: Float32Array } {
  const w = floatData(weight);
  const channels = weight.dims[axis] as number;
  const inner = weight.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const maxAbs = new Float32Array(channels);
  w.forEach((v, i) => {
    const c = channelOf(i);
    maxAbs[c] = Math.max(maxAbs[c] as number, Math.abs(v));
  });
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1));
  const values = new Int8Array(w.length);
  w.forEach((v, i) => {
    values[i] = Math.max(-127, Math.min(127, Math.round(v / (scales[channelOf(i)] as number))));
  });
  return { values, scales };
}

const scalar = (value: number): Tensor => ({ dtype: "float32", dims: [], data: Float32Array.of(value) });

/** The QDQ graph: `params` must hold every tensor of quantizedActivations(graph). */
export function quantizeGraph(graph: Graph, params: ReadonlyMap<string, ActivationParams>): Graph {
  const initializers = new Map(graph.initializers);
  let nodes: GraphNode[] = [...graph.nodes];
  /** Dequantized tensor name -> the float tensor it stands for. */
  const dequantized = new Map<string, string>();

  // Pass-through ops share their input's parameters exactly: the pair around them then cancels.
  const resolved = new Map<string, ActivationParams>();
  for (const name of quantizedActivations(graph)) {
    const producer = producerOf(graph, name);
    const shared =
      producer && PASS_THROUGH_OPS.has(producer.op) ? resolved.get(producer.inputs[0] as string) : undefined;
    const own = params.get(name);
    if (!shared && !own) throw new Error(`no calibrated range for activation ${name}`);
    resolved.set(name, (shared ?? own) as ActivationParams);
  }
  for (const [name, p] of resolved) {
    initializers.set(`${name}/scale`, scalar(p.scale));
    initializers.set(`${name}/zero_point`, { dtype: "int8", dims: [], data: Int8Array.of(p.zeroPoint) });
    const qdq: GraphNode[] = [
      {
        name: `${name}/quantize`,
        op: "QuantizeLinear",
        inputs: [name, `${name}/scale`, `${name}/zero_point`],
        outputs: [`${name}/q`],
        attrs: {},
      },
      {
        name: `${name}/dequantize`,
        op: "DequantizeLinear",
        inputs: [`${name}/q`, `${name}/scale`, `${name}/zero_point`],
        outputs: [`${name}/dq`],
        attrs: {},
      },
    ];
    nodes = renameInputs(nodes, name, `${name}/dq`);
    const at = nodes.findIndex((n) => n.outputs.includes(name));
    nodes.splice(at + 1, 0, ...qdq);
    dequantized.set(`${name}/dq`, name);
  }

  nodes = nodes.flatMap((node) => {
    if (node.domain !== undefined || !LINEAR_OPS.has(node.op)) return [node];
    const weightName = node.inputs[1] as string;
    const axis = weightAxis(node);
    const { values, scales } = quantizeWeight(requireInitializer(graph, weightName), axis);
    const weight = requireInitializer(graph, weightName);
    const wq = `${node.name}/weight_int8`;
    initializers.set(wq, { dtype: "int8", dims: weight.dims, data: values });
    initializers.set(`${wq}/scale`, { dtype: "float32", dims: [scales.length], data: scales });
    initializers.set(`${wq}/zero_point`, {
      dtype: "int8",
      dims: [scales.length],
      data: new Int8Array(scales.length),
    });
    const added: GraphNode[] = [
      {
        name: `${wq}/dequantize`,
        op: "DequantizeLinear",
        inputs: [wq, `${wq}/scale`, `${wq}/zero_point`],
        outputs: [`${wq}/dq`],
        attrs: { axis: int(axis) },
      },
    ];
    const inputs = [...node.inputs];
    inputs[1] = `${wq}/dq`;
    const inputParams = resolved.get(dequantized.get(node.inputs[0] as string) ?? "");
    const biasName = node.inputs[2];
    if (biasName !== undefined && inputParams) {
      const bias = floatData(requireInitializer(graph, biasName));
      const biasScales = scales.map((s) => s * inputParams.scale);
      const bq = `${node.name}/bias_int32`;
      initializers.set(bq, {
        dtype: "int32",
        dims: [bias.length],
        data: Int32Array.from(bias, (b, c) => Math.round(b / (biasScales[c] as number))),
      });
      initializers.set(`${bq}/scale`, { dtype: "float32", dims: [bias.length], data: biasScales });
      initializers.set(`${bq}/zero_point`, {
        dtype: "int32",
        dims: [bias.length],
        data: new Int32Array(bias.length),
      });
      added.push({
        name: `${bq}/dequantize`,
        op: "DequantizeLinear",
        inputs: [bq, `${bq}/scale`, `${bq}/zero_point`],
        outputs: [`${bq}/dq`],
        attrs: { axis: int(0) },
      });
      inputs[2] = `${bq}/dq`;
    }
    return [...added, { ...node, inputs }];
  });
  return pruneInitializers({ ...graph, name: `${graph.name}_int8`, nodes, initializers });
}
