// Activation ranges for static quantization, from the float graph run over a
// sample of training images: exact min/max; a percentile of a histogram, which
// ignores the rare outliers that would otherwise stretch the int8 grid; or the
// clipping point that loses least information (entropy, as TensorRT calibrates).
import type { Graph } from "./graph.ts";
import { runBatches } from "./ort-session.ts";
import { type ActivationParams, activationParams, type Range } from "./quantize.ts";
import { inferShapes } from "./shapes.ts";

export type CalibrationMethod =
  | { readonly kind: "minmax" }
  | { readonly kind: "percentile"; readonly percentile: number }
  | { readonly kind: "entropy" };

export const describeMethod = (m: CalibrationMethod): string =>
  m.kind === "percentile" ? `percentile ${m.percentile}` : m.kind;

/** int8 activations: 255 steps between the range's ends. */
const LEVELS = 255;

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

/**
 * KL divergence between the histogram clipped at bin `end` (outliers piled into its last bin)
 * and the same clipped histogram after rounding to LEVELS evenly spaced values.
 */
function clippingDivergence(counts: Float64Array, end: number): number {
  const reference = counts.slice(0, end);
  let outliers = 0;
  for (let b = end; b < counts.length; b++) outliers += counts[b] as number;
  reference[end - 1] = (reference[end - 1] as number) + outliers;
  const quantized = new Float64Array(end);
  for (let level = 0; level < LEVELS; level++) {
    const from = Math.floor((level * end) / LEVELS);
    const to = Math.floor(((level + 1) * end) / LEVELS);
    let sum = 0;
    let used = 0;
    for (let b = from; b < to; b++) {
      sum += counts[b] as number;
      if ((counts[b] as number) > 0) used++;
    }
    // Spread each level's mass over the bins that held values, as TensorRT's calibrator does.
    for (let b = from; b < to; b++) if ((counts[b] as number) > 0) quantized[b] = sum / used;
  }
  const p = reference.reduce((a, b) => a + b, 0);
  const q = quantized.reduce((a, b) => a + b, 0);
  let divergence = 0;
  for (let b = 0; b < end; b++) {
    const pb = (reference[b] as number) / p;
    if (pb === 0) continue;
    const qb = Math.max((quantized[b] as number) / q, 1e-12);
    divergence += pb * Math.log(pb / qb);
  }
  return divergence;
}

/** The range that `method` keeps of a tensor's histogram. */
export function calibratedRange(h: Histogram, method: CalibrationMethod): Range {
  if (method.kind === "minmax") return { min: h.min, max: h.max };
  const width = (h.max - h.min) / BINS;
  if (method.kind === "entropy") {
    let best = BINS;
    let bestDivergence = Infinity;
    for (let end = LEVELS; end <= BINS; end += 8) {
      const divergence = clippingDivergence(h.counts, end);
      if (divergence < bestDivergence) [best, bestDivergence] = [end, divergence];
    }
    return { min: h.min, max: h.min + best * width };
  }
  const total = h.counts.reduce((a, b) => a + b, 0);
  const tail = (total * (100 - method.percentile)) / 100;
  let below = 0;
  let lo = 0;
  while (lo < BINS - 1 && below + (h.counts[lo] as number) <= tail) below += h.counts[lo++] as number;
  let above = 0;
  let hi = BINS - 1;
  while (hi > lo && above + (h.counts[hi] as number) <= tail) above += h.counts[hi--] as number;
  return { min: h.min + lo * width, max: h.min + (hi + 1) * width };
}

/** Every activation's int8 parameters under one calibration method. */
export function calibratedParams(
  histograms: ReadonlyMap<string, Histogram>,
  method: CalibrationMethod,
): Map<string, ActivationParams> {
  return new Map([...histograms].map(([name, h]) => [name, activationParams(calibratedRange(h, method))]));
}
