// Static shape inference for the ops the export emits. Passes need shapes to
// decide whether a pattern applies (channel counts, spatial extents); the batch
// dimension stays symbolic (-1).
import { CROSS_STITCH_DOMAIN, type Graph, type GraphNode, intAttr } from "./graph.ts";

type Shape = readonly number[];

function ints(node: GraphNode, name: string): readonly number[] | undefined {
  const attr = node.attrs[name];
  return attr?.kind === "ints" ? attr.value : undefined;
}

function constInts(graph: Graph, name: string | undefined): number[] {
  const tensor = name === undefined ? undefined : graph.initializers.get(name);
  if (!tensor || !(tensor.data instanceof BigInt64Array))
    throw new Error(`expected an int64 initializer ${name}`);
  return [...tensor.data].map(Number);
}

function reshape(input: Shape, target: readonly number[]): Shape {
  const dims = target.map((d, i) => (d === 0 ? (input[i] as number) : d));
  const known = input.every((d) => d >= 0);
  const inferIndex = dims.indexOf(-1);
  if (inferIndex < 0 || !known) return dims;
  const total = input.reduce((a, b) => a * b, 1);
  const rest = dims.reduce((a, b, i) => (i === inferIndex ? a : a * b), 1);
  return dims.map((d, i) => (i === inferIndex ? total / rest : d));
}

function spatial(node: GraphNode, input: Shape, kernel: readonly number[]): number[] {
  const pads = ints(node, "pads") ?? [...kernel, ...kernel].map(() => 0);
  const strides = ints(node, "strides") ?? kernel.map(() => 1);
  return kernel.map((k, i) => {
    const size = input[2 + i] as number;
    const padded = size + (pads[i] as number) + (pads[i + kernel.length] as number);
    return Math.floor((padded - k) / (strides[i] as number)) + 1;
  });
}

function outputShapes(graph: Graph, node: GraphNode, shapeOf: (name: string) => Shape): Shape[] {
  const x = shapeOf(node.inputs[0] as string);
  if (node.domain === CROSS_STITCH_DOMAIN) return node.outputs.map(() => x);
  switch (node.op) {
    case "Relu":
    case "Identity":
    case "BatchNormalization":
    case "Dropout":
    case "QuantizeLinear":
    case "DequantizeLinear":
    case "Mul":
    case "Add":
    case "Sum":
      return [x];
    case "Conv": {
      const w = shapeOf(node.inputs[1] as string);
      return [[x[0] as number, w[0] as number, ...spatial(node, x, w.slice(2))]];
    }
    case "MaxPool":
      return [[x[0] as number, x[1] as number, ...spatial(node, x, ints(node, "kernel_shape") ?? [])]];
    case "Flatten":
      return [[x[0] as number, x.slice(1).reduce((a, b) => a * b, 1)]];
    case "Gemm":
    case "MatMul": {
      const w = shapeOf(node.inputs[1] as string);
      return [[...x.slice(0, -1), w[w.length - 1] as number]];
    }
    case "Reshape":
      return [reshape(x, constInts(graph, node.inputs[1]))];
    case "ReduceSum": {
      const axes = constInts(graph, node.inputs[1]).map((a) => (a < 0 ? a + x.length : a));
      const keep = intAttr(node, "keepdims", 1) === 1;
      return [x.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]))];
    }
    case "Split": {
      const axis = intAttr(node, "axis", 0);
      return constInts(graph, node.inputs[1]).map((size) => x.map((d, i) => (i === axis ? size : d)));
    }
    case "Concat": {
      const axis = intAttr(node, "axis", 0);
      const total = node.inputs.reduce((sum, name) => sum + (shapeOf(name)[axis] as number), 0);
      return [x.map((d, i) => (i === axis ? total : d))];
    }
    default:
      throw new Error(`no shape rule for op ${node.op} (node ${node.name})`);
  }
}

/** Shape of every tensor in the graph, keyed by name. */
export function inferShapes(graph: Graph): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const input of graph.inputs) shapes.set(input.name, input.dims);
  for (const [name, tensor] of graph.initializers) shapes.set(name, tensor.dims);
  const shapeOf = (name: string): Shape => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`tensor ${name} is read before it is produced`);
    return shape;
  };
  for (const node of graph.nodes) {
    outputShapes(graph, node, shapeOf).forEach((shape, i) => {
      shapes.set(node.outputs[i] as string, shape);
    });
  }
  return shapes;
}
