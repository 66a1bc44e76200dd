// Dropout is the identity at inference: remove it and let its readers read its input.
import { type Graph, isGraphOutput, renameInputs } from "../graph.ts";

export function dropDropout(graph: Graph): Graph {
  const dropout = graph.nodes.find((n) => n.op === "Dropout" && n.domain === undefined);
  if (!dropout) return graph;
  const [input, output] = [dropout.inputs[0] as string, dropout.outputs[0] as string];
  // Its optional mask output, or a graph output fed straight from it, would need the tensor kept.
  if (dropout.outputs.length > 1 || isGraphOutput(graph, output)) return graph;
  const nodes = renameInputs(
    graph.nodes.filter((n) => n !== dropout),
    output,
    input,
  );
  return dropDropout({ ...graph, nodes });
}
