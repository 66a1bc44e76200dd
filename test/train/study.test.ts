import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { RUN_FILES } from "../../contracts/run-folder.ts";
import { STUDY_RECORD_FILES, type StudyRunKey } from "../../contracts/study.ts";
import { hasStudyRecord, publishStudyRecord, studyRunDir } from "../../stage-files/study.ts";
import { parseTrainArgs } from "../../train/config.ts";
import { runState, studyPlan } from "../../train/study.ts";
import { writeStudyRunFolder } from "./run-fixtures.ts";

const BASELINE_1K: StudyRunKey = { size: 1000, variant: "baseline", seed: 1 };
const CROSS_STITCH_1K: StudyRunKey = { size: 1000, variant: "cross-stitch", seed: 1 };
const FOUR_EPOCHS: [number, number][] = [
  [0.5, 0.6],
  [0.6, 0.7],
  [0.7, 0.8],
  [0.75, 0.85],
];

function tempRoots() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-study-"));
  return { dir, runs: path.join(dir, "runs"), records: path.join(dir, "records") };
}

/** A finished run folder with what training leaves beside the record files: checkpoints, a model, logs. */
function finishedRunWithCheckpoints(runsRoot: string, key: StudyRunKey): string {
  const dir = writeStudyRunFolder(runsRoot, key, { accuracies: FOUR_EPOCHS, finished: true });
  fs.mkdirSync(path.join(dir, "checkpoints", "epoch-0004"), { recursive: true });
  fs.writeFileSync(path.join(dir, "checkpoints", "latest.json"), "{}");
  fs.writeFileSync(path.join(dir, "checkpoints", "epoch-0004", "tensors.bin"), "weights");
  fs.mkdirSync(path.join(dir, path.dirname(RUN_FILES.model)), { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_FILES.model), "{}");
  fs.writeFileSync(path.join(dir, RUN_FILES.normalization), "{}");
  return dir;
}

/** Every path under `dir`, relative to it, folders included. */
const tree = (dir: string) => (fs.readdirSync(dir, { recursive: true }) as string[]).sort();

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

test("a run is new, interrupted (config.json), finished (summary.json) or published (its record exists)", () => {
  const { dir, runs, records } = tempRoots();
  const planned = (key: StudyRunKey) => {
    const run = studyPlan(runs, [key.size], [key.seed], null).find((r) => r.variant === key.variant);
    assert.ok(run);
    return run;
  };
  const baseline = planned(BASELINE_1K);
  const crossStitch = planned(CROSS_STITCH_1K);
  assert.equal(runState(baseline, records), "new");
  fs.mkdirSync(baseline.dir, { recursive: true });
  fs.writeFileSync(path.join(baseline.dir, RUN_FILES.config), "{}");
  assert.equal(runState(baseline, records), "interrupted");
  writeStudyRunFolder(runs, BASELINE_1K, { accuracies: FOUR_EPOCHS, finished: true });
  assert.equal(runState(baseline, records), "finished");
  assert.equal(hasStudyRecord(records, BASELINE_1K), false);
  publishStudyRecord(baseline.dir, records, BASELINE_1K);
  assert.equal(runState(baseline, records), "published");
  // The record alone is what a wiped machine still has.
  fs.rmSync(runs, { recursive: true });
  assert.equal(runState(baseline, records), "published");
  assert.equal(runState(crossStitch, records), "new");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("publishing copies exactly the record files, byte for byte: no checkpoint, model or log", () => {
  const { dir, runs, records } = tempRoots();
  const runDir = finishedRunWithCheckpoints(runs, BASELINE_1K);
  fs.writeFileSync(`${runDir}.log`, "training log");
  const recordDir = publishStudyRecord(runDir, records, BASELINE_1K);
  assert.equal(recordDir, studyRunDir(records, BASELINE_1K));
  const recordPath = path.join("n1000", "baseline-s1");
  assert.deepEqual(
    tree(records),
    ["n1000", recordPath, ...STUDY_RECORD_FILES.map((file) => path.join(recordPath, file))].sort(),
  );
  for (const file of STUDY_RECORD_FILES) {
    assert.deepEqual(
      fs.readFileSync(path.join(recordDir, file)),
      fs.readFileSync(path.join(runDir, file)),
      file,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a run without summary.json or with a broken metrics.jsonl is not published, and leaves nothing behind", () => {
  const { dir, runs, records } = tempRoots();
  const unfinished = writeStudyRunFolder(runs, BASELINE_1K, { accuracies: FOUR_EPOCHS, finished: false });
  assert.throws(() => publishStudyRecord(unfinished, records, BASELINE_1K), /summary\.json missing/);
  assert.ok(!fs.existsSync(studyRunDir(records, BASELINE_1K)));
  const broken = writeStudyRunFolder(runs, CROSS_STITCH_1K, { accuracies: FOUR_EPOCHS, finished: true });
  fs.appendFileSync(path.join(broken, RUN_FILES.metrics), "{not json\n");
  assert.throws(() => publishStudyRecord(broken, records, CROSS_STITCH_1K), /metrics\.jsonl/);
  assert.deepEqual(fs.readdirSync(path.join(records, "n1000")), [], "no record and no staging folder");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("re-publishing replaces the whole record; a failed one keeps the old record", () => {
  const { dir, runs, records } = tempRoots();
  const runDir = writeStudyRunFolder(runs, BASELINE_1K, { accuracies: FOUR_EPOCHS, finished: true });
  const recordDir = publishStudyRecord(runDir, records, BASELINE_1K);
  const publishedMetrics = fs.readFileSync(path.join(recordDir, RUN_FILES.metrics));
  fs.appendFileSync(path.join(runDir, RUN_FILES.metrics), "{not json\n");
  assert.throws(() => publishStudyRecord(runDir, records, BASELINE_1K), /metrics\.jsonl/);
  assert.deepEqual(fs.readFileSync(path.join(recordDir, RUN_FILES.metrics)), publishedMetrics);
  fs.writeFileSync(path.join(recordDir, "stale.txt"), "left from an older record");
  const rerun = writeStudyRunFolder(runs, BASELINE_1K, {
    accuracies: [...FOUR_EPOCHS, [0.8, 0.9]],
    finished: true,
  });
  assert.equal(publishStudyRecord(rerun, records, BASELINE_1K), recordDir);
  assert.deepEqual(tree(recordDir), [...STUDY_RECORD_FILES].sort());
  for (const file of STUDY_RECORD_FILES) {
    assert.deepEqual(
      fs.readFileSync(path.join(recordDir, file)),
      fs.readFileSync(path.join(rerun, file)),
      file,
    );
  }
  assert.deepEqual(
    fs.readdirSync(path.join(records, "n1000")),
    ["baseline-s1"],
    "no old or staging folder left",
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test("npm run study: --dry_run shows published and finished runs; a real run publishes the finished one without training", () => {
  const { dir, runs, records } = tempRoots();
  publishStudyRecord(
    writeStudyRunFolder(runs, BASELINE_1K, { accuracies: FOUR_EPOCHS, finished: true }),
    records,
    BASELINE_1K,
  );
  fs.rmSync(runs, { recursive: true });
  finishedRunWithCheckpoints(runs, CROSS_STITCH_1K);
  // Training would fail at once on a data folder that does not exist, so exit 0 means nothing trained.
  const study = (...flags: string[]) =>
    spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "train/study.ts",
        "--root",
        runs,
        "--records",
        records,
        "--sizes",
        "1000",
        "--seeds",
        "1",
        "--data_dir",
        path.join(dir, "no-data"),
        ...flags,
      ],
      { encoding: "utf8" },
    );
  const dry = study("--dry_run");
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /n=1000 baseline seed 1: published earlier/);
  assert.match(dry.stdout, /n=1000 cross-stitch seed 1: finished, not published yet/);
  assert.equal(hasStudyRecord(records, CROSS_STITCH_1K), false, "a dry run publishes nothing");
  const real = study();
  assert.equal(real.status, 0, real.stderr);
  assert.equal(hasStudyRecord(records, CROSS_STITCH_1K), true);
  assert.match(real.stdout, new RegExp(`git add ${studyRunDir(records, CROSS_STITCH_1K)}`));
  fs.rmSync(dir, { recursive: true, force: true });
});
