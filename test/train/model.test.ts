// The model factory and the CrossStitch layer: shapes, identity equivalence, serialisation.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { DEFAULT_TASKS } from "../../contracts/tasks.ts";
import { buildModel, loadRunModel, type ModelConfig } from "../../train/model.ts";
import * as tf from "../../train/tf.ts";

const THREE_TASKS = [
  ...DEFAULT_TASKS,
  { name: "bottoms", classes: ["no", "yes"], labelMap: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0] },
];

const config = (overrides: Partial<ModelConfig> = {}): ModelConfig => ({
  cross_stitch_enabled: true,
  alpha_mode: "channel",
  alpha_init: "convex",
  alpha_same: 0.9,
  keep_prob: 0.8,
  seed: 3,
  ...overrides,
});

function outputsOf(model: tf.LayersModel, x: tf.Tensor): number[][] {
  const out = model.predict(x) as tf.Tensor | tf.Tensor[];
  return (Array.isArray(out) ? out : [out]).map((t) => Array.from(t.dataSync()));
}

function maxDifference(a: number[][], b: number[][]): number {
  return Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - (b[i]?.[j] as number)))));
}

test("outputs: one logits tensor per task, named <task>_logits, for 2 and 3 tasks and both variants", () => {
  for (const tasks of [DEFAULT_TASKS, THREE_TASKS]) {
    for (const crossStitch of [false, true]) {
      const model = buildModel(config({ cross_stitch_enabled: crossStitch }), tasks);
      const x = tf.randomNormal([4, 28, 28, 1]);
      const out = model.predict(x) as tf.Tensor[];
      assert.deepEqual(
        out.map((t) => t.shape),
        tasks.map((t) => [4, t.classes.length]),
      );
      assert.deepEqual(
        model.outputNames.map((n) => n.split("/")[0]),
        tasks.map((t) => `${t.name}_logits`),
      );
      const units = model.layers.filter((l) => l.name.startsWith("cross_stitch_"));
      assert.equal(units.length, crossStitch ? 3 : 0);
      if (crossStitch) {
        assert.deepEqual(
          units.map((u) => u.getWeights()[0]?.shape),
          [32, 64, 1024].map((c) => [c, tasks.length, tasks.length]),
        );
      }
      tf.dispose([x, ...out]);
      model.dispose();
    }
  }
});

test("kernels start He-normal (std sqrt(2 / fan_in), truncated at 2 std), reproducible from the seed", () => {
  const a = buildModel(config({ seed: 4 }), DEFAULT_TASKS);
  const b = buildModel(config({ seed: 4 }), DEFAULT_TASKS);
  for (const [layer, fanIn] of [
    ["fashion_conv2", 288],
    ["category_fc3", 3136],
  ] as const) {
    const kernel = a.getLayer(layer).getWeights()[0] as tf.Tensor;
    const { mean, variance } = tf.moments(kernel);
    const expected = Math.sqrt(2 / fanIn);
    const std = Math.sqrt(variance.dataSync()[0] as number);
    assert.ok(Math.abs(std - expected) < expected * 0.03, `${layer}: std ${std}, expected ${expected}`);
    assert.ok(Math.abs(mean.dataSync()[0] as number) < expected * 0.05, `${layer}: mean off zero`);
    const largest = kernel.abs().max().dataSync()[0] as number;
    assert.ok(largest <= (2 * expected) / 0.8796256610342398 + 1e-6, `${layer}: ${largest} beyond 2 std`);
    const again = b.getLayer(layer).getWeights()[0] as tf.Tensor;
    assert.equal(kernel.sub(again).abs().max().dataSync()[0], 0, `${layer}: same seed, different init`);
  }
  assert.notEqual(
    (a.getLayer("fashion_fc3").getWeights()[0] as tf.Tensor)
      .sub(a.getLayer("category_fc3").getWeights()[0] as tf.Tensor)
      .abs()
      .max()
      .dataSync()[0],
    0,
    "the two towers start with the same kernel",
  );
  a.dispose();
  b.dispose();
});

test("layer-wise alpha is [1, N, N]; convex init puts alpha_same on the diagonal and shares the rest", () => {
  const model = buildModel(config({ alpha_mode: "layer", alpha_same: 0.7 }), THREE_TASKS);
  const alpha = model.getLayer("cross_stitch_2").getWeights()[0] as tf.Tensor;
  assert.deepEqual(alpha.shape, [1, 3, 3]);
  const values = alpha.arraySync() as number[][][];
  (values[0] as number[][]).forEach((row, i) => {
    row.forEach((v, j) => {
      assert.ok(Math.abs(v - (i === j ? 0.7 : 0.15)) < 1e-6, `alpha[0][${i}][${j}] = ${v}`);
    });
  });
  model.dispose();
});

test("identity-initialised cross-stitch computes exactly the baseline with the same weights", () => {
  const baseline = buildModel(config({ cross_stitch_enabled: false, seed: 5 }), DEFAULT_TASKS);
  const stitched = buildModel(config({ alpha_init: "identity", seed: 9 }), DEFAULT_TASKS);
  // Different seeds, so the towers start different until the baseline's weights are copied over.
  const x = tf.randomNormal([3, 28, 28, 1], 0, 1, "float32", 11);
  const before = maxDifference(outputsOf(baseline, x), outputsOf(stitched, x));
  assert.ok(before > 1e-3, "the two models should differ before the copy");
  for (const layer of baseline.layers) stitched.getLayer(layer.name).setWeights(layer.getWeights());
  assert.equal(maxDifference(outputsOf(baseline, x), outputsOf(stitched, x)), 0);
  baseline.dispose();
  stitched.dispose();
});

test("save and loadRunModel round trip: same outputs, alphas included", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-model-"));
  const model = buildModel(config(), THREE_TASKS);
  const unit = model.getLayer("cross_stitch_3");
  unit.setWeights([tf.randomUniform([1024, 3, 3], 0, 1, "float32", 13)]);
  const x = tf.randomNormal([2, 28, 28, 1], 0, 1, "float32", 17);
  const expected = outputsOf(model, x);
  await model.save(`file://${path.join(dir, "model")}`);
  const loaded = await loadRunModel(dir);
  assert.equal(maxDifference(outputsOf(loaded, x), expected), 0);
  assert.deepEqual(
    Array.from((loaded.getLayer("cross_stitch_3").getWeights()[0] as tf.Tensor).dataSync()),
    Array.from((unit.getWeights()[0] as tf.Tensor).dataSync()),
  );
  const topology = JSON.parse(fs.readFileSync(path.join(dir, "model", "model.json"), "utf8"));
  const names: string[] = topology.weightsManifest.flatMap((g: { weights: { name: string }[] }) =>
    g.weights.map((w) => w.name),
  );
  for (const expectedName of [
    "fashion_conv1/kernel",
    "category_bn3/moving_variance",
    "cross_stitch_1/alpha",
    "bottoms_logits/bias",
  ]) {
    assert.ok(names.includes(expectedName), `model.json lacks ${expectedName}`);
  }
  model.dispose();
  loaded.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
