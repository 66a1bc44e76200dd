// Folds an inference batch-norm into the conv or dense layer that feeds it:
// y = γ (Wx + b − μ) / √(σ² + ε) + β  =  W'x + b'  with
// W' = W · γ/√(σ²+ε) per output channel and b' = (b − μ) · γ/√(σ²+ε) + β.
import {
  consumersOf,
  floatData,
  floatTensor,
  type Graph,
  type GraphNode,
  intAttr,
  producerOf,
  pruneInitializers,
  requireInitializer,
} from "../graph.ts";

/** The layer's output-channel axis in its weight, or undefined when it cannot be folded into. */
function outputAxis(layer: GraphNode): number | undefined {
  if (layer.op === "Conv") return 0;
  if (layer.op === "Gemm" && intAttr(layer, "transB", 0) === 0 && intAttr(layer, "transA", 0) === 0) return 1;
  return undefined;
}

function foldable(graph: Graph, bn: GraphNode): GraphNode | undefined {
  if (bn.op !== "BatchNormalization" || bn.domain !== undefined || bn.outputs.length !== 1) return undefined;
  if (!bn.inputs.slice(1).every((name) => graph.initializers.has(name))) return undefined;
  const layer = producerOf(graph, bn.inputs[0] as string);
  if (!layer || outputAxis(layer) === undefined || layer.domain !== undefined) return undefined;
  if (consumersOf(graph, bn.inputs[0] as string).length !== 1) return undefined;
  if (!graph.initializers.has(layer.inputs[1] as string)) return undefined;
  if (layer.inputs[2] !== undefined && !graph.initializers.has(layer.inputs[2])) return undefined;
  return layer;
}

export function foldBatchNorm(graph: Graph): Graph {
  let layer: GraphNode | undefined;
  const bn = graph.nodes.find((n) => {
    layer = foldable(graph, n);
    return layer !== undefined;
  });
  if (!bn || !layer) return graph;
  const [gamma, beta, mean, variance] = bn.inputs
    .slice(1)
    .map((n) => floatData(requireInitializer(graph, n)));
  const attr = bn.attrs.epsilon;
  const epsilon = attr?.kind === "float" ? attr.value : 1e-5;
  const kernel = requireInitializer(graph, layer.inputs[1]);
  const axis = outputAxis(layer) as number;
  const channels = kernel.dims[axis] as number;
  const scale = Float32Array.from({ length: channels }, (_, c) => {
    return (gamma?.[c] as number) / Math.sqrt((variance?.[c] as number) + epsilon);
  });
  const w = floatData(kernel);
  const folded = new Float32Array(w.length);
  // Output channel of flat index i: axis 0 -> i / (size/channels); axis 1 of [K, N] -> i % N.
  const inner = w.length / channels;
  for (let i = 0; i < w.length; i++) {
    const c = axis === 0 ? Math.floor(i / inner) : i % channels;
    folded[i] = (w[i] as number) * (scale[c] as number);
  }
  const oldBias =
    layer.inputs[2] === undefined ? undefined : floatData(requireInitializer(graph, layer.inputs[2]));
  const bias = Float32Array.from({ length: channels }, (_, c) => {
    return ((oldBias?.[c] ?? 0) - (mean?.[c] as number)) * (scale[c] as number) + (beta?.[c] as number);
  });
  const kernelName = `${layer.name}/folded_kernel`;
  const biasName = `${layer.name}/folded_bias`;
  const initializers = new Map(graph.initializers);
  initializers.set(kernelName, floatTensor(kernel.dims, folded));
  initializers.set(biasName, floatTensor([channels], bias));
  const foldedLayer: GraphNode = {
    ...layer,
    inputs: [layer.inputs[0] as string, kernelName, biasName],
    outputs: bn.outputs,
  };
  const nodes = graph.nodes.flatMap((n) => (n === bn ? [] : n === layer ? [foldedLayer] : [n]));
  return foldBatchNorm(pruneInitializers({ ...graph, nodes, initializers }));
}
