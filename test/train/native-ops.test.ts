// The fused kernels and their hand-written gradients against tfjs' composed reference ops.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  batchNormTraining,
  matMul,
  relu,
  seededDropout,
  sparseSoftmaxCrossEntropy,
  sumOfSquares,
} from "../../train/native-ops.ts";
import * as tf from "../../train/tf.ts";

function assertClose(actual: tf.Tensor, expected: tf.Tensor, tolerance: number, what: string) {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const worst = tf.tidy(() => actual.sub(expected).abs().max().dataSync()[0] as number);
  assert.ok(worst <= tolerance, `${what}: max abs difference ${worst} > ${tolerance}`);
}

test("batchNormTraining matches moments-based batch norm, forward and gradients, rank 4 and rank 2", () => {
  for (const shape of [
    [6, 5, 4, 3],
    [16, 7],
  ]) {
    tf.tidy(() => {
      const channels = shape[shape.length - 1] as number;
      const x = tf.randomNormal(shape, 1, 2, "float32", 1);
      const gamma = tf.randomUniform([channels], 0.5, 1.5, "float32", 2) as tf.Tensor1D;
      const beta = tf.randomNormal([channels], 0, 1, "float32", 3) as tf.Tensor1D;
      const weights = tf.randomNormal(shape, 0, 1, "float32", 4); // makes the upstream gradient non-uniform
      const axes = shape.slice(0, -1).map((_, i) => i);
      const reference = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, axes);
        return tf.batchNorm(a, mean, variance, b, g, 1e-3).mul(weights).sum();
      };
      let stats: number[][] = [];
      const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        batchNormTraining(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3, (mean, variance) => {
          stats = [Array.from(mean.dataSync()), Array.from(variance.dataSync())];
        })
          .mul(weights)
          .sum();
      const expected = tf.valueAndGrads(reference)([x, gamma, beta]);
      const actual = tf.valueAndGrads(fused)([x, gamma, beta]);
      assertClose(actual.value, expected.value, 1e-3, `value ${shape}`);
      ["x", "gamma", "beta"].forEach((name, i) => {
        assertClose(actual.grads[i] as tf.Tensor, expected.grads[i] as tf.Tensor, 1e-3, `d${name} ${shape}`);
      });
      const { mean, variance } = tf.moments(x, axes);
      const n = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      assertClose(tf.tensor1d(stats[0] as number[]), mean, 1e-4, "batch mean");
      assertClose(
        tf.tensor1d(stats[1] as number[]),
        variance.mul(n / (n - 1)),
        1e-3,
        "unbiased batch variance",
      );
    });
  }
});

test("sparseSoftmaxCrossEntropy matches tfjs softmax cross-entropy, value and gradient", () => {
  tf.tidy(() => {
    const logits = tf.randomNormal([9, 4], 0, 2, "float32", 5) as tf.Tensor2D;
    const labels = tf.tensor1d([0, 3, 1, 2, 2, 0, 1, 3, 3], "int32");
    const oneHot = tf.oneHot(labels, 4);
    const expected = tf.valueAndGrad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(oneHot, l))(logits);
    const actual = tf.valueAndGrad((l: tf.Tensor) => sparseSoftmaxCrossEntropy(l as tf.Tensor2D, labels))(
      logits,
    );
    assertClose(actual.value, expected.value, 1e-5, "loss");
    assertClose(actual.grad, expected.grad, 1e-5, "dlogits");
  });
});

test("matMul, relu and sumOfSquares match tfjs, value and gradients", () => {
  tf.tidy(() => {
    const a = tf.randomNormal([5, 7], 0, 1, "float32", 6) as tf.Tensor2D;
    const b = tf.randomNormal([7, 3], 0, 1, "float32", 7) as tf.Tensor2D;
    const w = tf.randomNormal([5, 3], 0, 1, "float32", 8);
    const expected = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) =>
      tf
        .matMul(x as tf.Tensor2D, y as tf.Tensor2D)
        .relu()
        .mul(w)
        .sum()
        .add(tf.square(x).sum().add(tf.square(y).sum())),
    )([a, b]);
    const actual = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) =>
      relu(matMul(x as tf.Tensor2D, y as tf.Tensor2D))
        .mul(w)
        .sum()
        .add(sumOfSquares([x, y])),
    )([a, b]);
    assertClose(actual.value, expected.value, 1e-4, "value");
    assertClose(actual.grads[0] as tf.Tensor, expected.grads[0] as tf.Tensor, 1e-4, "da");
    assertClose(actual.grads[1] as tf.Tensor, expected.grads[1] as tf.Tensor, 1e-4, "db");
  });
});

test("seededDropout: same seed same mask, other seed other mask, keep rate and scaling as asked", () => {
  tf.tidy(() => {
    const ones = tf.ones([200, 100]);
    const a = seededDropout(ones, 0.8, [1, 2]);
    const again = seededDropout(ones, 0.8, [1, 2]);
    const other = seededDropout(ones, 0.8, [1, 3]);
    assert.deepEqual(Array.from(a.dataSync()), Array.from(again.dataSync()));
    assert.notDeepEqual(Array.from(a.dataSync()), Array.from(other.dataSync()));
    const values = new Set(Array.from(a.dataSync()).map((v) => v.toFixed(4)));
    assert.deepEqual([...values].sort(), ["0.0000", "1.2500"]);
    const kept = a.greater(0).cast("float32").mean().dataSync()[0] as number;
    assert.ok(Math.abs(kept - 0.8) < 0.02, `kept fraction ${kept}`);
  });
});
