// The training step: gradients reach every weight and alpha, alpha's learning-rate multiplier
// is applied, batch-norm statistics move, and nothing leaks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_TASKS } from "../../contracts/tasks.ts";
import { buildModel } from "../../train/model.ts";
import { Trainer } from "../../train/step.ts";
import * as tf from "../../train/tf.ts";

const LR = 0.001;

function setup(alphaLrMult: number) {
  const config = {
    cross_stitch_enabled: true,
    alpha_mode: "channel" as const,
    alpha_init: "convex" as const,
    alpha_same: 0.9,
    keep_prob: 0.8,
    seed: 2,
    lr: LR,
    reg_lambda: 1e-5,
    alpha_lr_mult: alphaLrMult,
  };
  const model = buildModel(config, DEFAULT_TASKS);
  const trainer = new Trainer(model, DEFAULT_TASKS, config);
  const batch = {
    images: tf.randomNormal([16, 28, 28, 1], 0, 1, "float32", 21) as tf.Tensor4D,
    labels: [
      tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5], "int32"),
      tf.tensor1d([2, 2, 2, 1, 2, 0, 1, 0, 1, 0, 2, 2, 2, 1, 2, 0], "int32"),
    ],
    dropoutSeeds: [
      [1, 1],
      [1, 2],
    ] as [number, number][],
  };
  return { model, trainer, batch };
}

const snapshot = (model: tf.LayersModel) =>
  new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync())]));

function changes(before: Map<string, Float32Array>, model: tf.LayersModel, name: string): number[] {
  const old = before.get(name) as Float32Array;
  const now = model.weights
    .find((w) => w.originalName === name)
    ?.read()
    .dataSync() as Float32Array;
  return Array.from(now, (v, i) => Math.abs(v - (old[i] as number)));
}

test("one Adam step moves alpha by lr * alpha_lr_mult and the kernels by lr", () => {
  for (const mult of [1, 30]) {
    const { model, trainer, batch } = setup(mult);
    const before = snapshot(model);
    trainer.step(batch);
    trainer.syncModel();
    // Adam's first step moves each weight with a non-zero gradient by lr * sign(gradient).
    for (const unit of ["cross_stitch_1/alpha", "cross_stitch_2/alpha", "cross_stitch_3/alpha"]) {
      const moved = changes(before, model, unit).filter((d) => d > 0);
      assert.ok(moved.length > 0, `${unit}: no gradient reached alpha`);
      const median = moved.sort((a, b) => a - b)[Math.floor(moved.length / 2)] as number;
      assert.ok(
        Math.abs(median - LR * mult) < LR * mult * 0.05,
        `${unit}: step ${median}, expected ${LR * mult}`,
      );
    }
    for (const kernel of [
      "fashion_conv1/kernel",
      "category_fc3/kernel",
      "fashion_bn2/gamma",
      "category_logits/bias",
    ]) {
      const moved = changes(before, model, kernel);
      const largest = moved.reduce((a, b) => Math.max(a, b), 0);
      assert.ok(largest > 0, `${kernel} did not move`);
      assert.ok(largest < LR * 1.05, `${kernel} moved by ${largest} > lr`);
    }
    const mean = changes(before, model, "fashion_bn1/moving_mean");
    assert.ok(
      mean.some((d) => d > 0),
      "batch-norm moving mean did not move",
    );
    trainer.dispose();
    model.dispose();
  }
});

test("steps hold no tensors beyond the first one's; losses come back per task and fall on a repeated batch", async () => {
  const { model, trainer, batch } = setup(10);
  trainer.step(batch);
  const first = await trainer.takeLosses();
  // Untrained: cross-entropy around ln(10) and ln(3); the objective adds the small L2 term.
  assert.equal(first.batches, 1);
  assert.ok(
    (first.perTask[0] as number) > 1 && (first.perTask[1] as number) > 0.5,
    `losses ${first.perTask}`,
  );
  assert.ok(
    first.perTask.every((l) => l < 10),
    `losses ${first.perTask}`,
  );
  assert.ok(first.total > (first.perTask[0] as number) + (first.perTask[1] as number));
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) trainer.step(batch);
  const later = await trainer.takeLosses();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(later.batches, 3);
  assert.ok(later.total < first.total, `objective ${first.total} -> ${later.total}`);
  trainer.dispose();
  model.dispose();
});
