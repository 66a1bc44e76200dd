// The comparison report from two run folders: tables, plots, copies; unfinished runs say so.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { writeReport } from "../../train/report.ts";
import { legendLabels, seriesDashes, tickLabels } from "../charts/svg-reading.ts";
import { writeRunFolder } from "./run-fixtures.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-report-"));

function writeRun(
  name: string,
  crossStitch: boolean,
  accuracies: [number, number][],
  finished: boolean,
): string {
  return writeRunFolder(root, name, { crossStitch, accuracies, finished });
}

test("report: table of final, best and last-5 accuracy, PNG plots, copies of the run files", async () => {
  const baseline = writeRun(
    "baseline-s1",
    false,
    [
      [0.8, 0.9],
      [0.85, 0.92],
      [0.84, 0.93],
      [0.87, 0.91],
    ],
    true,
  );
  const stitched = writeRun(
    "cross-stitch-s1",
    true,
    [
      [0.82, 0.9],
      [0.88, 0.95],
      [0.87, 0.94],
    ],
    true,
  );
  const out = path.join(root, "report");
  await writeReport(baseline, stitched, out);
  for (const png of ["accuracy.png", "accuracy-mean.png", "loss.png", "alphas.png"]) {
    const bytes = fs.readFileSync(path.join(out, png));
    assert.equal(bytes.subarray(1, 4).toString(), "PNG", `${png} is not a PNG`);
  }
  // Colour tells the runs apart and dash the tasks: every (run, task) curve has a legend entry,
  // each task its own dash in both runs, the accuracy axis in percent.
  const accuracySvg = fs.readFileSync(path.join(out, "accuracy.svg"), "utf8");
  const curves = ["mean of tasks", "fashion", "category"];
  assert.deepEqual(
    legendLabels(accuracySvg),
    ["baseline", "cross-stitch"].flatMap((run) => curves.map((c) => `${run}, ${c}`)),
  );
  const dashes = seriesDashes(accuracySvg);
  for (const run of ["baseline", "cross-stitch"])
    assert.equal(new Set(curves.map((c) => dashes.get(`${run}, ${c}`))).size, 3, `${run}: ${[...dashes]}`);
  assert.equal(dashes.get("baseline, fashion"), dashes.get("cross-stitch, fashion"));
  const yTicks = tickLabels(accuracySvg, "y");
  assert.ok(
    yTicks.every((t) => / %$/.test(t)),
    yTicks.join(", "),
  );
  assert.ok(Number.parseFloat(yTicks[0] as string) <= 80 && Number.parseFloat(yTicks.at(-1) as string) >= 95);
  const json = JSON.parse(fs.readFileSync(path.join(out, "comparison.json"), "utf8"));
  assert.equal(json.baseline.final.epoch, 4);
  assert.equal(json.baseline.best.epoch, 4);
  assert.ok(Math.abs(json.baseline.final.mean - 0.89) < 1e-9);
  assert.equal(json.cross_stitch.best.epoch, 2);
  assert.ok(Math.abs(json.cross_stitch_minus_baseline_mean.best - (0.915 - 0.89)) < 1e-9);
  const alphaMean = json.cross_stitch.alpha_means[0].mean.flat() as number[];
  [0.8, 0.2, 0.3, 0.7].forEach((expected, k) => {
    assert.ok(Math.abs((alphaMean[k] as number) - expected) < 1e-9, `alpha mean ${alphaMean}`);
  });
  const markdown = fs.readFileSync(path.join(out, "comparison.md"), "utf8");
  assert.match(markdown, /\| baseline \| final \(epoch 4\) \| 87\.00 \| 91\.00 \| 89\.00 \|/);
  assert.match(markdown, /\| cross-stitch \| best \(epoch 2\) \| 88\.00 \| 95\.00 \| 91\.50 \|/);
  assert.ok(fs.existsSync(path.join(out, "runs", "cross-stitch-s1", "metrics.jsonl")));
  // Baseline has 4 epochs, cross-stitch 3: the equal-epoch comparison stops at 3.
  assert.equal(json.equal_epochs.epochs, 3);
  assert.equal(json.equal_epochs.baseline.final.epoch, 3);
  assert.match(markdown, /## Over the epochs both runs have \(1-3\)/);
});

test("report: a run still in progress is labelled with its epochs done", async () => {
  const baseline = writeRun("baseline-running", false, [[0.8, 0.9]], false);
  const stitched = writeRun("stitch-done", true, [[0.81, 0.9]], true);
  const out = path.join(root, "report-progress");
  await writeReport(baseline, stitched, out);
  assert.match(fs.readFileSync(path.join(out, "comparison.md"), "utf8"), /IN PROGRESS: 1 of 4 epochs done/);
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));
