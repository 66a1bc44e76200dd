import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PIXELS_PER_IMAGE } from "../../contracts/image.ts";
import { computeNormalization, PER_PIXEL_STD_FLOOR, standardize } from "../../contracts/normalization.ts";

// Two 28x28 images: the first all 0, the second all 100 except pixel 5 = 200.
const images = new Uint8Array(2 * 784);
images.fill(100, 784);
images[784 + 5] = 200;

describe("normalization", () => {
  test("applies one global pair or one pair per pixel", () => {
    const pixels = new Float32Array(PIXELS_PER_IMAGE).fill(100);
    const global = standardize(pixels, { kind: "global", mean: [50], std: [25] });
    assert.deepEqual(new Set(global), new Set([2]));
    const mean = Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i % 2 === 0 ? 100 : 0));
    const perPixel = standardize(pixels, {
      kind: "per_pixel",
      mean,
      std: new Array(PIXELS_PER_IMAGE).fill(50),
    });
    assert.deepEqual([perPixel[0], perPixel[1]], [0, 2]);
  });

  test("global statistics match a direct computation", () => {
    const values = [...images];
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    const norm = computeNormalization(images, "global");
    assert.equal(norm.mean.length, 1);
    assert.ok(Math.abs((norm.mean[0] as number) - mean) < 1e-9);
    assert.ok(Math.abs((norm.std[0] as number) - std) < 1e-9);
    const z = standardize(images, norm);
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
    const z = standardize(images, norm);
    assert.equal(z[784 + 5], 1);
    assert.equal(z[0], -1);
  });

  test("rejects a buffer that is not whole images", () => {
    assert.throws(() => computeNormalization(new Uint8Array(100), "global"), /whole number of 28x28 images/);
  });

  test("a batch standardizes as its images one by one (training and export vs the worker)", () => {
    const batch = Uint8Array.from({ length: 3 * PIXELS_PER_IMAGE }, (_, i) => (i * 37) % 256);
    for (const kind of ["global", "per_pixel"] as const) {
      const norm = computeNormalization(batch, kind);
      const whole = standardize(batch, norm);
      for (let image = 0; image < 3; image++) {
        const one = standardize(
          batch.subarray(image * PIXELS_PER_IMAGE, (image + 1) * PIXELS_PER_IMAGE),
          norm,
        );
        assert.deepEqual(one, whole.subarray(image * PIXELS_PER_IMAGE, (image + 1) * PIXELS_PER_IMAGE));
      }
    }
  });
});
