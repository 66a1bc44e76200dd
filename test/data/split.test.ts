import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createRng } from "../../data/dataset.ts";
import type { Split } from "../../data/fashion-mnist.ts";
import { balancedSubset, epochOrder, SplitError, stratifiedSplit } from "../../data/split.ts";

/** `perClass[c]` images of class c; each image's first pixel is its index (mod 256), to trace it. */
function labelled(perClass: number[]): Split {
  const labels = perClass.flatMap((n, c) => Array.from({ length: n }, () => c));
  // Interleave the classes so order alone does not give them away.
  const order = labels
    .map((_, i) => i)
    .sort((a, b) => ((a * 7919) % labels.length) - ((b * 7919) % labels.length));
  const sorted = Uint8Array.from(order.map((i) => labels[i] as number));
  const images = new Uint8Array(sorted.length * 784);
  for (let i = 0; i < sorted.length; i++) {
    images[i * 784] = i % 256;
    images[i * 784 + 1] = Math.floor(i / 256);
  }
  return { images, labels: sorted, count: sorted.length };
}

const ids = (split: Split) =>
  Array.from(
    { length: split.count },
    (_, i) => (split.images[i * 784] as number) + 256 * (split.images[i * 784 + 1] as number),
  );
const classCounts = (split: Split, classes: number) => {
  const counts = new Array<number>(classes).fill(0);
  for (const label of split.labels) counts[label] = (counts[label] as number) + 1;
  return counts;
};

describe("stratified validation split", () => {
  const all = labelled([600, 600, 600, 600, 600, 600, 600, 600, 600, 600]);

  test("holds out exactly the asked number, in the class proportions, disjoint from training", () => {
    const { train, validation } = stratifiedSplit(all, 500, 1);
    assert.equal(validation.count, 500);
    assert.equal(train.count, 5500);
    assert.deepEqual(classCounts(validation, 10), new Array(10).fill(50));
    const held = new Set(ids(validation));
    assert.equal(held.size, 500);
    assert.ok(ids(train).every((id) => !held.has(id)));
    assert.equal(new Set([...ids(train), ...held]).size, 6000);
  });

  test("is a function of the seed", () => {
    const a = ids(stratifiedSplit(all, 500, 1).validation);
    assert.deepEqual(ids(stratifiedSplit(all, 500, 1).validation), a);
    assert.notDeepEqual(ids(stratifiedSplit(all, 500, 2).validation), a);
  });

  test("unequal classes keep their proportions, the rounding filled by the largest remainders", () => {
    const uneven = labelled([100, 300, 600]);
    const { validation } = stratifiedSplit(uneven, 101, 3);
    assert.equal(validation.count, 101);
    assert.deepEqual(classCounts(validation, 3), [10, 30, 61]);
  });

  test("refuses sizes that leave nothing to train or validate on", () => {
    assert.throws(() => stratifiedSplit(all, 0, 1), SplitError);
    assert.throws(() => stratifiedSplit(all, 6000, 1), SplitError);
  });
});

describe("class-balanced subset", () => {
  test("takes the same number from every class, seeded", () => {
    const uneven = labelled([100, 300, 600]);
    const subset = balancedSubset(uneven, 90, 1);
    assert.deepEqual(classCounts(subset, 3), [30, 30, 30]);
    assert.deepEqual(ids(balancedSubset(uneven, 90, 1)), ids(subset));
    assert.notDeepEqual(ids(balancedSubset(uneven, 90, 2)), ids(subset));
    assert.deepEqual(classCounts(balancedSubset(uneven, 91, 1), 3), [31, 30, 30]);
  });

  test("says so when a class is too small", () => {
    assert.throws(() => balancedSubset(labelled([10, 300]), 100, 1), /class 0 has 10 images/);
  });
});

describe("epoch order", () => {
  test("an epoch of the pool's size is one permutation", () => {
    const order = epochOrder(50, 50, createRng(4));
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test("a longer epoch repeats whole permutations back to back", () => {
    const order = epochOrder(10, 25, createRng(4));
    assert.equal(order.length, 25);
    for (const start of [0, 10]) {
      assert.deepEqual(
        [...order.subarray(start, start + 10)].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    }
    assert.equal(new Set(order.subarray(20)).size, 5);
  });
});
