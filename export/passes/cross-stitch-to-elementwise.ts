// Expresses a cross-stitch unit, out_i = Σ_j alpha[c, i, j] · in_j (c = channel,
// NCHW axis 1), with standard elementwise ops: one Mul per non-zero coefficient
// vector (none where it is all ones) and one Sum per output.
import {
  CROSS_STITCH_DOMAIN,
  floatData,
  floatTensor,
  type Graph,
  type GraphNode,
  isGraphOutput,
  pruneInitializers,
  renameInputs,
  requireInitializer,
} from "../graph.ts";
import { inferShapes } from "../shapes.ts";

/** alpha[:, i, j] as a tensor broadcasting over an input of the given rank (channels on axis 1). */
function coefficients(alpha: Float32Array, rows: number, towers: number, i: number, j: number, rank: number) {
  const values = Float32Array.from(
    { length: rows },
    (_, c) => alpha[(c * towers + i) * towers + j] as number,
  );
  const dims = rows === 1 ? [1] : [1, rows, ...Array.from({ length: rank - 2 }, () => 1)];
  return floatTensor(dims, values);
}

export function crossStitchToElementwise(graph: Graph): Graph {
  const unit = graph.nodes.find((n) => n.op === "CrossStitch" && n.domain === CROSS_STITCH_DOMAIN);
  if (!unit) return graph;
  const towers = unit.outputs.length;
  const alphaTensor = requireInitializer(graph, unit.inputs[towers]);
  const alpha = floatData(alphaTensor);
  const rows = alphaTensor.dims[0] as number;
  const rank = inferShapes(graph).get(unit.inputs[0] as string)?.length ?? 2;
  const initializers = new Map(graph.initializers);
  const replacement: GraphNode[] = [];
  let renames: [string, string][] = [];
  unit.outputs.forEach((output, i) => {
    const terms: string[] = [];
    for (let j = 0; j < towers; j++) {
      const coefficient = coefficients(alpha, rows, towers, i, j, rank);
      const values = floatData(coefficient);
      if (values.every((v) => v === 0)) continue;
      const input = unit.inputs[j] as string;
      if (values.every((v) => v === 1)) {
        terms.push(input);
        continue;
      }
      const name = `${unit.name}/alpha_${i}_${j}`;
      initializers.set(name, coefficient);
      const product = `${unit.name}_mul_${i}_${j}`;
      replacement.push({ name: product, op: "Mul", inputs: [input, name], outputs: [product], attrs: {} });
      terms.push(product);
    }
    if (terms.length === 0) throw new Error(`${unit.name}: output ${i} has all-zero coefficients`);
    if (terms.length > 1 || isGraphOutput(graph, output)) {
      const op = terms.length > 1 ? "Sum" : "Identity";
      replacement.push({ name: `${unit.name}_sum_${i}`, op, inputs: terms, outputs: [output], attrs: {} });
      return;
    }
    // A single term with no Mul means the output is one input as is: readers read that input.
    const term = terms[0] as string;
    const lastNode = replacement[replacement.length - 1];
    if (lastNode?.outputs[0] === term)
      replacement[replacement.length - 1] = { ...lastNode, outputs: [output] };
    else renames = [...renames, [output, term]];
  });
  let nodes = graph.nodes.flatMap((n) => (n === unit ? replacement : [n]));
  for (const [from, to] of renames) nodes = renameInputs(nodes, from, to);
  return crossStitchToElementwise(pruneInitializers({ ...graph, nodes, initializers }));
}
