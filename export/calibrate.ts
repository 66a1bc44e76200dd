// Activation ranges for static quantization, from the float graph run over a
// sample of training images: exact min/max, or a percentile of a histogram,
// which ignores the rare outliers that would otherwise stretch the int8 grid.
import type { Graph } from "./graph.ts";
import { runBatches } from "./ort-session.ts";
import type { Range } from "./quantize.ts";
import { inferShapes } from "./shapes.ts";

export type CalibrationMethod =
  | { readonly kind: "minmax" }
  | { readonly kind: "percentile"; readonly percentile: number };

export const describeMethod = (m: CalibrationMethod): string =>
  m.kind === "minmax" ? "minmax" : `percentile ${m.percentile}`;

const BINS = 2048;

export interface Histogram {
  readonly min: number;
  readonly max: number;
  readonly counts: Float64Array;
}

/** The graph with `tensors` exposed as extra outputs, so one run sees them all. */
function exposing(graph: Graph, tensors: readonly string[]): Graph {
  const shapes = inferShapes(graph);
  const extra = tensors
    .filter((t) => !graph.outputs.some((o) => o.name === t))
    .map((name) => ({ name, dims: shapes.get(name) ?? [] }));
  return { ...graph, outputs: [...graph.outputs, ...extra] };
}

/** Histograms of each tensor over the images; two passes (range, then counts). */
export async function collectHistograms(
  model: (graph: Graph) => Uint8Array,
  graph: Graph,
  inputName: string,
  images: Float32Array,
  tensors: readonly string[],
): Promise<Map<string, Histogram>> {
  const bytes = model(exposing(graph, tensors));
  const ranges = new Map(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  await runBatches(bytes, "native", inputName, images, (outputs) => {
    for (const [name, range] of ranges) {
      for (const v of outputs.get(name) as Float32Array) {
        if (v < range.min) range.min = v;
        if (v > range.max) range.max = v;
      }
    }
  });
  const histograms = new Map(
    [...ranges].map(([name, r]) => [
      name,
      { min: Math.min(0, r.min), max: Math.max(0, r.max), counts: new Float64Array(BINS) },
    ]),
  );
  await runBatches(bytes, "native", inputName, images, (outputs) => {
    for (const [name, h] of histograms) {
      const width = (h.max - h.min) / BINS || 1;
      for (const v of outputs.get(name) as Float32Array) {
        const bin = Math.min(BINS - 1, Math.floor((v - h.min) / width));
        h.counts[bin] = (h.counts[bin] as number) + 1;
      }
    }
  });
  return histograms;
}

/** The range that `method` keeps of a tensor's histogram. */
export function calibratedRange(h: Histogram, method: CalibrationMethod): Range {
  if (method.kind === "minmax") return { min: h.min, max: h.max };
  const total = h.counts.reduce((a, b) => a + b, 0);
  const tail = (total * (100 - method.percentile)) / 100;
  const width = (h.max - h.min) / BINS;
  let below = 0;
  let lo = 0;
  while (lo < BINS - 1 && below + (h.counts[lo] as number) <= tail) below += h.counts[lo++] as number;
  let above = 0;
  let hi = BINS - 1;
  while (hi > lo && above + (h.counts[hi] as number) <= tail) above += h.counts[hi--] as number;
  return { min: h.min + lo * width, max: h.min + (hi + 1) * width };
}
