import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { analyseStudy, gainChartSvg, readStudy, resultsMarkdown } from "../../analysis/sharing.ts";
import { meanInterval, verdict } from "../../analysis/stats.ts";
import { STUDY_RECORDS_DIR, type StudyRunKey } from "../../contracts/study.ts";
import { DEFAULT_TASKS } from "../../contracts/tasks.ts";
import { publishStudyRecord } from "../../stage-files/study.ts";
import { epochRecord, runConfig } from "../../testing/run-records.ts";
import { legendLabels, seriesDashes, tickLabels } from "../charts/svg-reading.ts";
import { writeStudyRunFolder } from "../train/run-fixtures.ts";

test("mean and 95 % interval over seeds follow Student's t", () => {
  const interval = meanInterval([1, 2, 3]);
  assert.equal(interval.mean, 2);
  assert.equal(interval.sd, 1);
  assert.ok(Math.abs((interval.high as number) - (2 + 4.303 / Math.sqrt(3))) < 1e-9);
  assert.equal(verdict(interval), "no detectable difference");
  assert.equal(verdict(meanInterval([1, 1.1, 0.9])), "helps");
  assert.equal(verdict(meanInterval([-1, -1.1, -0.9])), "hurts");
  assert.equal(verdict(meanInterval([0.5])), "one seed: no interval");
});

/** A run folder whose every epoch scores the given test accuracies. */
function writeRun(
  dir: string,
  epochs: number,
  nEpoch: number,
  fashion: number,
  category: number,
  mapped: number,
) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify(runConfig({ n_epoch: nEpoch, seed: 1, cross_stitch_enabled: false })),
  );
  fs.writeFileSync(path.join(dir, "tasks.json"), JSON.stringify(DEFAULT_TASKS));
  const lines = Array.from({ length: epochs }, (_, i) =>
    JSON.stringify(
      epochRecord({
        epoch: i + 1,
        // Early epochs score lower: only the last 5 may enter the statistic.
        test_accuracy: { fashion: i < epochs - 5 ? 0.1 : fashion, category: i < epochs - 5 ? 0.1 : category },
        test_accuracy_mean: i < epochs - 5 ? 0.1 : (fashion + category) / 2,
        derived_test_accuracy: { category_from_fashion: i < epochs - 5 ? 0.1 : mapped },
      }),
    ),
  );
  fs.writeFileSync(path.join(dir, "metrics.jsonl"), `${lines.join("\n")}\n`);
  if (epochs === nEpoch) fs.writeFileSync(path.join(dir, "summary.json"), "{}");
}

test("gains per size are paired by seed over finished runs; the fair category baseline is the mapped fashion head", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-sharing-"));
  // n=1000: cross-stitch gains 1, 2, 3 points on fashion; 0 on category; mapped fashion head 0.5 points above the category head.
  [1, 2, 3].forEach((seed, i) => {
    writeRun(path.join(root, "n1000", `baseline-s${seed}`), 8, 8, 0.8, 0.9, 0.905);
    writeRun(path.join(root, "n1000", `cross-stitch-s${seed}`), 8, 8, 0.8 + (i + 1) / 100, 0.9, 0.9);
  });
  // n=3000: one finished pair, and a third run still going.
  writeRun(path.join(root, "n3000", "baseline-s1"), 8, 8, 0.85, 0.95, 0.95);
  writeRun(path.join(root, "n3000", "cross-stitch-s1"), 8, 8, 0.86, 0.95, 0.95);
  writeRun(path.join(root, "n3000", "baseline-s2"), 6, 8, 0.5, 0.5, 0.5);
  // Listed after 3,000 although its folder name sorts before it; seed 10 after seed 2.
  writeRun(path.join(root, "n10000", "baseline-s10"), 2, 8, 0.5, 0.5, 0.5);
  writeRun(path.join(root, "n10000", "baseline-s2"), 2, 8, 0.5, 0.5, 0.5);
  const runs = readStudy(root);
  assert.deepEqual(
    runs.map((r) => `${r.size} ${r.variant} ${r.seed}`),
    [
      ...["baseline", "cross-stitch"].flatMap((variant) =>
        [1, 2, 3].map((seed) => `1000 ${variant} ${seed}`),
      ),
      "3000 baseline 1",
      "3000 baseline 2",
      "3000 cross-stitch 1",
      "10000 baseline 2",
      "10000 baseline 10",
    ],
  );
  const results = analyseStudy(runs);
  assert.deepEqual(
    results.map((r) => [r.size, r.seeds]),
    [
      [1000, [1, 2, 3]],
      [3000, [1]],
    ],
  );
  const small = results[0];
  assert.ok(Math.abs((small?.gain_last5.fashion?.mean as number) - 2) < 1e-9);
  assert.ok(Math.abs((small?.gain_last5.fashion?.high as number) - (2 + 4.303 / Math.sqrt(3))) < 1e-6);
  assert.ok(Math.abs(small?.gain_last5.category?.mean as number) < 1e-9);
  assert.ok(Math.abs((small?.fair_category_gain_last5?.mean as number) + 0.5) < 1e-6);
  assert.ok(Math.abs((small?.baseline_category_head_vs_mapped_last5?.mean as number) + 0.5) < 1e-6);
  assert.equal(results[1]?.gain_last5.fashion?.verdict, "one seed: no interval");
  const markdown = resultsMarkdown(results, runs);
  assert.match(markdown, /\| 1,000 \| 1, 2, 3 \| \+2\.00 \[/);
  assert.match(markdown, /\| 3,000 \| baseline \| 2 \| 6\/8 \| in progress \|/);
  const chart = gainChartSvg(results);
  assert.deepEqual(legendLabels(chart), [
    "fashion",
    "category",
    "mean of tasks",
    "category vs fair baseline",
  ]);
  assert.equal(new Set(seriesDashes(chart).values()).size, 4);
  assert.deepEqual(tickLabels(chart, "x"), ["1,000", "3,000"]);
  // The 1k interval (three seeds) reaches 2 + 4.303 / sqrt(3) points; the ticks enclose it.
  const gains = tickLabels(chart, "y").map(Number.parseFloat);
  assert.ok((gains.at(-1) as number) >= 2 + 4.303 / Math.sqrt(3), gains.join(", "));
  for (const label of tickLabels(chart, "y")) assert.match(label, /^([+-]\d+(\.\d+)?|0)$/);
  fs.rmSync(root, { recursive: true, force: true });
});

test("published records read back as their finished run folders; study:report reads them by default", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-sharing-records-"));
  const runs = path.join(dir, "runs");
  // Where the default --root finds them, for the report below runs in `dir`.
  const records = path.join(dir, STUDY_RECORDS_DIR);
  const finished: [StudyRunKey, [number, number][]][] = [
    [
      { size: 1000, variant: "baseline", seed: 1 },
      [
        [0.5, 0.6],
        [0.6, 0.7],
        [0.7, 0.8],
        [0.7, 0.8],
      ],
    ],
    [
      { size: 1000, variant: "cross-stitch", seed: 1 },
      [
        [0.5, 0.6],
        [0.6, 0.7],
        [0.72, 0.8],
        [0.74, 0.81],
      ],
    ],
  ];
  for (const [key, accuracies] of finished) {
    publishStudyRecord(writeStudyRunFolder(runs, key, { accuracies, finished: true }), records, key);
  }
  writeStudyRunFolder(
    runs,
    { size: 1000, variant: "baseline", seed: 2 },
    { accuracies: [[0.5, 0.6]], finished: false },
  );
  const fromRecords = readStudy(records);
  assert.equal(fromRecords.length, 2);
  assert.deepEqual(
    fromRecords,
    readStudy(runs).filter((run) => run.finished),
  );

  const out = path.join(dir, "out");
  const report = spawnSync(
    process.execPath,
    [
      "--import",
      import.meta.resolve("tsx"),
      new URL("../../analysis/sharing.ts", import.meta.url).pathname,
      "--out",
      out,
    ],
    { cwd: dir, encoding: "utf8" },
  );
  assert.equal(report.status, 0, report.stderr);
  const summary = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8")) as { runs: unknown[] };
  assert.deepEqual(summary.runs, fromRecords);
  fs.rmSync(dir, { recursive: true, force: true });
});
