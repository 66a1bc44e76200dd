// Many runs side by side over their common epochs, with means over seeds; bad input is refused.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { writeComparison } from "../../train/compare.ts";
import { ReportError } from "../../train/report.ts";
import { legendLabels, seriesDashes } from "../charts/svg-reading.ts";
import { writeRunFolder } from "./run-fixtures.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-compare-"));
const channelConvex = { alpha_mode: "channel", alpha_init: "convex", alpha_same: 0.9, alpha_lr_mult: 10 };

test("compare: common epochs, per-run figures, alpha self weight, mean over seeds", async () => {
  const baseline1 = writeRunFolder(root, "baseline-s1", {
    crossStitch: false,
    seed: 1,
    accuracies: [
      [0.8, 0.9],
      [0.86, 0.92],
      [0.84, 0.9],
      [0.99, 0.99],
    ],
    finished: true,
  });
  const baseline2 = writeRunFolder(root, "baseline-s2", {
    crossStitch: false,
    seed: 2,
    accuracies: [
      [0.82, 0.9],
      [0.84, 0.9],
      [0.88, 0.94],
      [0.99, 0.99],
    ],
    finished: true,
  });
  const ablation = writeRunFolder(root, "ablation-layer-s1", {
    crossStitch: true,
    seed: 1,
    config: { ...channelConvex, alpha_mode: "layer", alpha_init: "identity", alpha_lr_mult: 1 },
    accuracies: [
      [0.81, 0.91],
      [0.87, 0.95],
      [0.85, 0.93],
    ],
    alphaSelf: [1.25, 1, 0.5],
    finished: false,
  });
  const out = path.join(root, "compare");
  await writeComparison([baseline1, baseline2, ablation], out);

  const json = JSON.parse(fs.readFileSync(path.join(out, "comparison.json"), "utf8"));
  // The ablation stopped at epoch 3: epoch 4 (0.99 for the baselines) must not count.
  assert.equal(json.epochs_compared, 3);
  const [b1, , layer] = json.runs;
  assert.equal(b1.final.epoch, 3);
  assert.ok(Math.abs(b1.final.mean - 0.87) < 1e-9);
  assert.equal(b1.best.epoch, 2);
  assert.ok(Math.abs(b1.mean_all_epochs - (0.85 + 0.89 + 0.87) / 3) < 1e-9);
  assert.equal(layer.variant, "cross-stitch layer, identity, alpha lr x1");
  assert.deepEqual(layer.alpha_self, [1.25, 1, 0.5]);
  assert.match(layer.status, /IN PROGRESS: 3 of 4/);
  assert.equal(json.seed_means.length, 1, "only the baselines share their settings");
  const [baselines] = json.seed_means;
  assert.deepEqual(baselines.seeds, [1, 2]);
  assert.ok(Math.abs(baselines.final - (0.87 + 0.91) / 2) < 1e-9);
  assert.ok(Math.abs(baselines.best - (0.89 + 0.91) / 2) < 1e-9);

  const markdown = fs.readFileSync(path.join(out, "comparison.md"), "utf8");
  assert.match(
    markdown,
    /\| ablation-layer-s1 \| 1 \| cross-stitch layer, identity, alpha lr x1 \| 89\.00 \| 91\.00 \(2\) \|/,
  );
  assert.match(markdown, /1\.25 \/ 1\.00 \/ 0\.50 \|/);
  assert.match(markdown, /\| baseline \| 1, 2 \| 89\.00 \| 90\.00 \|/);
  assert.equal(fs.readFileSync(path.join(out, "accuracy-mean.png")).subarray(1, 4).toString(), "PNG");
  // Seeds of one variant share a colour; every run has its own dash and a legend entry.
  const chart = fs.readFileSync(path.join(out, "accuracy-mean.svg"), "utf8");
  assert.deepEqual(legendLabels(chart), ["baseline-s1", "baseline-s2", "ablation-layer-s1"]);
  assert.equal(new Set(seriesDashes(chart).values()).size, 3);
  const colors = [...chart.matchAll(/<path class="series"[^>]*stroke="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(colors[0], colors[1]);
  assert.notEqual(colors[0], colors[2]);
  assert.ok(fs.existsSync(path.join(out, "runs", "ablation-layer-s1", "config.json")));
});

test("compare: fewer than two runs or runs with different tasks are refused", async () => {
  const one = writeRunFolder(root, "only", { crossStitch: false, accuracies: [[0.8, 0.9]], finished: true });
  await assert.rejects(writeComparison([one], path.join(root, "x")), ReportError);
  const other = writeRunFolder(root, "other-tasks", {
    crossStitch: false,
    accuracies: [[0.8, 0.9]],
    finished: true,
  });
  const tasksFile = path.join(other, "tasks.json");
  fs.writeFileSync(tasksFile, JSON.stringify([{ name: "digits", classes: ["a", "b"] }]));
  await assert.rejects(
    writeComparison([one, other], path.join(root, "y")),
    /tasks\.json: \[0\]: labelMap must map/,
  );
  const digits = { name: "digits", classes: ["a", "b"], labelMap: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1] };
  fs.writeFileSync(tasksFile, JSON.stringify([digits]));
  await assert.rejects(writeComparison([one, other], path.join(root, "y")), /different tasks/);
  assert.equal(fs.existsSync(path.join(root, "y")), false, "nothing written for refused input");
});

test.after(() => fs.rmSync(root, { recursive: true, force: true }));
