/**
 * Training speed: steady-state images/s of the baseline and the cross-stitch variant (batch 128,
 * random data, the real training step), seconds per full 60k epoch including the 10k test
 * evaluation, and the ratio to the Keras figure measured on this machine (SPEC.md: ~950 img/s).
 * Writes bench/results/train-speed.json.
 *
 * The machine is shared, so the same towers trained the naive way (tfjs-layers `model.fit` with
 * L2 regularizers, as SPEC.md's 332 img/s figure) are measured in the same invocation: the ratio
 * of the two holds under load where the absolute numbers do not. The load average and process
 * CPU time are recorded as well. Where a Python with TensorFlow is at hand (`$KERAS_PYTHON`, else
 * `python3`), bench/keras_reference.py trains the same towers in Keras in the same run, and each
 * variant is also compared with its Keras twin measured moments apart.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { acceptNoFlagsOrExit } from "../cli/args.ts";
import { IMAGE_CHANNELS, IMAGE_SIZE } from "../contracts/image.ts";
import { DEFAULT_TASKS } from "../contracts/tasks.ts";
import { evaluate } from "../train/evaluate.ts";
import { buildModel } from "../train/model.ts";
import { Trainer } from "../train/step.ts";
import * as tf from "../train/tf.ts";

acceptNoFlagsOrExit(
  "tsx bench/train-speed.ts",
  "training speed of both variants against the naive tfjs way (and Keras where at hand); writes bench/results/train-speed.json.",
  process.argv.slice(2),
);

const KERAS_IMAGES_PER_SECOND = 950;
const NAIVE_TFJS_IMAGES_PER_SECOND = 332;
const BATCH = 128;
const IMAGE_SHAPE: [number, number, number] = [IMAGE_SIZE, IMAGE_SIZE, IMAGE_CHANNELS];
const POOL = 2048;
const WARMUP_STEPS = 5;
const MEASURED_STEPS = Number(process.env.BENCH_STEPS ?? 40);
const TRAIN_IMAGES = 60_000;
const TEST_IMAGES = 10_000;
const EVAL_SAMPLE = 2_000;

async function measure(crossStitch: boolean) {
  const config = {
    cross_stitch_enabled: crossStitch,
    alpha_mode: "channel" as const,
    alpha_init: "convex" as const,
    alpha_same: 0.9,
    keep_prob: 0.8,
    seed: 1,
    lr: 0.001,
    reg_lambda: 1e-5,
    alpha_lr_mult: 10,
  };
  const model = buildModel(config, DEFAULT_TASKS);
  const trainer = new Trainer(model, DEFAULT_TASKS, config);
  const images = tf.randomNormal([POOL, ...IMAGE_SHAPE]) as tf.Tensor4D;
  const labels = DEFAULT_TASKS.map(
    (t) => tf.randomUniform([POOL], 0, t.classes.length, "int32") as tf.Tensor1D,
  );
  const step = (i: number) =>
    tf.tidy(() => {
      const start = (i * BATCH) % (POOL - BATCH);
      const index = tf.range(start, start + BATCH, 1, "int32");
      trainer.step({
        images: tf.gather(images, index) as tf.Tensor4D,
        labels: labels.map((l) => tf.gather(l, index) as tf.Tensor1D),
        dropoutSeeds: DEFAULT_TASKS.map((_, t) => [t, i]),
      });
    });
  for (let i = 0; i < WARMUP_STEPS; i++) step(i);
  await trainer.takeLosses();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < MEASURED_STEPS; i++) step(i);
  await trainer.takeLosses();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const imagesPerSecond = (MEASURED_STEPS * BATCH) / wall;

  trainer.syncModel();
  const evalImages = images.slice(0, EVAL_SAMPLE);
  const evalLabels = labels.map((l) => l.slice(0, EVAL_SAMPLE));
  await evaluate(model, evalImages, evalLabels);
  const e0 = performance.now();
  await evaluate(model, evalImages, evalLabels);
  const evalSeconds = ((performance.now() - e0) / 1000) * (TEST_IMAGES / EVAL_SAMPLE);

  tf.dispose([images, evalImages, ...labels, ...evalLabels]);
  trainer.dispose();
  model.dispose();
  return {
    variant: crossStitch ? "cross_stitch" : "baseline",
    images_per_second: Math.round(imagesPerSecond),
    cpu_seconds_per_1000_images: Number(
      (((cpu.user + cpu.system) / 1e6 / (MEASURED_STEPS * BATCH)) * 1000).toFixed(3),
    ),
    seconds_per_epoch_train: Number((TRAIN_IMAGES / imagesPerSecond).toFixed(1)),
    seconds_per_epoch_eval_10k: Number(evalSeconds.toFixed(1)),
    seconds_per_epoch: Number((TRAIN_IMAGES / imagesPerSecond + evalSeconds).toFixed(1)),
    ratio_to_keras: Number((imagesPerSecond / KERAS_IMAGES_PER_SECOND).toFixed(3)),
    ratio_to_naive_tfjs_fit: Number((imagesPerSecond / NAIVE_TFJS_IMAGES_PER_SECOND).toFixed(2)),
  };
}

/** SPEC.md's naive path: the same two towers as plain tfjs-layers, regularizers in the layers, model.fit. */
async function measureNaiveFit() {
  const l2 = () => tf.regularizers.l2({ l2: 1e-5 });
  const image = tf.input({ shape: IMAGE_SHAPE });
  const outputs = DEFAULT_TASKS.map((task) => {
    let h: tf.SymbolicTensor = image;
    for (const filters of [32, 64]) {
      h = tf.layers
        .conv2d({
          filters,
          kernelSize: 3,
          padding: "same",
          kernelInitializer: "heNormal",
          kernelRegularizer: l2(),
        })
        .apply(h) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
      h = tf.layers.activation({ activation: "relu" }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
    }
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    h = tf.layers
      .dense({ units: 1024, kernelInitializer: "heNormal", kernelRegularizer: l2() })
      .apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
    h = tf.layers.activation({ activation: "relu" }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.dropout({ rate: 0.2 }).apply(h) as tf.SymbolicTensor;
    return tf.layers
      .dense({ units: task.classes.length, activation: "softmax", kernelRegularizer: l2() })
      .apply(h) as tf.SymbolicTensor;
  });
  const model = tf.model({ inputs: image, outputs });
  model.compile({
    optimizer: tf.train.adam(0.001),
    loss: DEFAULT_TASKS.map(() => "sparseCategoricalCrossentropy"),
  });
  const steps = Math.max(5, Math.round(MEASURED_STEPS / 2));
  const x = tf.randomNormal([steps * BATCH, ...IMAGE_SHAPE]);
  const ys = DEFAULT_TASKS.map((t) =>
    tf.randomUniform([steps * BATCH, 1], 0, t.classes.length, "int32").cast("float32"),
  );
  await model.fit(
    x.slice(0, 3 * BATCH),
    ys.map((y) => y.slice(0, 3 * BATCH)),
    { batchSize: BATCH, epochs: 1, verbose: 0 },
  );
  const t0 = performance.now();
  await model.fit(x, ys, { batchSize: BATCH, epochs: 1, verbose: 0, shuffle: false });
  const imagesPerSecond = (steps * BATCH) / ((performance.now() - t0) / 1000);
  tf.dispose([x, ...ys]);
  model.dispose();
  return {
    variant: "naive_tfjs_fit_baseline",
    images_per_second: Math.round(imagesPerSecond),
    measured_steps: steps,
  };
}

interface KerasReference {
  tensorflow: string;
  keras: string;
  images_per_second: Record<string, number>;
}

/** The Keras twin of both variants, or null (with the reason printed) where TensorFlow is missing. */
function measureKeras(): KerasReference | null {
  const python = process.env.KERAS_PYTHON ?? "python3";
  const run = spawnSync(python, ["bench/keras_reference.py", "--steps", String(MEASURED_STEPS)], {
    encoding: "utf8",
  });
  const line = run.stdout?.trim().split("\n").at(-1) ?? "";
  if (run.status !== 0 || !line.startsWith("{")) {
    const reason = run.error?.message ?? run.stderr?.trim().split("\n").at(-1) ?? `exit ${run.status}`;
    console.log(
      `Keras reference not measured with ${python} (${reason}); using SPEC.md's ${KERAS_IMAGES_PER_SECOND} img/s`,
    );
    return null;
  }
  return JSON.parse(line) as KerasReference;
}

const loadBefore = os.loadavg();
const keras = measureKeras();
const naive = await measureNaiveFit();
const results = [await measure(false), await measure(true)];
const report = {
  measured_at: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? "unknown",
    load_average_1m_before: loadBefore[0],
  },
  load_average_1m_after: os.loadavg()[0],
  setup: {
    batch: BATCH,
    warmup_steps: WARMUP_STEPS,
    measured_steps: MEASURED_STEPS,
    data: "random normal images",
  },
  keras_reference_images_per_second: KERAS_IMAGES_PER_SECOND,
  keras_same_run: keras,
  naive_tfjs_fit_images_per_second: NAIVE_TFJS_IMAGES_PER_SECOND,
  naive_fit_same_run: naive,
  results: results.map((r) => {
    const twin = keras?.images_per_second[r.variant];
    return {
      ...r,
      ratio_to_keras_same_run: twin ? Number((r.images_per_second / twin).toFixed(3)) : null,
      speedup_over_naive_fit_same_run: Number((r.images_per_second / naive.images_per_second).toFixed(2)),
    };
  }),
};
const file = path.join("bench", "results", "train-speed.json");
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
fs.renameSync(`${file}.tmp`, file);
console.log(`naive model.fit (same towers, same load) ${naive.images_per_second} img/s`);
if (keras)
  console.log(
    `Keras ${keras.keras} (TensorFlow ${keras.tensorflow}), same run: ${JSON.stringify(keras.images_per_second)} img/s`,
  );
for (const r of report.results) {
  console.log(
    `${r.variant.padEnd(13)} ${r.images_per_second} img/s (${(r.ratio_to_keras * 100).toFixed(0)}% of Keras' ${KERAS_IMAGES_PER_SECOND}), ` +
      `${r.seconds_per_epoch} s/epoch (train ${r.seconds_per_epoch_train} + eval ${r.seconds_per_epoch_eval_10k}), ` +
      `${r.cpu_seconds_per_1000_images} CPU-s per 1000 images, ${r.speedup_over_naive_fit_same_run}x naive fit, ` +
      `${r.ratio_to_keras_same_run ?? "n/a"}x its Keras twin measured in this run`,
  );
}
console.log(
  `load average ${loadBefore[0]?.toFixed(2)} before, ${report.load_average_1m_after?.toFixed(2)} after; wrote ${file}`,
);
