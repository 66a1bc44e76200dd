/**
 * The train stage: `npm run train -- [flags]` trains one variant and writes its run folder
 * (docs/run-folder.md), checkpointing every epoch so `--resume` continues a killed run with the
 * result it would have had.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { EXIT, InterruptedError, parseCommand, runCommand } from "../cli/args.ts";
import { IMAGE_CHANNELS, IMAGE_SIZE } from "../contracts/image.ts";
import { computeNormalization, type Normalization, standardize } from "../contracts/normalization.ts";
import {
  type EpochMetrics,
  RUN_FILES,
  RunFileError,
  type RunSummary,
  type Selection,
  type WeightsAccuracy,
} from "../contracts/run-folder.ts";
import { DEFAULT_TASKS, derivations, TaskFileError, type TaskSpec, taskLabels } from "../contracts/tasks.ts";
import { createRng, takeSubset } from "../data/dataset.ts";
import { loadFashionMnist, type Split } from "../data/fashion-mnist.ts";
import { balancedSubset, epochOrder, SplitError, stratifiedSplit } from "../data/split.ts";
import {
  appendMetrics,
  keepMetricsUpTo,
  loadTaskFile,
  readMetrics,
  readRunConfig,
  readSelection,
  writeNormalization,
  writeRunConfig,
  writeRunTasks,
  writeSelection,
  writeSummary,
} from "../stage-files/run-folder.ts";
import { augmentationEnabled, augmentBatch, drawAugmentation } from "./augment.ts";
import { ConfigError, DEFAULT_CONFIG, type TrainConfig, trainCommand } from "./config.ts";
import { WeightAverage } from "./ema.ts";
import { evaluateAll } from "./evaluate.ts";
import { buildModel } from "./model.ts";
import {
  latestCheckpointEpoch,
  loadCheckpoint,
  restoreWeights,
  saveCheckpoint,
  saveModel,
} from "./run-folder.ts";
import { learningRateScale, type ScheduleSpec } from "./schedule.ts";
import { SELECTED_MODEL_DIR, SELECTION_FILE, selectWeights } from "./selection.ts";
import { Trainer } from "./step.ts";
import { summarize } from "./summary.ts";
import * as tf from "./tf.ts";

/** In-epoch progress lines after the first batch and every this many batches (a full epoch is 469). */
const PROGRESS_EVERY = 100;

/**
 * A macrotask turn between batches: tfjs-node runs a batch synchronously, so without it a SIGINT's
 * handler would wait for the whole epoch (5-15 minutes here). setImmediate costs microseconds
 * against a batch's tens of milliseconds.
 */
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

export class RunFolderError extends Error {
  override name = "RunFolderError";
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
  "val_size",
  "train_size",
  "epoch_images",
  "ema_decay",
  "lr_schedule",
  "warmup_epochs",
  "label_smoothing",
  "aug_shift",
  "aug_flip",
  "aug_brightness",
  "aug_contrast",
  "aug_invert",
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
    // A folder written before a flag existed ran with that flag's default.
    const savedValue = (key: keyof TrainConfig) =>
      saved[key] ?? (key in DEFAULT_CONFIG ? DEFAULT_CONFIG[key as keyof typeof DEFAULT_CONFIG] : undefined);
    const differing = RUN_DEFINING.filter(
      (key) => JSON.stringify(savedValue(key)) !== JSON.stringify(config[key]),
    );
    if (differing.length > 0) {
      const list = differing.map(
        (k) => `--${k} ${JSON.stringify(savedValue(k))} (now ${JSON.stringify(config[k])})`,
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

/** Training images (a subset when asked) and, with --val_size, the held-out validation images. */
function trainingSets(config: TrainConfig, all: Split): { train: Split; validation: Split | null } {
  let pool = all;
  let validation: Split | null = null;
  if (config.val_size > 0) {
    const held = stratifiedSplit(all, config.val_size, config.seed);
    pool = held.train;
    validation = held.validation;
  }
  if (config.train_size !== null)
    return { train: balancedSubset(pool, config.train_size, config.seed), validation };
  if (config.limit !== null) return { train: takeSubset(pool, config.limit, config.seed), validation };
  return { train: pool, validation };
}

/** The z-score as tensors that broadcast over [batch, 28, 28, 1]. */
function normalizationTensors(normalization: Normalization): { mean: tf.Tensor; std: tf.Tensor } {
  const shape = normalization.mean.length === 1 ? [] : [IMAGE_SIZE, IMAGE_SIZE, 1];
  return { mean: tf.tensor(normalization.mean, shape), std: tf.tensor(normalization.std, shape) };
}

interface LabelledSet {
  images: tf.Tensor4D;
  labels: tf.Tensor1D[];
}

function sameChoice(a: Selection | null, b: Selection | null): boolean {
  return a !== null && b !== null && a.epoch === b.epoch && a.weights === b.weights;
}

/** The epochs recorded so far (none for a new run). */
function recordedEpochs(dir: string): EpochMetrics[] {
  return fs.existsSync(path.join(dir, RUN_FILES.metrics)) ? readMetrics(dir) : [];
}

const byTask = (tasks: readonly TaskSpec[], values: number[]) =>
  Object.fromEntries(tasks.map((t, i) => [t.name, values[i] as number]));
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const formatAccuracy = (tasks: readonly TaskSpec[], values: number[]) =>
  `${tasks.map((t, i) => `${t.name} ${(values[i] as number).toFixed(4)}`).join(" ")} mean ${mean(values).toFixed(4)}`;

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
  let sets: ReturnType<typeof trainingSets>;
  try {
    sets = trainingSets(config, data.train);
  } catch (error) {
    if (error instanceof SplitError) throw new ConfigError(error.message);
    throw error;
  }
  const { train, validation } = sets;
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
  const average =
    config.ema_decay > 0 ? new WeightAverage(model, buildModel(config, tasks), config.ema_decay) : null;
  let startEpoch = 0;
  let shuffle = createRng(config.seed);
  if (resumeFrom !== null && resumeFrom > 0) {
    const checkpoint = loadCheckpoint(dir);
    restoreWeights(model, checkpoint.weights, checkpoint.dir);
    try {
      trainer.restore({ step: checkpoint.adamStep, m: checkpoint.adamM, v: checkpoint.adamV });
    } catch (error) {
      throw new RunFileError(`${checkpoint.dir}: ${(error as Error).message}`);
    }
    if (average) restoreWeights(average.model, checkpoint.ema, checkpoint.dir, "moving average of");
    tf.dispose([
      ...checkpoint.weights.values(),
      ...checkpoint.adamM,
      ...checkpoint.adamV,
      ...checkpoint.ema.values(),
    ]);
    startEpoch = checkpoint.epoch;
    shuffle = createRng(config.seed, checkpoint.rngState);
    log(`resuming ${dir} after epoch ${startEpoch}`);
  }
  keepMetricsUpTo(dir, startEpoch);
  const records = recordedEpochs(dir);
  let selection = await reconcileSelection(dir, records, startEpoch, model, average);

  const augmenting = augmentationEnabled(config);
  // Augmented runs keep raw intensities and z-score each batch after augmenting it.
  const trainImages = augmenting
    ? tf.tensor4d(Float32Array.from(train.images), [train.count, IMAGE_SIZE, IMAGE_SIZE, 1])
    : imageTensor(train, normalization);
  const zScore = normalizationTensors(normalization);
  const trainLabels = labelTensors(tasks, train);
  const testSet: LabelledSet = {
    images: imageTensor(test, normalization),
    labels: labelTensors(tasks, test),
  };
  const validationSet: LabelledSet | null = validation
    ? { images: imageTensor(validation, normalization), labels: labelTensors(tasks, validation) }
    : null;
  const derived = derivations(tasks);
  const writer = tf.node.summaryFileWriter(path.join(dir, "logs"));
  const epochImages = config.epoch_images ?? train.count;
  const batchesPerEpoch = Math.ceil(epochImages / config.n_batch_size);
  const schedule: ScheduleSpec = {
    schedule: config.lr_schedule,
    totalSteps: config.n_epoch * batchesPerEpoch,
    warmupSteps: Math.round(config.warmup_epochs * batchesPerEpoch),
    finalFraction: 0,
  };
  log(
    `training ${model.name} (${tasks.map((t) => t.name).join(", ")}) on ${train.count} images` +
      `${validation ? `, validating on ${validation.count}` : ""}, testing on ${test.count}; ` +
      `${batchesPerEpoch} batches of ${config.n_batch_size} per epoch (${epochImages} images); ` +
      `preset ${config.preset}${augmenting ? ", augmented" : ""}${average ? `, EMA ${config.ema_decay}` : ""}, ` +
      `lr ${config.lr_schedule}; run folder ${dir}`,
  );

  const evaluateWeights = async (weights: tf.LayersModel): Promise<WeightsAccuracy> => {
    const onTest = await evaluateAll(weights, testSet.images, testSet.labels, derived);
    const result: WeightsAccuracy = {
      test_accuracy: byTask(tasks, onTest.perTask),
      test_accuracy_mean: mean(onTest.perTask),
      ...(derived.length > 0
        ? {
            derived_test_accuracy: Object.fromEntries(
              derived.map((d, i) => [d.name, onTest.derived[i] as number]),
            ),
          }
        : {}),
    };
    if (validationSet) {
      const onValidation = await evaluateAll(weights, validationSet.images, validationSet.labels, derived);
      result.validation_accuracy = byTask(tasks, onValidation.perTask);
      result.validation_accuracy_mean = mean(onValidation.perTask);
      if (derived.length > 0)
        result.derived_validation_accuracy = Object.fromEntries(
          derived.map((d, i) => [d.name, onValidation.derived[i] as number]),
        );
    }
    return result;
  };
  const accuracies = (figures: WeightsAccuracy, key: "test_accuracy" | "validation_accuracy") =>
    tasks.map((t) => figures[key]?.[t.name] as number);

  const epochSeconds: number[] = [];
  try {
    for (let epoch = startEpoch + 1; epoch <= config.n_epoch; epoch++) {
      const started = performance.now();
      const order = epochOrder(train.count, epochImages, shuffle);
      let lrScale = 1;
      for (let b = 0; b < batchesPerEpoch; b++) {
        await yieldToEvents();
        if (options.signal?.aborted) {
          throw new InterruptedError(
            `interrupted in epoch ${epoch}, batch ${b}; the last checkpoint is epoch ${epoch - 1}`,
          );
        }
        const indices = order.subarray(b * config.n_batch_size, (b + 1) * config.n_batch_size);
        lrScale = learningRateScale(schedule, trainer.steps);
        tf.tidy(() => {
          const index = tf.tensor1d(Int32Array.from(indices), "int32");
          const picked = tf.gather(trainImages, index) as tf.Tensor4D;
          const images = augmenting
            ? augmentBatch(
                picked,
                drawAugmentation(config, indices.length, IMAGE_SIZE, [config.seed, epoch, b]),
                config.aug_shift,
                zScore.mean,
                zScore.std,
              )
            : picked;
          trainer.step(
            {
              images,
              labels: trainLabels.map((labels) => tf.gather(labels, index) as tf.Tensor1D),
              // Stateless dropout seeds from (seed, tower, epoch, batch): a resumed epoch replays its masks.
              dropoutSeeds: tasks.map((_, t) => [config.seed * 64 + t, epoch * 100_000 + b]),
            },
            lrScale,
          );
        });
        if (average) {
          if (average.due(trainer.steps))
            tf.tidy(() => average.update(trainer.steps, trainer.readOptimised()));
        }
        if ((b === 0 || (b + 1) % PROGRESS_EVERY === 0) && b + 1 < batchesPerEpoch) {
          const rate = ((b + 1) * config.n_batch_size) / ((performance.now() - started) / 1000);
          log(`  epoch ${epoch}: ${b + 1}/${batchesPerEpoch} batches, ${rate.toFixed(0)} img/s`);
        }
      }
      const trainSeconds = (performance.now() - started) / 1000;
      const losses = await trainer.takeLosses();
      trainer.syncModel();
      const raw = await evaluateWeights(model);
      const smoothed = average ? await evaluateWeights(average.model) : null;
      const seconds = (performance.now() - started) / 1000;
      const record: EpochMetrics = {
        epoch,
        loss: byTask(tasks, losses.perTask),
        loss_total: losses.total,
        ...raw,
        seconds,
        images_per_second: epochImages / trainSeconds,
        alpha_self: alphaValues(model).map(meanDiagonal),
        ...(smoothed ? { ema: smoothed } : {}),
        lr: config.lr * lrScale,
      };
      appendMetrics(dir, record);
      records.push(record);
      for (const [name, value] of Object.entries(record.loss)) writer.scalar(`loss/${name}`, value, epoch);
      writer.scalar("loss/total", record.loss_total, epoch);
      for (const [name, value] of Object.entries(record.test_accuracy))
        writer.scalar(`accuracy/${name}`, value, epoch);
      writer.scalar("accuracy/mean", record.test_accuracy_mean, epoch);
      if (record.validation_accuracy_mean !== undefined)
        writer.scalar("validation_accuracy/mean", record.validation_accuracy_mean, epoch);
      if (smoothed) writer.scalar("ema_accuracy/mean", smoothed.test_accuracy_mean, epoch);
      writer.flush();
      const adam = trainer.optimizerState();
      await saveCheckpoint(
        dir,
        { epoch, rngState: shuffle.state(), adamStep: adam.step },
        model,
        adam,
        average?.named() ?? [],
      );
      tf.dispose([...adam.m, ...adam.v]);
      // After the checkpoint: a run killed before this line re-saves the choice on --resume.
      const chosen = selectWeights(records);
      if (chosen && !sameChoice(chosen, selection)) {
        await saveSelection(dir, chosen, model, average);
        selection = chosen;
      }
      epochSeconds.push(seconds);
      const meanSeconds = epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length;
      log(
        `epoch ${epoch}/${config.n_epoch}  ${losses.batches} batches  loss ${tasks.map((t, i) => `${t.name} ${(losses.perTask[i] as number).toFixed(4)}`).join(" ")}` +
          (validationSet
            ? `  val acc ${formatAccuracy(tasks, accuracies(raw, "validation_accuracy"))}`
            : "") +
          `  test acc ${formatAccuracy(tasks, accuracies(raw, "test_accuracy"))}` +
          (smoothed
            ? `  EMA ${validationSet ? `val ${(smoothed.validation_accuracy_mean as number).toFixed(4)} ` : ""}test ${smoothed.test_accuracy_mean.toFixed(4)}`
            : "") +
          `  ${seconds.toFixed(1)} s  ${record.images_per_second.toFixed(0)} img/s  ETA ${formatDuration(meanSeconds * (config.n_epoch - epoch))}`,
      );
    }
    await saveModel(dir, model);
    const summary: RunSummary = {
      ...summarize(model.name, tasks, records, alphaValues(model)),
      ...(selection ? { selected: selection } : {}),
    };
    writeSummary(dir, summary);
    log(
      `done: final mean test accuracy ${summary.final.mean.toFixed(4)} (${tasks.map((t) => `${t.name} ${(summary.final.per_task[t.name] as number).toFixed(4)}`).join(", ")}); ` +
        `best ${summary.best.mean.toFixed(4)} at epoch ${summary.best.epoch}; last-5 mean ${summary.last5.mean.toFixed(4)}` +
        (selection
          ? `; validation chose the ${selection.weights} weights of epoch ${selection.epoch} (validation ${selection.validation_accuracy_mean.toFixed(4)}, test ${selection.test_accuracy_mean.toFixed(4)}) in ${path.join(dir, SELECTED_MODEL_DIR)}`
          : "") +
        `; summary in ${path.join(dir, RUN_FILES.summary)}`,
    );
    return summary;
  } finally {
    tf.dispose([
      trainImages,
      zScore.mean,
      zScore.std,
      testSet.images,
      ...testSet.labels,
      ...trainLabels,
      ...(validationSet ? [validationSet.images, ...validationSet.labels] : []),
    ]);
    trainer.dispose();
    average?.dispose();
    model.dispose();
  }
}

/** Saves the chosen weights as model-best/ and then records the choice in selection.json. */
async function saveSelection(
  dir: string,
  chosen: Selection,
  model: tf.LayersModel,
  average: WeightAverage | null,
): Promise<void> {
  const weights = chosen.weights === "ema" ? average?.model : model;
  if (weights === undefined) throw new Error("the EMA weights were chosen but the run keeps no EMA");
  await saveModel(dir, weights, SELECTED_MODEL_DIR);
  writeSelection(dir, chosen);
}

/**
 * On --resume: the choice over the kept epochs must be the one on disk. A run killed between its
 * checkpoint and saving a new choice left it one epoch behind; the checkpoint holds exactly
 * those weights, so they are saved now. Anything else means the folder was tampered with.
 */
async function reconcileSelection(
  dir: string,
  records: EpochMetrics[],
  startEpoch: number,
  model: tf.LayersModel,
  average: WeightAverage | null,
): Promise<Selection | null> {
  const chosen = selectWeights(records);
  const saved = readSelection(dir);
  if (chosen === null || sameChoice(chosen, saved)) return saved;
  if (chosen.epoch !== startEpoch) {
    throw new RunFolderError(
      `--resume: ${path.join(dir, SELECTION_FILE)} does not hold the validation choice of the kept epochs (epoch ${chosen.epoch}, ${chosen.weights}); start the run over with --overwrite`,
    );
  }
  await saveSelection(dir, chosen, model, average);
  return chosen;
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
  const config = parseCommand(trainCommand, argv);
  if (config === null) return EXIT.ok;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await runTraining(config, { signal: controller.signal });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TaskFileError || error instanceof RunFolderError) {
      console.error(`train: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof InterruptedError)
      throw new InterruptedError(`${error.message}; continue with the same flags plus --resume`);
    throw error;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  runCommand(trainCommand, () => main(process.argv.slice(2)));
}
