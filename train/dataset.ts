// Input pipeline: z-score statistics, seeded shuffling and subsets.
import type { Split } from "./data.ts";
import { PIXELS_PER_IMAGE } from "./data.ts";

/**
 * "global" (the default): one mean and std over every training pixel. Robust for
 * photos sent to the worker, whose borders are never exactly black.
 * "per_pixel": the reference's 784 means and stds; the std is floored because
 * border pixels are black in nearly every training image and would otherwise
 * turn faint noise into huge values.
 */
export type NormalizationKind = "global" | "per_pixel";

export interface Normalization {
  kind: NormalizationKind;
  /** Raw pixel units (0-255); applied as (x - mean) / std. */
  mean: number[];
  std: number[];
}

export const PER_PIXEL_STD_FLOOR = 1;

export function computeNormalization(images: Uint8Array, kind: NormalizationKind): Normalization {
  const count = images.length / PIXELS_PER_IMAGE;
  if (!Number.isInteger(count) || count === 0)
    throw new Error("images must hold a whole number of 28x28 images");
  const width = kind === "global" ? 1 : PIXELS_PER_IMAGE;
  const sum = new Float64Array(width);
  const sumSquares = new Float64Array(width);
  for (let i = 0; i < images.length; i++) {
    const slot = kind === "global" ? 0 : i % PIXELS_PER_IMAGE;
    const value = images[i] as number;
    sum[slot] = (sum[slot] as number) + value;
    sumSquares[slot] = (sumSquares[slot] as number) + value * value;
  }
  const samples = kind === "global" ? images.length : count;
  const mean = Array.from(sum, (s) => s / samples);
  const std = Array.from(sumSquares, (s, i) => {
    const m = mean[i] as number;
    const deviation = Math.sqrt(Math.max(s / samples - m * m, 0));
    return kind === "per_pixel" ? Math.max(deviation, PER_PIXEL_STD_FLOOR) : deviation;
  });
  return { kind, mean, std };
}

export function normalizeImages(images: Uint8Array, norm: Normalization): Float32Array {
  const out = new Float32Array(images.length);
  const width = norm.mean.length;
  const scale = norm.std.map((s) => 1 / s);
  for (let i = 0; i < images.length; i++) {
    const slot = width === 1 ? 0 : i % PIXELS_PER_IMAGE;
    out[i] = ((images[i] as number) - (norm.mean[slot] as number)) * (scale[slot] as number);
  }
  return out;
}

/** mulberry32: tiny, fast, and its whole state is one integer, so checkpoints can save it. */
export interface Rng {
  (): number;
  state(): number;
}

export function createRng(seed: number, state = seed >>> 0): Rng {
  let current = state >>> 0;
  const next = (() => {
    current = (current + 0x6d2b79f5) >>> 0;
    let t = current;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as Rng;
  next.state = () => current;
  return next;
}

/** A Fisher-Yates permutation of 0..count-1 driven by `rng`. */
export function shuffledIndices(count: number, rng: Rng): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const swap = order[i] as number;
    order[i] = order[j] as number;
    order[j] = swap;
  }
  return order;
}

/** Index ranges [start, end) of consecutive batches; the last one may be short. */
export function batchRanges(count: number, batchSize: number): Array<[number, number]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error("batch size must be a positive integer");
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < count; start += batchSize)
    ranges.push([start, Math.min(start + batchSize, count)]);
  return ranges;
}

/** The images and labels at `indices`, in that order. */
export function gather(split: Split, indices: ArrayLike<number>): Split {
  const images = new Uint8Array(indices.length * PIXELS_PER_IMAGE);
  const labels = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const index = indices[k] as number;
    images.set(
      split.images.subarray(index * PIXELS_PER_IMAGE, (index + 1) * PIXELS_PER_IMAGE),
      k * PIXELS_PER_IMAGE,
    );
    labels[k] = split.labels[index] as number;
  }
  return { images, labels, count: indices.length };
}

/** A seeded random subset of `limit` examples (the whole split when limit >= count). */
export function takeSubset(split: Split, limit: number, seed: number): Split {
  if (!Number.isInteger(limit) || limit < 1) throw new Error("limit must be a positive integer");
  if (limit >= split.count) return split;
  const order = shuffledIndices(split.count, createRng(seed));
  return gather(split, order.subarray(0, limit));
}
