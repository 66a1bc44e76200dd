// A dense layer on a flattened feature map, Flatten -> Gemm(K = C*H*W -> F), is
// a convolution whose H x W kernel covers the whole map: Conv -> [B, F, 1, 1].
// onnxruntime fuses the QDQ conv into a QLinearConv with prepacked int8
// weights; in a cross-stitch graph it leaves fc3's QDQ Gemm unfused and
// dequantizes the 3136 x 1024 weights on every run (7x slower, one image). A ReLU
// right after the layer moves in front of the Flatten, so the int8 clamp can
// absorb it.
import {
  consumersOf,
  floatData,
  floatTensor,
  type Graph,
  type GraphNode,
  intAttr,
  pruneInitializers,
  requireInitializer,
  type Tensor,
} from "../graph.ts";
import { inferShapes } from "../shapes.ts";

/** Gemm weight [C*H*W, F] with rows in NCHW flatten order -> conv kernel [F, C, H, W]. */
export function denseAsConvKernel(weight: Tensor, channels: number, height: number, width: number): Tensor {
  const [rows, features] = weight.dims as [number, number];
  const w = floatData(weight);
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++)
    for (let f = 0; f < features; f++) out[f * rows + r] = w[r * features + f] as number;
  return floatTensor([features, channels, height, width], out);
}

function match(graph: Graph, shapes: ReturnType<typeof inferShapes>, flatten: GraphNode) {
  if (flatten.op !== "Flatten" || flatten.domain !== undefined || intAttr(flatten, "axis", 1) !== 1)
    return undefined;
  const input = shapes.get(flatten.inputs[0] as string);
  // Only a real feature map: a [B, C, 1, 1] input is a plain vector, and a Gemm suits it.
  if (
    input?.length !== 4 ||
    input.slice(1).some((d) => d < 1) ||
    (input[2] as number) * (input[3] as number) < 2
  ) {
    return undefined;
  }
  const readers = consumersOf(graph, flatten.outputs[0] as string);
  const gemm = readers[0];
  if (readers.length !== 1 || gemm?.op !== "Gemm" || Object.keys(gemm.attrs).length > 0) return undefined;
  if (gemm.inputs[0] !== flatten.outputs[0] || !graph.initializers.has(gemm.inputs[1] as string))
    return undefined;
  if (gemm.inputs[2] !== undefined && !graph.initializers.has(gemm.inputs[2])) return undefined;
  const after = consumersOf(graph, gemm.outputs[0] as string);
  const relu = after.length === 1 && after[0]?.op === "Relu" ? after[0] : undefined;
  return { gemm, relu, dims: input.slice(1) as [number, number, number] };
}

export function denseToConv(graph: Graph): Graph {
  const shapes = inferShapes(graph);
  let found: ReturnType<typeof match>;
  const flatten = graph.nodes.find((n) => {
    found = match(graph, shapes, n);
    return found !== undefined;
  });
  if (!flatten || !found) return graph;
  const { gemm, relu, dims } = found;
  const kernelName = `${gemm.name}/conv_kernel`;
  const initializers = new Map(graph.initializers);
  initializers.set(kernelName, denseAsConvKernel(requireInitializer(graph, gemm.inputs[1]), ...dims));
  const last = relu ?? gemm;
  const spatial = `${gemm.name}/spatial`;
  const conv: GraphNode = {
    name: gemm.name,
    op: "Conv",
    inputs: [flatten.inputs[0] as string, kernelName, ...gemm.inputs.slice(2)],
    outputs: [relu ? `${gemm.name}/conv` : spatial],
    attrs: {},
  };
  const replacement: GraphNode[] = [
    conv,
    ...(relu ? [{ ...relu, inputs: conv.outputs, outputs: [spatial] }] : []),
    { name: flatten.name, op: "Flatten", inputs: [spatial], outputs: last.outputs, attrs: {} },
  ];
  const nodes = graph.nodes.flatMap((n) =>
    n === flatten ? replacement : n === gemm || n === relu ? [] : [n],
  );
  return denseToConv(pruneInitializers({ ...graph, nodes, initializers }));
}
