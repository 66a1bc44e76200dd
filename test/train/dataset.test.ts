import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  batchRanges,
  computeNormalization,
  createRng,
  normalizeImages,
  PER_PIXEL_STD_FLOOR,
  shuffledIndices,
  takeSubset,
} from "../../train/dataset.ts";

// Two 28x28 images: the first all 0, the second all 100 except pixel 5 = 200.
const images = new Uint8Array(2 * 784);
images.fill(100, 784);
images[784 + 5] = 200;

describe("normalization", () => {
  test("global statistics match a direct computation", () => {
    const values = [...images];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    const norm = computeNormalization(images, "global");
    assert.equal(norm.mean.length, 1);
    assert.ok(Math.abs((norm.mean[0] as number) - mean) < 1e-9);
    assert.ok(Math.abs((norm.std[0] as number) - std) < 1e-9);
    const z = normalizeImages(images, norm);
    assert.ok(Math.abs((z[0] as number) - (0 - mean) / std) < 1e-5);
  });

  test("per-pixel statistics, with the std floored for constant pixels", () => {
    const norm = computeNormalization(images, "per_pixel");
    assert.equal(norm.mean.length, 784);
    assert.equal(norm.mean[0], 50);
    assert.equal(norm.std[0], 50);
    assert.equal(norm.mean[5], 100);
    assert.equal(norm.std[5], 100);
    const constant = new Uint8Array(784 * 3).fill(7);
    const flat = computeNormalization(constant, "per_pixel");
    assert.equal(flat.std[0], PER_PIXEL_STD_FLOOR);
    const z = normalizeImages(images, norm);
    assert.equal(z[784 + 5], 1);
    assert.equal(z[0], -1);
  });

  test("rejects a buffer that is not whole images", () => {
    assert.throws(() => computeNormalization(new Uint8Array(100), "global"), /whole number of 28x28 images/);
  });
});

describe("seeded shuffling and batching", () => {
  test("the same seed gives the same permutation, and a saved state resumes the stream", () => {
    const a = shuffledIndices(1000, createRng(42));
    assert.deepEqual(a, shuffledIndices(1000, createRng(42)));
    assert.notDeepEqual(a, shuffledIndices(1000, createRng(43)));
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i),
    );
    const rng = createRng(7);
    rng();
    const resumed = createRng(7, rng.state());
    assert.deepEqual([rng(), rng()], [resumed(), resumed()]);
  });

  test("batches cover every index once; the last may be short", () => {
    assert.deepEqual(batchRanges(10, 4), [
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    assert.throws(() => batchRanges(10, 0), /positive integer/);
  });

  test("subsets are seeded, sized, and keep image/label pairs together", () => {
    const count = 50;
    const split = { images: new Uint8Array(count * 784), labels: new Uint8Array(count), count };
    for (let i = 0; i < count; i++) {
      split.images.fill(i, i * 784, (i + 1) * 784);
      split.labels[i] = i;
    }
    const subset = takeSubset(split, 10, 3);
    assert.equal(subset.count, 10);
    assert.deepEqual(subset, takeSubset(split, 10, 3));
    for (let k = 0; k < subset.count; k++) assert.equal(subset.images[k * 784 + 300], subset.labels[k]);
    assert.equal(takeSubset(split, 500, 3), split);
  });
});
