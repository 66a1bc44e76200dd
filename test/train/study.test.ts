import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseTrainArgs } from "../../train/config.ts";
import { runState, studyPlan } from "../../train/study.ts";

test("the study plan: 24 runs, smallest size first, 300k images for the subsets, 30 full epochs at 60k", () => {
  const plan = studyPlan("runs/sharing", [10000, 1000, 60000, 3000], [1, 2, 3], null);
  assert.equal(plan.length, 24);
  assert.deepEqual(
    plan.slice(0, 3).map((r) => [r.size, r.seed, r.variant]),
    [
      [1000, 1, "baseline"],
      [1000, 1, "cross-stitch"],
      [1000, 2, "baseline"],
    ],
  );
  assert.deepEqual([...new Set(plan.map((r) => r.size))], [1000, 3000, 10000, 60000]);
  for (const run of plan) {
    const config = parseTrainArgs(run.args);
    assert.equal(config.preset, "reference");
    assert.equal(config.val_size, 0);
    assert.equal(config.cross_stitch_enabled, run.variant === "cross-stitch");
    assert.equal(config.out, path.join("runs/sharing", `n${run.size}`, `${run.variant}-s${run.seed}`));
    const seen = config.n_epoch * (config.epoch_images ?? 60000);
    if (run.size < 60000) {
      assert.equal(config.train_size, run.size);
      assert.equal(seen, 300000);
    } else {
      assert.equal(config.train_size, null);
      assert.equal(config.n_epoch, 30);
    }
  }
});

test("a run folder is new, interrupted (config.json) or finished (summary.json)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-study-"));
  const run = path.join(dir, "n1000", "baseline-s1");
  assert.equal(runState(run), "new");
  fs.mkdirSync(run, { recursive: true });
  fs.writeFileSync(path.join(run, "config.json"), "{}");
  assert.equal(runState(run), "interrupted");
  fs.writeFileSync(path.join(run, "summary.json"), "{}");
  assert.equal(runState(run), "finished");
  fs.rmSync(dir, { recursive: true, force: true });
});
