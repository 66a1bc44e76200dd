import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { chartNote, curveSeries, curvesMarkdown } from "../../analysis/curves.ts";
import { readRunFiles } from "../../analysis/runs.ts";
import { DEFAULT_TASKS } from "../../contracts/tasks.ts";
import { writeSelection } from "../../stage-files/run-folder.ts";
import { epochRecord, runConfig, selectionRecord } from "../../testing/run-records.ts";

test("curves of a run in progress: validation and test, raw and EMA, the choice marked and the status stated", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-curves-"));
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify(runConfig({ n_epoch: 30, seed: 1, cross_stitch_enabled: true, val_size: 5000 })),
  );
  fs.writeFileSync(path.join(dir, "tasks.json"), JSON.stringify(DEFAULT_TASKS));
  const record = (epoch: number, v: number) =>
    epochRecord({
      epoch,
      test_accuracy: { fashion: v - 0.01, category: v },
      test_accuracy_mean: v - 0.005,
      validation_accuracy: { fashion: v, category: v + 0.01 },
      validation_accuracy_mean: v + 0.005,
      ema: {
        test_accuracy: { fashion: v, category: v },
        test_accuracy_mean: v,
        validation_accuracy: { fashion: v, category: v },
        validation_accuracy_mean: v + 0.01,
      },
      lr: 0.001,
    });
  fs.writeFileSync(
    path.join(dir, "metrics.jsonl"),
    `${[record(1, 0.8), record(2, 0.9)].map((r) => JSON.stringify(r)).join("\n")}\n`,
  );
  writeSelection(
    dir,
    selectionRecord({
      epoch: 2,
      weights: "ema",
      validation_accuracy: { fashion: 0.91, category: 0.91 },
      validation_accuracy_mean: 0.91,
      test_accuracy: { fashion: 0.9, category: 0.9 },
      test_accuracy_mean: 0.9,
    }),
  );
  const run = readRunFiles(dir);
  assert.ok(run);
  const series = curveSeries(run, "fashion");
  assert.deepEqual(
    series.map((s) => s.label),
    ["validation, raw", "validation, EMA", "test, raw", "test, EMA"],
  );
  assert.deepEqual(series[2]?.points, [
    { x: 1, y: 0.8 - 0.01 },
    { x: 2, y: 0.9 - 0.01 },
  ]);
  // Four curves in four colours; raw solid and EMA dashed.
  assert.equal(new Set(series.map((s) => s.color)).size, 4);
  assert.deepEqual(
    series.map((s) => s.dash === "none"),
    [true, false, true, false],
  );
  const markdown = curvesMarkdown(run, "demo");
  assert.match(markdown, /IN PROGRESS: epoch 2 of 30/);
  assert.match(markdown, /\| 2 \(chosen: ema\) \| 90\.00 \| 89\.00 \|/);
  assert.match(markdown, /so far; a later epoch may replace it/);
  assert.equal(
    chartNote(run),
    "IN PROGRESS: epoch 2 of 30; validation choice so far: ema weights of epoch 2",
  );
  assert.equal(
    chartNote({ ...run, finished: true }),
    "finished, 2 epochs; validation choice: ema weights of epoch 2",
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
