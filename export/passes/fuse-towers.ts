// Merges N identical towers that read the same tensor into one wide tower, so
// the runtime runs a few large kernels instead of N small ones:
//   N convs on the same input     -> one conv with N x C_out channels
//   N convs on the towers' slices -> one grouped conv (group = N)
//   N flatten+dense on the slices -> one grouped conv whose kernel covers H x W
//   Relu / MaxPool                -> applied once to the wide tensor
//   a cross-stitch unit           -> a channel mix on the wide tensor
//                                    (Reshape, Mul by alpha, ReduceSum, Reshape)
// Tower t owns channels [t*C, (t+1)*C) of the wide tensor. Where the towers stop
// being alike (the task heads), a Split hands each tower its slice back.
import {
  type Attr,
  CROSS_STITCH_DOMAIN,
  consumersOf,
  floatData,
  floatTensor,
  type Graph,
  type GraphNode,
  int,
  int64Tensor,
  intAttr,
  isGraphOutput,
  pruneInitializers,
  requireInitializer,
  sortTopologically,
  type Tensor,
} from "../graph.ts";
import { inferShapes } from "../shapes.ts";
import { denseAsConvKernel } from "./dense-to-conv.ts";

interface Wide {
  /** The wide tensor [B, N*C, H, W]. */
  readonly tensor: string;
  /** The per-tower tensors it stands for, in tower order. */
  readonly members: readonly string[];
  readonly channels: number;
}

const sameAttrs = (a: GraphNode, b: GraphNode) => JSON.stringify(a.attrs) === JSON.stringify(b.attrs);

function concatOuter(tensors: readonly Tensor[], dims: readonly number[]): Tensor {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(floatData(t), offset);
    offset += t.data.length;
  }
  return floatTensor(dims, out);
}

/** Convs in tower order (group 1, with bias, same attributes and weight shape), or undefined. */
function alikeConvs(graph: Graph, nodes: readonly GraphNode[]): GraphNode[] | undefined {
  const first = nodes[0];
  if (!first || nodes.length < 2) return undefined;
  const shape = (n: GraphNode) => graph.initializers.get(n.inputs[1] as string)?.dims.join(",");
  const ok = nodes.every(
    (n) =>
      n.op === "Conv" &&
      n.domain === undefined &&
      n.inputs.length === 3 &&
      intAttr(n, "group", 1) === 1 &&
      sameAttrs(n, first) &&
      shape(n) !== undefined &&
      shape(n) === shape(first) &&
      graph.initializers.has(n.inputs[2] as string),
  );
  return ok ? [...nodes] : undefined;
}

/** The first tensor read by two or more alike convs, as the start of a wide tower. */
function findStart(graph: Graph): GraphNode[] | undefined {
  for (const node of graph.nodes) {
    const convs = alikeConvs(
      graph,
      consumersOf(graph, node.outputs[0] as string).filter((n) => n.op === "Conv"),
    );
    if (convs) return convs;
  }
  for (const input of graph.inputs) {
    const convs = alikeConvs(
      graph,
      consumersOf(graph, input.name).filter((n) => n.op === "Conv"),
    );
    if (convs) return convs;
  }
  return undefined;
}

export function fuseTowers(graph: Graph): Graph {
  const start = findStart(graph);
  if (!start) return graph;
  const shapes = inferShapes(graph);
  const towers = start.length;
  const initializers = new Map(graph.initializers);
  const removed = new Set<GraphNode>(start);
  const added: GraphNode[] = [];
  const name = (base: string) => `fused/${base}`;

  const wideConv = (convs: GraphNode[], input: string, group: number, kernel?: Tensor[]): Wide => {
    const first = convs[0] as GraphNode;
    const kernels = kernel ?? convs.map((c) => requireInitializer(graph, c.inputs[1]));
    const k0 = kernels[0] as Tensor;
    const out = k0.dims[0] as number;
    initializers.set(name(`${first.name}/kernel`), concatOuter(kernels, [towers * out, ...k0.dims.slice(1)]));
    const biases = convs.map((c) => requireInitializer(graph, c.inputs[2]));
    initializers.set(name(`${first.name}/bias`), concatOuter(biases, [towers * out]));
    const attrs: Record<string, Attr> = kernel ? {} : { ...first.attrs };
    if (group > 1) attrs.group = int(group);
    const inputs = [input, name(`${first.name}/kernel`), name(`${first.name}/bias`)];
    added.push({ name: name(first.name), op: "Conv", inputs, outputs: [name(first.name)], attrs });
    return { tensor: name(first.name), members: convs.map((c) => c.outputs[0] as string), channels: out };
  };

  let wide = wideConv(start, start[0]?.inputs[0] as string, 1);
  for (;;) {
    if (wide.members.some((m) => isGraphOutput(graph, m))) break;
    const next = wide.members.map((m) => consumersOf(graph, m));
    if (next.some((readers) => readers.length !== 1)) break;
    const nodes = next.map((readers) => readers[0] as GraphNode);
    const first = nodes[0] as GraphNode;
    const unit = nodes.every((n) => n === first) && first.domain === CROSS_STITCH_DOMAIN ? first : undefined;
    const elementwise =
      ["Relu", "MaxPool"].includes(first.op) && nodes.every((n) => n.op === first.op && sameAttrs(n, first));
    const convs = alikeConvs(graph, nodes);
    const flattens = nodes.every((n) => n.op === "Flatten" && intAttr(n, "axis", 1) === 1)
      ? nodes.map((n) => consumersOf(graph, n.outputs[0] as string))
      : undefined;
    const dense =
      flattens?.every(
        (r) => r.length === 1 && r[0]?.op === "Gemm" && Object.keys(r[0].attrs).length === 0,
      ) === true
        ? flattens.map((r) => r[0] as GraphNode)
        : undefined;

    if (unit?.inputs.slice(0, towers).every((input, i) => input === wide.members[i])) {
      const [, , height, width] = shapes.get(wide.members[0] as string) ?? [];
      const spatial = (height ?? 1) * (width ?? 1);
      const alphaTensor = requireInitializer(graph, unit.inputs[towers]);
      const alpha = floatData(alphaTensor);
      const rows = alphaTensor.dims[0] as number;
      // mix[i, j, c] = alpha[c, i, j]: [N, N, rows, 1] broadcasts against [B, 1, N, C, H*W].
      const mix = new Float32Array(towers * towers * rows);
      for (let c = 0; c < rows; c++)
        for (let i = 0; i < towers; i++)
          for (let j = 0; j < towers; j++)
            mix[(i * towers + j) * rows + c] = alpha[(c * towers + i) * towers + j] as number;
      const n = (s: string) => name(`${unit.name}/${s}`);
      initializers.set(n("split_shape"), int64Tensor([-1, 1, towers, wide.channels, spatial]));
      initializers.set(n("mix"), floatTensor([towers, towers, rows, 1], mix));
      initializers.set(n("axes"), int64Tensor([2]));
      const outputShape = shapes.get(wide.members[0] as string)?.slice(2) ?? [];
      initializers.set(n("wide_shape"), int64Tensor([-1, towers * wide.channels, ...outputShape]));
      added.push(
        {
          name: n("reshape_in"),
          op: "Reshape",
          inputs: [wide.tensor, n("split_shape")],
          outputs: [n("towers")],
          attrs: {},
        },
        { name: n("mul"), op: "Mul", inputs: [n("towers"), n("mix")], outputs: [n("products")], attrs: {} },
        {
          name: n("sum"),
          op: "ReduceSum",
          inputs: [n("products"), n("axes")],
          outputs: [n("mixed")],
          attrs: { keepdims: int(0) },
        },
        {
          name: n("reshape_out"),
          op: "Reshape",
          inputs: [n("mixed"), n("wide_shape")],
          outputs: [name(unit.name)],
          attrs: {},
        },
      );
      removed.add(unit);
      wide = { ...wide, tensor: name(unit.name), members: unit.outputs };
    } else if (elementwise) {
      added.push({ ...first, name: name(first.name), inputs: [wide.tensor], outputs: [name(first.name)] });
      for (const n of nodes) removed.add(n);
      wide = { ...wide, tensor: name(first.name), members: nodes.map((n) => n.outputs[0] as string) };
    } else if (convs?.every((c, i) => c.inputs[0] === wide.members[i])) {
      for (const n of convs) removed.add(n);
      wide = wideConv(convs, wide.tensor, towers);
    } else if (dense && shapes.get(wide.members[0] as string)?.length === 4) {
      const [, channels, height, width] = shapes.get(wide.members[0] as string) as number[];
      const kernels = dense.map((d) => requireInitializer(graph, d.inputs[1]));
      if (kernels.some((k) => k.dims[0] !== (channels as number) * (height as number) * (width as number)))
        break;
      for (const n of [...nodes, ...dense]) removed.add(n);
      wide = wideConv(
        dense,
        wide.tensor,
        towers,
        kernels.map((k) => denseAsConvKernel(k, channels as number, height as number, width as number)),
      );
    } else {
      break;
    }
  }

  // Hand each tower its slice back; a tower that was flat [B, F] gets its [B, F, 1, 1] slice flattened.
  initializers.set(name("split_sizes"), int64Tensor(wide.members.map(() => wide.channels)));
  const flat = (member: string) => shapes.get(member)?.length === 2;
  const slices = wide.members.map((m) => (flat(m) ? name(`${m}/slice`) : m));
  added.push({
    name: name("split"),
    op: "Split",
    inputs: [wide.tensor, name("split_sizes")],
    outputs: slices,
    attrs: { axis: int(1) },
  });
  wide.members.forEach((member, i) => {
    if (!flat(member)) return;
    added.push({
      name: name(`${member}/flatten`),
      op: "Flatten",
      inputs: [slices[i] as string],
      outputs: [member],
      attrs: {},
    });
  });
  const nodes = [...graph.nodes.filter((n) => !removed.has(n)), ...added];
  return fuseTowers(pruneInitializers(sortTopologically({ ...graph, nodes, initializers })));
}
