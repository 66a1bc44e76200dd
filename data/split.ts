/**
 * Which training images a run learns from, which it validates on, and in what order it sees them:
 * a seeded stratified validation split (every choice a run makes is made on it, never on the test
 * set), class-balanced subsets for the sharing study, and epochs of a fixed number of images.
 */

import { createRng, gather, type Rng, shuffledIndices } from "./dataset.ts";
import type { Split } from "./fashion-mnist.ts";

export class SplitError extends Error {
  override name = "SplitError";
}

/** Indices of `labels` grouped by label value, each group in a seeded random order. */
function shuffledByClass(labels: Uint8Array, rng: Rng): number[][] {
  const groups = new Map<number, number[]>();
  const order = shuffledIndices(labels.length, rng);
  for (const index of order) {
    const label = labels[index] as number;
    const group = groups.get(label);
    if (group) group.push(index);
    else groups.set(label, [index]);
  }
  return [...groups.keys()].sort((a, b) => a - b).map((label) => groups.get(label) as number[]);
}

/**
 * How many of `size` go to each class, proportional to the class sizes (largest remainders break
 * the rounding), so a 5,000-image split of Fashion-MNIST's 60,000 holds exactly 500 per class.
 */
function proportionalQuota(classSizes: number[], size: number): number[] {
  const total = classSizes.reduce((a, b) => a + b, 0);
  const exact = classSizes.map((n) => (n * size) / total);
  const quota = exact.map(Math.floor);
  let missing = size - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of byRemainder) {
    if (missing === 0) break;
    quota[i] = (quota[i] as number) + 1;
    missing--;
  }
  return quota;
}

export interface TrainValidation {
  train: Split;
  validation: Split;
}

/** A seeded, stratified hold-out of `size` images; the rest, in their original order, is for training. */
export function stratifiedSplit(split: Split, size: number, seed: number): TrainValidation {
  if (!Number.isInteger(size) || size < 1 || size >= split.count) {
    throw new SplitError(`a validation split needs 1..${split.count - 1} images, got ${size}`);
  }
  // A stream of its own (seed offset), so the split does not share draws with shuffling or --limit.
  const groups = shuffledByClass(split.labels, createRng(seed + 0x5a17));
  const quota = proportionalQuota(
    groups.map((g) => g.length),
    size,
  );
  const held = new Uint8Array(split.count);
  const validation: number[] = [];
  groups.forEach((group, c) => {
    for (const index of group.slice(0, quota[c])) {
      held[index] = 1;
      validation.push(index);
    }
  });
  validation.sort((a, b) => a - b);
  const train: number[] = [];
  for (let i = 0; i < split.count; i++) if (held[i] === 0) train.push(i);
  return { train: gather(split, train), validation: gather(split, validation) };
}

/** `size` images with every class equally represented (the first classes take one more when it does not divide). */
export function balancedSubset(split: Split, size: number, seed: number): Split {
  const groups = shuffledByClass(split.labels, createRng(seed + 0xba1));
  if (!Number.isInteger(size) || size < groups.length) {
    throw new SplitError(`a class-balanced subset needs at least ${groups.length} images, got ${size}`);
  }
  const perClass = Math.floor(size / groups.length);
  const extra = size - perClass * groups.length;
  const picked: number[] = [];
  groups.forEach((group, c) => {
    const want = perClass + (c < extra ? 1 : 0);
    if (group.length < want) {
      throw new SplitError(
        `class ${c} has ${group.length} images, a balanced subset of ${size} needs ${want}`,
      );
    }
    picked.push(...group.slice(0, want));
  });
  picked.sort((a, b) => a - b);
  return gather(split, picked);
}

/**
 * The order of one epoch of `epochImages` images from a pool of `count`: whole fresh permutations
 * back to back, cut at `epochImages`. With epochImages = count this is one permutation, exactly
 * the reference's epoch; smaller pools (the sharing study) repeat so every run sees as many images.
 */
export function epochOrder(count: number, epochImages: number, rng: Rng): Uint32Array {
  const order = new Uint32Array(epochImages);
  for (let filled = 0; filled < epochImages; ) {
    const permutation = shuffledIndices(count, rng);
    const take = Math.min(count, epochImages - filled);
    order.set(permutation.subarray(0, take), filled);
    filled += take;
  }
  return order;
}
