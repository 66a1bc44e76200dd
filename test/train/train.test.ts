// End to end on a small subset: the run folder, learning beyond chance, refusal to overwrite,
// and a resumed run ending with exactly the weights of an uninterrupted one.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { InterruptedError } from "../../cli/args.ts";
import { ConfigError, parseTrainArgs } from "../../train/config.ts";
import { loadCheckpoint } from "../../train/run-folder.ts";
import { RunFolderError, runTraining } from "../../train/train.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-train-"));
const quiet = () => {};
const smallRun = (name: string, extra: string[] = []) =>
  parseTrainArgs(["--limit", "384", "--n_batch_size", "32", "--out", path.join(root, name), ...extra]);
const TEST_LIMIT = 400;

test("one epoch on 384 images beats chance on both tasks and writes the run folder", async () => {
  const config = smallRun("one-epoch", ["--n_epoch", "1"]);
  const summary = await runTraining(config, { log: quiet, testLimit: TEST_LIMIT });
  // Chance: 0.1 for 10 classes; for category the majority class ("Other", 4 of 10 labels) gives 0.4.
  assert.ok((summary.final.per_task.fashion as number) > 0.3, `fashion ${summary.final.per_task.fashion}`);
  assert.ok(
    (summary.final.per_task.category as number) > 0.55,
    `category ${summary.final.per_task.category}`,
  );
  for (const file of [
    "config.json",
    "normalization.json",
    "tasks.json",
    "metrics.jsonl",
    "summary.json",
    "model/model.json",
  ]) {
    assert.ok(fs.existsSync(path.join(config.out, file)), `missing ${file}`);
  }
  assert.ok(fs.readdirSync(path.join(config.out, "logs")).some((f) => f.startsWith("events.out.tfevents")));
  const metrics = fs.readFileSync(path.join(config.out, "metrics.jsonl"), "utf8").trim().split("\n");
  assert.equal(metrics.length, 1);
  const record = JSON.parse(metrics[0] as string);
  assert.deepEqual(Object.keys(record.loss), ["fashion", "category"]);
  assert.equal(record.alpha_self.length, 3);
  assert.equal(summary.alphas.length, 3);
  assert.deepEqual(summary.alphas[0]?.shape, [32, 2, 2]);
  await assert.rejects(runTraining(config, { log: quiet, testLimit: TEST_LIMIT }), (error: Error) => {
    return error instanceof RunFolderError && /finished run; pass --overwrite/.test(error.message);
  });
});

test("a run interrupted in its second epoch and resumed ends with the uninterrupted run's weights", async () => {
  const flags = ["--n_epoch", "2", "--cross_stitch_enabled", "true"];
  const straight = smallRun("straight", flags);
  await runTraining(straight, { log: quiet, testLimit: TEST_LIMIT });

  const interrupted = smallRun("interrupted", flags);
  const controller = new AbortController();
  const stopAfterFirstEpoch = (line: string) => {
    if (line.startsWith("epoch 1/2")) controller.abort();
  };
  await assert.rejects(
    runTraining(interrupted, { log: stopAfterFirstEpoch, signal: controller.signal, testLimit: TEST_LIMIT }),
    InterruptedError,
  );
  assert.equal(loadCheckpoint(interrupted.out).epoch, 1);
  assert.ok(!fs.existsSync(path.join(interrupted.out, "summary.json")));
  await assert.rejects(
    runTraining(interrupted, { log: quiet, testLimit: TEST_LIMIT }),
    /--resume to continue/,
  );
  await runTraining({ ...interrupted, resume: true }, { log: quiet, testLimit: TEST_LIMIT });

  const weights = (run: string) => fs.readFileSync(path.join(run, "model", "weights.bin"));
  assert.ok(weights(straight.out).equals(weights(interrupted.out)), "final weights differ");
  const accuracies = (run: string) =>
    fs
      .readFileSync(path.join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).test_accuracy);
  assert.deepEqual(accuracies(interrupted.out), accuracies(straight.out));
});

test("a beyond-style run (validation, EMA, augmentation, cosine, smoothing) saves the validation choice and resumes exactly", async () => {
  const flags = [
    "--preset",
    "beyond",
    "--val_size",
    "300",
    "--ema_decay",
    "0.9",
    "--warmup_epochs",
    "0.5",
    "--aug_invert",
    "0.2",
    "--n_epoch",
    "2",
  ];
  const straight = smallRun("beyond-straight", flags);
  const summary = await runTraining(straight, { log: quiet, testLimit: TEST_LIMIT });
  const config = JSON.parse(fs.readFileSync(path.join(straight.out, "config.json"), "utf8"));
  assert.equal(config.preset, "beyond");
  assert.equal(config.lr_schedule, "cosine");
  assert.equal(config.val_size, 300);
  const records = fs
    .readFileSync(path.join(straight.out, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  for (const record of records) {
    assert.deepEqual(Object.keys(record.validation_accuracy), ["fashion", "category"]);
    assert.ok(record.ema.validation_accuracy_mean > 0 && record.ema.test_accuracy_mean > 0);
    assert.ok(record.derived_test_accuracy.category_from_fashion > 0.4);
    assert.ok(record.derived_validation_accuracy.category_from_fashion > 0.4);
    assert.ok(record.ema.derived_validation_accuracy.category_from_fashion > 0.4);
  }
  // The cosine schedule has decayed by the last epoch.
  assert.ok(records[1].lr < 0.001 * 0.01, `lr ${records[1].lr}`);
  const selection = JSON.parse(fs.readFileSync(path.join(straight.out, "selection.json"), "utf8"));
  const candidates = records.flatMap((r) => [
    { epoch: r.epoch, weights: "raw", value: r.validation_accuracy_mean },
    { epoch: r.epoch, weights: "ema", value: r.ema.validation_accuracy_mean },
  ]);
  const best = Math.max(...candidates.map((c) => c.value));
  assert.equal(selection.validation_accuracy_mean, best);
  assert.deepEqual(summary.selected, selection);
  assert.ok(fs.existsSync(path.join(straight.out, "model-best", "model.json")));

  const interrupted = smallRun("beyond-interrupted", flags);
  const controller = new AbortController();
  await assert.rejects(
    runTraining(interrupted, {
      log: (line) => line.startsWith("epoch 1/2") && controller.abort(),
      signal: controller.signal,
      testLimit: TEST_LIMIT,
    }),
    InterruptedError,
  );
  assert.ok(loadCheckpoint(interrupted.out).ema.size > 0, "the checkpoint keeps the EMA");
  await runTraining({ ...interrupted, resume: true }, { log: quiet, testLimit: TEST_LIMIT });
  for (const file of ["model/weights.bin", "model-best/weights.bin", "selection.json"]) {
    const read = (run: string) => fs.readFileSync(path.join(run, file));
    assert.ok(read(straight.out).equals(read(interrupted.out)), `${file} differs after resuming`);
  }
  const figures = (run: string) =>
    fs
      .readFileSync(path.join(run, "metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const { seconds, images_per_second, ...rest } = JSON.parse(line);
        return rest;
      });
  assert.deepEqual(figures(interrupted.out), figures(straight.out));
});

test("a validation split that leaves nothing to train on is a usage error naming the sizes", async () => {
  const config = parseTrainArgs(["--val_size", "60000", "--out", path.join(root, "too-much-validation")]);
  await assert.rejects(runTraining(config, { log: quiet }), (error: Error) => {
    return error instanceof ConfigError && /1\.\.59999 images, got 60000/.test(error.message);
  });
  assert.ok(!fs.existsSync(path.join(root, "too-much-validation", "config.json")));
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));
