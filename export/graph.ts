// The export stage's graph: the ONNX data model (nodes, named tensors,
// initializers) as plain immutable values, so that every pass is a pure
// function Graph -> Graph and the writer is the only place that knows protobuf.

export type DType = "float32" | "int8" | "int32" | "int64";

export type TensorData = Float32Array | Int8Array | Int32Array | BigInt64Array;

export interface Tensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

export type Attr =
  | { readonly kind: "int"; readonly value: number }
  | { readonly kind: "float"; readonly value: number }
  | { readonly kind: "ints"; readonly value: readonly number[] };

export interface GraphNode {
  readonly name: string;
  readonly op: string;
  /** Absent for the default ONNX domain. */
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

export interface ValueInfo {
  readonly name: string;
  /** -1 marks the (symbolic) batch dimension. */
  readonly dims: readonly number[];
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  /** Topologically ordered. */
  readonly nodes: readonly GraphNode[];
  readonly initializers: ReadonlyMap<string, Tensor>;
}

export const CROSS_STITCH_DOMAIN = "stitch.edge";

export function floatTensor(dims: readonly number[], data: Float32Array): Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length)
    throw new Error(`tensor of dims [${dims}] needs ${size} values, got ${data.length}`);
  return { dtype: "float32", dims, data };
}

export function int64Tensor(values: readonly number[]): Tensor {
  return { dtype: "int64", dims: [values.length], data: BigInt64Array.from(values.map((v) => BigInt(v))) };
}

export const ints = (value: readonly number[]): Attr => ({ kind: "ints", value });
export const int = (value: number): Attr => ({ kind: "int", value });
export const float = (value: number): Attr => ({ kind: "float", value });

export function intAttr(node: GraphNode, name: string, fallback: number): number {
  const attr = node.attrs[name];
  return attr?.kind === "int" ? attr.value : fallback;
}

export function consumersOf(graph: Graph, tensor: string): GraphNode[] {
  return graph.nodes.filter((n) => n.inputs.includes(tensor));
}

export function producerOf(graph: Graph, tensor: string): GraphNode | undefined {
  return graph.nodes.find((n) => n.outputs.includes(tensor));
}

export function isGraphOutput(graph: Graph, tensor: string): boolean {
  return graph.outputs.some((o) => o.name === tensor);
}

export function requireInitializer(graph: Graph, name: string | undefined): Tensor {
  const tensor = name === undefined ? undefined : graph.initializers.get(name);
  if (!tensor) throw new Error(`initializer ${name ?? "(missing input)"} not found`);
  return tensor;
}

export function floatData(tensor: Tensor): Float32Array {
  if (!(tensor.data instanceof Float32Array))
    throw new Error(`expected a float32 tensor, got ${tensor.dtype}`);
  return tensor.data;
}

/** Drops initializers no node reads any more. */
export function pruneInitializers(graph: Graph): Graph {
  const used = new Set(graph.nodes.flatMap((n) => n.inputs));
  const kept = new Map([...graph.initializers].filter(([name]) => used.has(name)));
  return kept.size === graph.initializers.size ? graph : { ...graph, initializers: kept };
}

/** Re-points every read of `from` to `to` (graph outputs keep their names: callers rename producers instead). */
export function renameInputs(nodes: readonly GraphNode[], from: string, to: string): GraphNode[] {
  return nodes.map((n) =>
    n.inputs.includes(from) ? { ...n, inputs: n.inputs.map((i) => (i === from ? to : i)) } : n,
  );
}

/** Orders nodes so that every tensor is produced before it is read (Kahn's algorithm, stable). */
export function sortTopologically(graph: Graph): Graph {
  const available = new Set([...graph.inputs.map((i) => i.name), ...graph.initializers.keys(), ""]);
  const pending = [...graph.nodes];
  const ordered: GraphNode[] = [];
  while (pending.length > 0) {
    const index = pending.findIndex((n) => n.inputs.every((i) => available.has(i)));
    if (index < 0) throw new Error(`graph has a cycle or a dangling input near node ${pending[0]?.name}`);
    const [node] = pending.splice(index, 1) as [GraphNode];
    ordered.push(node);
    for (const o of node.outputs) available.add(o);
  }
  return { ...graph, nodes: ordered };
}
