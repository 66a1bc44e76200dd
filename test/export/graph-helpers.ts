// Builds tiny graphs with seeded random weights and runs them in onnxruntime.
import * as ort from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { floatTensor, type Graph, type Tensor } from "../../export/graph.ts";
import { encodeOnnx } from "../../export/onnx.ts";

/** Seeded weights: the same generator as the training shuffle (mulberry32). */
export { createRng as seededRandom } from "../../data/dataset.ts";

export function randomTensor(dims: number[], random: () => number, lo = -1, hi = 1): Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return floatTensor(
    dims,
    Float32Array.from({ length: size }, () => lo + (hi - lo) * random()),
  );
}

/**
 * Runs a graph in onnxruntime. Int8 graphs run in the wasm build the worker ships: native x86
 * builds without VNNI saturate u8 x s8 products in their int8 kernels (full 8-bit weights).
 */
export async function runGraph(
  graph: Graph,
  feeds: Record<string, Tensor>,
  runtime: "native" | "wasm" = "native",
): Promise<Map<string, Float32Array>> {
  const model = encodeOnnx(graph, "test");
  const entries = Object.entries(feeds);
  let result: Record<string, { data: unknown }>;
  if (runtime === "wasm") {
    ortWeb.env.wasm.numThreads = 1;
    const session = await ortWeb.InferenceSession.create(model);
    result = await session.run(
      Object.fromEntries(
        entries.map(([n, t]) => [n, new ortWeb.Tensor("float32", t.data as Float32Array, [...t.dims])]),
      ),
    );
    await session.release();
  } else {
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    result = await session.run(
      Object.fromEntries(
        entries.map(([n, t]) => [n, new ort.Tensor("float32", t.data as Float32Array, [...t.dims])]),
      ),
    );
    await session.release();
  }
  return new Map(graph.outputs.map((o) => [o.name, result[o.name]?.data as Float32Array]));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - (b[i] as number))), 0);
}

export function maxAbs(a: Float32Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}
