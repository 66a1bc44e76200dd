import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { batchRanges, createRng, shuffledIndices, takeSubset } from "../../data/dataset.ts";

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
