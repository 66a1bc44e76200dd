/**
 * The train stage: `npm run train -- [flags]` trains one variant and writes its run folder
 * (docs/run-folder.md), checkpointing every epoch so `--resume` continues a killed run with the
 * result it would have had.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { IMAGE_CHANNELS, IMAGE_SIZE } from "../contracts/image.ts";
import { computeNormalization, type Normalization, standardize } from "../contracts/normalization.ts";
import { type EpochMetrics, RUN_FILES, type RunSummary } from "../contracts/run-folder.ts";
import { DEFAULT_TASKS, TaskFileError, type TaskSpec, taskLabels } from "../contracts/tasks.ts";
import { createRng, shuffledIndices, takeSubset } from "../data/dataset.ts";
import { DataError, loadFashionMnist, type Split } from "../data/fashion-mnist.ts";
import {
  appendMetrics,
  keepMetricsUpTo,
  loadTaskFile,
  readMetrics,
  readRunConfig,
  writeNormalization,
  writeRunConfig,
  writeRunTasks,
  writeSummary,
} from "../stage-files/run-folder.ts";
import { ConfigError, parseTrainArgs, type TrainConfig, usage } from "./config.ts";
import { evaluate } from "./evaluate.ts";
import { buildModel } from "./model.ts";
import {
  latestCheckpointEpoch,
  loadCheckpoint,
  restoreWeights,
  saveCheckpoint,
  saveModel,
} from "./run-folder.ts";
import { Trainer } from "./step.ts";
import { summarize } from "./summary.ts";
import * as tf from "./tf.ts";

/** In-epoch progress lines every this many batches (a full epoch is 469). */
const PROGRESS_EVERY = 100;

export class RunFolderError extends Error {
  override name = "RunFolderError";
}

export class InterruptedError extends Error {
  override name = "InterruptedError";
}

export interface TrainOptions {
  log?: (line: string) => void;
  /** Aborting stops the run at the next batch; the last checkpoint stays resumable. */
  signal?: AbortSignal;
  /** Evaluate on this many test images (a seeded subset) instead of all 10,000; tests use it. */
  testLimit?: number;
}

/** Settings that must match for --resume to continue a run (the rest only steer this invocation). */
const RUN_DEFINING: (keyof TrainConfig)[] = [
  "lr",
  "n_epoch",
  "n_batch_size",
  "reg_lambda",
  "keep_prob",
  "cross_stitch_enabled",
  "seed",
  "tasks",
  "limit",
  "alpha_mode",
  "alpha_init",
  "alpha_same",
  "alpha_lr_mult",
  "normalization",
];

function prepareFolder(config: TrainConfig): { resumeFrom: number | null } {
  const dir = config.out;
  const summaryFile = path.join(dir, RUN_FILES.summary);
  const configFile = path.join(dir, RUN_FILES.config);
  const exists = fs.existsSync(configFile);
  if (config.overwrite) {
    fs.rmSync(dir, { recursive: true, force: true });
  } else if (exists && fs.existsSync(summaryFile)) {
    throw new RunFolderError(`${dir} holds a finished run; pass --overwrite to replace it`);
  } else if (exists && !config.resume) {
    const epoch = latestCheckpointEpoch(dir) ?? 0;
    throw new RunFolderError(
      `${dir} holds an unfinished run (checkpoint at epoch ${epoch}); pass --resume to continue it or --overwrite to start over`,
    );
  } else if (exists) {
    const saved: Record<string, unknown> = readRunConfig(dir);
    const differing = RUN_DEFINING.filter(
      (key) => JSON.stringify(saved[key]) !== JSON.stringify(config[key]),
    );
    if (differing.length > 0) {
      const list = differing.map(
        (k) => `--${k} ${JSON.stringify(saved[k])} (now ${JSON.stringify(config[k])})`,
      );
      throw new RunFolderError(`--resume: ${dir} was started with ${list.join(", ")}; pass the same flags`);
    }
    return { resumeFrom: latestCheckpointEpoch(dir) ?? 0 };
  } else if (config.resume) {
    throw new RunFolderError(`--resume: ${dir} holds no run to resume`);
  }
  return { resumeFrom: null };
}

function labelTensors(tasks: TaskSpec[], split: Split): tf.Tensor1D[] {
  return tasks.map((task) => tf.tensor1d(taskLabels(task, split.labels), "int32"));
}

function imageTensor(split: Split, normalization: Normalization): tf.Tensor4D {
  return tf.tensor4d(standardize(split.images, normalization), [
    split.count,
    IMAGE_SIZE,
    IMAGE_SIZE,
    IMAGE_CHANNELS,
  ]);
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s % 60).padStart(2, "0")}s`;
}

function alphaValues(model: tf.LayersModel): number[][][][] {
  return model.layers
    .filter((layer) => layer.name.startsWith("cross_stitch_"))
    .map((layer) => (layer.getWeights()[0] as tf.Tensor).arraySync() as number[][][]);
}

export async function runTraining(config: TrainConfig, options: TrainOptions = {}): Promise<RunSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const tasks = config.tasks === null ? DEFAULT_TASKS : loadTaskFile(config.tasks);
  if (config.cross_stitch_enabled && tasks.length < 2) {
    throw new ConfigError(
      `${config.tasks} lists one task; cross-stitch units need two (or --cross_stitch_enabled false)`,
    );
  }
  const { resumeFrom } = prepareFolder(config);
  const dir = config.out;

  const data = await loadFashionMnist({ dataDir: config.data_dir ?? undefined, log });
  const train = config.limit === null ? data.train : takeSubset(data.train, config.limit, config.seed);
  const test =
    options.testLimit === undefined ? data.test : takeSubset(data.test, options.testLimit, config.seed);
  const normalization = computeNormalization(train.images, config.normalization);
  if (resumeFrom === null) {
    fs.mkdirSync(dir, { recursive: true });
    writeNormalization(dir, normalization);
    writeRunTasks(dir, tasks);
    writeRunConfig(dir, { ...config, resume: false, overwrite: false });
  }

  const model = buildModel(config, tasks);
  const trainer = new Trainer(model, tasks, config);
  let startEpoch = 0;
  let shuffle = createRng(config.seed);
  if (resumeFrom !== null && resumeFrom > 0) {
    const checkpoint = loadCheckpoint(dir);
    restoreWeights(model, checkpoint.weights);
    trainer.restore({ step: checkpoint.adamStep, m: checkpoint.adamM, v: checkpoint.adamV });
    tf.dispose([...checkpoint.weights.values(), ...checkpoint.adamM, ...checkpoint.adamV]);
    startEpoch = checkpoint.epoch;
    shuffle = createRng(config.seed, checkpoint.rngState);
    log(`resuming ${dir} after epoch ${startEpoch}`);
  }
  keepMetricsUpTo(dir, startEpoch);

  const trainImages = imageTensor(train, normalization);
  const trainLabels = labelTensors(tasks, train);
  const testImages = imageTensor(test, normalization);
  const testLabels = labelTensors(tasks, test);
  const writer = tf.node.summaryFileWriter(path.join(dir, "logs"));
  const batchesPerEpoch = Math.ceil(train.count / config.n_batch_size);
  log(
    `training ${model.name} (${tasks.map((t) => t.name).join(", ")}) on ${train.count} images, ` +
      `testing on ${test.count}; ${batchesPerEpoch} batches of ${config.n_batch_size} per epoch; run folder ${dir}`,
  );

  const epochSeconds: number[] = [];
  try {
    for (let epoch = startEpoch + 1; epoch <= config.n_epoch; epoch++) {
      const started = performance.now();
      const order = shuffledIndices(train.count, shuffle);
      for (let b = 0; b < batchesPerEpoch; b++) {
        if (options.signal?.aborted) {
          throw new InterruptedError(
            `interrupted in epoch ${epoch}, batch ${b}; the last checkpoint is epoch ${epoch - 1}`,
          );
        }
        const indices = order.subarray(b * config.n_batch_size, (b + 1) * config.n_batch_size);
        tf.tidy(() => {
          const index = tf.tensor1d(Int32Array.from(indices), "int32");
          trainer.step({
            images: tf.gather(trainImages, index) as tf.Tensor4D,
            labels: trainLabels.map((labels) => tf.gather(labels, index) as tf.Tensor1D),
            // Stateless dropout seeds from (seed, tower, epoch, batch): a resumed epoch replays its masks.
            dropoutSeeds: tasks.map((_, t) => [config.seed * 64 + t, epoch * 100_000 + b]),
          });
        });
        if ((b + 1) % PROGRESS_EVERY === 0 && b + 1 < batchesPerEpoch) {
          const rate = ((b + 1) * config.n_batch_size) / ((performance.now() - started) / 1000);
          log(`  epoch ${epoch}: ${b + 1}/${batchesPerEpoch} batches, ${rate.toFixed(0)} img/s`);
        }
      }
      const trainSeconds = (performance.now() - started) / 1000;
      const losses = await trainer.takeLosses();
      trainer.syncModel();
      const accuracy = await evaluate(model, testImages, testLabels);
      const seconds = (performance.now() - started) / 1000;
      const record: EpochMetrics = {
        epoch,
        loss: Object.fromEntries(tasks.map((t, i) => [t.name, losses.perTask[i] as number])),
        loss_total: losses.total,
        test_accuracy: Object.fromEntries(tasks.map((t, i) => [t.name, accuracy[i] as number])),
        test_accuracy_mean: accuracy.reduce((a, b) => a + b, 0) / accuracy.length,
        seconds,
        images_per_second: train.count / trainSeconds,
        alpha_self: alphaValues(model).map(meanDiagonal),
      };
      appendMetrics(dir, record);
      for (const [name, value] of Object.entries(record.loss)) writer.scalar(`loss/${name}`, value, epoch);
      writer.scalar("loss/total", record.loss_total, epoch);
      for (const [name, value] of Object.entries(record.test_accuracy))
        writer.scalar(`accuracy/${name}`, value, epoch);
      writer.scalar("accuracy/mean", record.test_accuracy_mean, epoch);
      writer.flush();
      const adam = trainer.optimizerState();
      await saveCheckpoint(dir, { epoch, rngState: shuffle.state(), adamStep: adam.step }, model, adam);
      tf.dispose([...adam.m, ...adam.v]);
      epochSeconds.push(seconds);
      const average = epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length;
      log(
        `epoch ${epoch}/${config.n_epoch}  ${losses.batches} batches  loss ${tasks.map((t, i) => `${t.name} ${(losses.perTask[i] as number).toFixed(4)}`).join(" ")}` +
          `  test acc ${tasks.map((t, i) => `${t.name} ${(accuracy[i] as number).toFixed(4)}`).join(" ")} mean ${record.test_accuracy_mean.toFixed(4)}` +
          `  ${seconds.toFixed(1)} s  ${record.images_per_second.toFixed(0)} img/s  ETA ${formatDuration(average * (config.n_epoch - epoch))}`,
      );
    }
    await saveModel(dir, model);
    const summary = summarize(model.name, tasks, readMetrics(dir), alphaValues(model));
    writeSummary(dir, summary);
    log(
      `done: final mean test accuracy ${summary.final.mean.toFixed(4)} (${tasks.map((t) => `${t.name} ${(summary.final.per_task[t.name] as number).toFixed(4)}`).join(", ")}); ` +
        `best ${summary.best.mean.toFixed(4)} at epoch ${summary.best.epoch}; last-5 mean ${summary.last5.mean.toFixed(4)}; summary in ${path.join(dir, RUN_FILES.summary)}`,
    );
    return summary;
  } finally {
    tf.dispose([trainImages, testImages, ...trainLabels, ...testLabels]);
    trainer.dispose();
    model.dispose();
  }
}

function meanDiagonal(alpha: number[][][]): number {
  let sum = 0;
  let count = 0;
  for (const matrix of alpha) {
    matrix.forEach((row, i) => {
      sum += row[i] as number;
      count++;
    });
  }
  return sum / count;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(usage());
    return 0;
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await runTraining(parseTrainArgs(argv), { signal: controller.signal });
    return 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TaskFileError || error instanceof RunFolderError) {
      console.error(`train: ${error.message}`);
      return 2;
    }
    if (error instanceof DataError) {
      console.error(`train: ${error.message}`);
      return 1;
    }
    if (error instanceof InterruptedError) {
      console.error(`train: ${error.message}; continue with the same flags plus --resume`);
      return 130;
    }
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
