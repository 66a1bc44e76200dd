// The pieces of the beyond preset on small data: augmentation, the weights' moving average,
// label smoothing, the validation choice and the coarse-through-fine accuracy.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EpochMetrics } from "../../contracts/run-folder.ts";
import { DEFAULT_TASKS, derivations } from "../../contracts/tasks.ts";
import { type AugmentSettings, augmentBatch, drawAugmentation } from "../../train/augment.ts";
import { emaDecayAt, UPDATE_EVERY, WeightAverage } from "../../train/ema.ts";
import { smoothedCrossEntropy } from "../../train/forward.ts";
import { buildModel } from "../../train/model.ts";
import { selectWeights } from "../../train/selection.ts";
import * as tf from "../../train/tf.ts";

const NONE: AugmentSettings = {
  aug_shift: 0,
  aug_flip: 0,
  aug_brightness: 0,
  aug_contrast: 0,
  aug_invert: 0,
};
const COUNT = 16;

/** COUNT random 28x28 images with a black 2-pixel border, as Fashion-MNIST's mostly are. */
function images(): { pixels: number[][][]; tensor: tf.Tensor4D } {
  let state = 7;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % 256;
  };
  const pixels = Array.from({ length: COUNT }, () =>
    Array.from({ length: 28 }, (_, y) =>
      Array.from({ length: 28 }, (_, x) => (y < 2 || y > 25 || x < 2 || x > 25 ? 0 : next())),
    ),
  );
  return { pixels, tensor: tf.tensor4d(pixels.flat(2), [COUNT, 28, 28, 1]) };
}

async function augmented(settings: AugmentSettings, seeds = [1, 2, 3]): Promise<number[][][]> {
  const { tensor } = images();
  const zero = tf.scalar(0);
  const one = tf.scalar(1);
  const out = augmentBatch(
    tensor,
    drawAugmentation(settings, COUNT, 28, seeds),
    settings.aug_shift,
    zero,
    one,
  );
  const values = (await out.array()) as number[][][][];
  tf.dispose([tensor, zero, one, out]);
  return values.map((image) => image.map((row) => row.map((pixel) => pixel[0] as number)));
}

const close = (a: number[][], b: number[][]) =>
  a.every((row, y) => row.every((v, x) => Math.abs(v - (b[y]?.[x] as number)) < 1e-3));

describe("augmentation", () => {
  test("nothing enabled leaves every image as it was", async () => {
    const { pixels } = images();
    const out = await augmented(NONE);
    for (const [i, image] of out.entries()) assert.ok(close(image, pixels[i] as number[][]));
  });

  test("flip probability 1 mirrors every image left to right", async () => {
    const { pixels } = images();
    const out = await augmented({ ...NONE, aug_flip: 1 });
    out.forEach((image, i) => {
      assert.ok(
        close(
          image,
          (pixels[i] as number[][]).map((row) => [...row].reverse()),
        ),
      );
    });
  });

  test("a shift of up to 2 moves each image by whole pixels within +-2, filling with black, and not all alike", async () => {
    const { pixels } = images();
    const out = await augmented({ ...NONE, aug_shift: 2 });
    const shifts = out.map((image, i) => {
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) {
          const moved = Array.from({ length: 28 }, (_, y) =>
            Array.from({ length: 28 }, (_, x) => pixels[i]?.[y + dy]?.[x + dx] ?? 0),
          );
          if (close(image, moved)) return `${dy},${dx}`;
        }
      }
      return null;
    });
    assert.ok(
      shifts.every((s) => s !== null),
      `not a whole-pixel shift: ${shifts}`,
    );
    assert.ok(new Set(shifts).size > 3, `shifts ${shifts}`);
  });

  test("inversion probability 1 gives 255 - x; gain and offset stay within their ranges and the clip", async () => {
    const { pixels } = images();
    const inverted = await augmented({ ...NONE, aug_invert: 1 });
    for (const [i, image] of inverted.entries()) {
      assert.ok(
        close(
          image,
          (pixels[i] as number[][]).map((r) => r.map((v) => 255 - v)),
        ),
      );
    }
    const jittered = await augmented({ ...NONE, aug_brightness: 0.1, aug_contrast: 0.2 });
    for (const [i, image] of jittered.entries()) {
      const flat = image.flat();
      assert.ok(flat.every((v) => v >= 0 && v <= 255));
      // The border was black: what it shows is the offset alone (clipped at 0), at most 0.1 * 255.
      assert.ok((image[0]?.[0] as number) <= 25.5 + 1e-3);
      const brightest = Math.max(...(pixels[i] as number[][]).flat());
      assert.ok(Math.max(...flat) <= Math.min(255, brightest * 1.2 + 25.5) + 1e-3);
      assert.ok(Math.max(...flat) >= Math.max(0, brightest * 0.8 - 25.5) - 1e-3);
    }
  });

  test("the draws are a function of the seeds", () => {
    const settings = { aug_shift: 2, aug_flip: 0.5, aug_brightness: 0.1, aug_contrast: 0.2, aug_invert: 0.1 };
    const a = drawAugmentation(settings, 8, 28, [1, 5, 9]);
    assert.deepEqual(drawAugmentation(settings, 8, 28, [1, 5, 9]), a);
    assert.notDeepEqual(drawAugmentation(settings, 8, 28, [1, 5, 10]), a);
  });
});

describe("moving average of the weights", () => {
  test("the decay warms up and is capped", () => {
    assert.ok(Math.abs(emaDecayAt(0.999, 0) - 0.1) < 1e-12);
    assert.ok(Math.abs(emaDecayAt(0.999, 90) - 0.91) < 1e-12);
    assert.equal(emaDecayAt(0.999, 1e6), 0.999);
  });

  test(`moves every ${UPDATE_EVERY} steps to keep * average + (1 - keep) * current`, async () => {
    const config = {
      cross_stitch_enabled: true,
      alpha_mode: "channel" as const,
      alpha_init: "convex" as const,
      alpha_same: 0.9,
      keep_prob: 0.8,
      seed: 3,
    };
    const trained = buildModel(config, DEFAULT_TASKS);
    const average = new WeightAverage(trained, buildModel({ ...config, seed: 4 }, DEFAULT_TASKS), 0.5);
    const kernel = trained.getLayer("fashion_logits").getWeights()[0] as tf.Tensor;
    const before = (await kernel.array()) as number[][];
    const moved = kernel.add(1);
    const live = new Map([[trained.getLayer("fashion_logits").weights[0]?.read() as tf.Variable, moved]]);
    average.update(UPDATE_EVERY - 1, live);
    const kept = (await (
      average.model.getLayer("fashion_logits").getWeights()[0] as tf.Tensor
    ).array()) as number[][];
    assert.deepEqual(kept, before, "an off-interval step must not move the average");
    average.update(UPDATE_EVERY, live);
    const keep = emaDecayAt(0.5, UPDATE_EVERY) ** UPDATE_EVERY;
    const after = (await (
      average.model.getLayer("fashion_logits").getWeights()[0] as tf.Tensor
    ).array()) as number[][];
    for (const [i, row] of after.entries()) {
      for (const [j, v] of row.entries())
        assert.ok(Math.abs(v - ((before[i]?.[j] as number) + (1 - keep))) < 1e-5);
    }
    // A weight not in `live` is averaged with its own (unchanged) value: it stays put.
    const bias = (await (
      average.model.getLayer("fashion_logits").getWeights()[1] as tf.Tensor
    ).array()) as number[];
    assert.deepEqual(
      bias,
      (await (trained.getLayer("fashion_logits").getWeights()[1] as tf.Tensor).array()) as number[],
    );
    moved.dispose();
    average.dispose();
    trained.dispose();
  });
});

test("label smoothing matches the cross-entropy against smoothed one-hot targets", async () => {
  const logits = tf.tensor2d([
    [2, 0.5, -1],
    [0, 0, 3],
  ]);
  const labels = tf.tensor1d([0, 1], "int32");
  const e = 0.1;
  const manual = tf.tidy(() => {
    const targets = tf
      .oneHot(labels, 3)
      .cast("float32")
      .mul(1 - e)
      .add(e / 3);
    return tf.logSoftmax(logits).mul(targets).sum(1).neg().mean();
  });
  const ours = smoothedCrossEntropy(logits, labels, e);
  assert.ok(Math.abs(((await ours.array()) as number) - ((await manual.array()) as number)) < 1e-5);
  const plain = smoothedCrossEntropy(logits, labels, 0);
  const expected = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3), logits);
  assert.ok(Math.abs(((await plain.array()) as number) - ((await expected.array()) as number)) < 1e-5);
  tf.dispose([logits, labels, manual, ours, plain, expected]);
});

describe("validation choice", () => {
  const record = (epoch: number, raw: number | null, ema: number | null): EpochMetrics => ({
    epoch,
    loss: {},
    loss_total: 0,
    test_accuracy: { fashion: 0.5 },
    test_accuracy_mean: 0.5 + epoch / 100,
    seconds: 1,
    images_per_second: 1,
    alpha_self: [],
    ...(raw === null ? {} : { validation_accuracy: { fashion: raw }, validation_accuracy_mean: raw }),
    ...(ema === null
      ? {}
      : {
          ema: {
            test_accuracy: { fashion: 0.9 },
            test_accuracy_mean: 0.99,
            validation_accuracy: { fashion: ema },
            validation_accuracy_mean: ema,
          },
        }),
  });

  test("picks the highest validation mean over raw and EMA, never looking at test", () => {
    const chosen = selectWeights([record(1, 0.8, 0.7), record(2, 0.85, 0.86), record(3, 0.84, 0.85)]);
    assert.equal(chosen?.epoch, 2);
    assert.equal(chosen?.weights, "ema");
    assert.equal(chosen?.test_accuracy_mean, 0.99);
  });

  test("a tie goes to the earlier epoch, then to the raw weights", () => {
    assert.deepEqual(
      [selectWeights([record(1, 0.8, 0.8), record(2, 0.8, 0.8)])].map((c) => [c?.epoch, c?.weights]),
      [[1, "raw"]],
    );
  });

  test("runs without validation choose nothing", () => {
    assert.equal(selectWeights([record(1, null, null)]), null);
  });
});

test("category is derivable from fashion (its fair baseline), not the other way round", () => {
  const found = derivations(DEFAULT_TASKS);
  assert.equal(found.length, 1);
  assert.equal(found[0]?.name, "category_from_fashion");
  assert.deepEqual(found[0]?.classMap, [2, 2, 2, 1, 2, 0, 1, 0, 1, 0]);
  assert.deepEqual([found[0]?.from, found[0]?.to], [0, 1]);
});
