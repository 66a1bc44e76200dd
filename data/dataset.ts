// Seeded shuffling, batches and subsets of a split (z-score statistics: contracts/normalization.ts).
import { PIXELS_PER_IMAGE } from "../contracts/image.ts";
import type { Split } from "./fashion-mnist.ts";

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
