// Every command parses its flags one way (cli/args.ts): --help prints the usage and exits 0
// without doing the work, a mistake in the call is one line plus the usage and exit 2, a failure
// one line and exit 1; never a stack trace; the help states each default once, from its schema.
// (train: test/train/config.test.ts; the analysis commands' failures: test/analysis/cli.test.ts.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { restatedDefaults } from "./restated-defaults.ts";

const REPO_ROOT = path.resolve(new URL("../..", import.meta.url).pathname);
const empty = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-commands-"));
after(() => fs.rmSync(empty, { recursive: true, force: true }));

const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO_ROOT, encoding: "utf8" });

/** The lines a command wrote under its own name ("report: ..."), ignoring TensorFlow's start-up noise. */
const ownLines = (stderr: string, program: string) =>
  stderr.split("\n").filter((line) => line.startsWith(`${program}:`));

const COMMANDS: [script: string, usage: RegExp][] = [
  ["train/report.ts", /^usage: npm run report -- \[flags\]\n/],
  ["train/compare.ts", /^usage: npm run compare -- \[flags\] <run> <run> \[<run> \.\.\.\]\n/],
  ["train/study.ts", /^usage: npm run study -- \[flags\]\n/],
  ["analysis/sharing.ts", /^usage: npm run study:report -- \[flags\]\n/],
  ["analysis/curves.ts", /^usage: npm run curves -- \[flags\] <run folder> \[run folder \.\.\.\]\n/],
  ["export/served-calibration.ts", /^usage: npm run calibration -- \[flags\]\n/],
  ["bench/catalog-photos.ts", /^usage: npm run catalog:build -- \[flags\]\n/],
  ["bench/catalog-accuracy.ts", /^usage: npm run catalog:accuracy -- \[flags\]\n/],
  ["bench/engine-parity.ts", /^usage: npm run bench:engine-parity -- \[flags\]\n/],
  ["bench/summary.ts", /^usage: npm run bench:summary -- \[flags\]\n/],
  ["bench/engine-node.ts", /^usage: npm run bench:engine -- \[flags\]\n/],
  ["bench/export-layouts.ts", /^usage: npm run bench:export -- \[flags\]\n/],
  ["bench/export-parity.ts", /^usage: tsx bench\/export-parity\.ts \[flags\]\n/],
  ["bench/worker-load.ts", /^usage: tsx bench\/worker-load\.ts \[flags\]\n/],
  ["export/cli.ts", /^usage: npm run export -- \[flags\]\n/],
  ["client/predict.ts", /^usage: npm run predict -- \[flags\] <image>\.\.\.\n/],
  ["worker/dev/serve.ts", /^usage: npm run serve -- \[flags\]\n/],
  ["worker/dev/stage-assets.ts", /^usage: npm run assets -- \[flags\]\n/],
  ["pipeline/pipeline.ts", /^usage: npm run pipeline -- \[flags\]\n/],
];

test("--help prints the usage, each default once, and exits 0 before any work", () => {
  for (const [script, usage] of COMMANDS) {
    const result = run(script, ["--help"]);
    assert.equal(result.status, 0, `${script}: ${result.stderr}`);
    assert.match(result.stdout, usage, script);
    assert.match(result.stdout, /\n {2}--help +print this and exit$/m, script);
    assert.deepEqual(restatedDefaults(result.stdout), [], `${script}: a help repeats the default`);
    if (script === "train/study.ts") {
      assert.match(
        result.stdout,
        /^ {2}--root DIR +where the run folders go, \S+ \(default: runs\/sharing\)$/m,
      );
    }
  }
});

test("mistakes in the call exit 2 with one line and the usage; a failure exits 1 with one line", () => {
  const runDir = path.join(empty, "not-a-run");
  fs.mkdirSync(runDir);
  const cases: [string, string[], number, string, RegExp][] = [
    [
      "train/report.ts",
      ["--baseline", runDir, "--out", empty],
      2,
      "report",
      /^report: --cross_stitch: required$/,
    ],
    [
      "train/report.ts",
      ["--baseline", runDir, "--cross-stitch", runDir],
      2,
      "report",
      /Unknown option '--cross-stitch'/,
    ],
    [
      "train/report.ts",
      ["--baseline", runDir, "--cross_stitch", runDir, "--out", path.join(empty, "report")],
      1,
      "report",
      /^report: .*not-a-run/,
    ],
    ["train/compare.ts", ["--out", empty, runDir], 2, "compare", /name at least two run folders$/],
    [
      "train/study.ts",
      ["--seeds", "1,x"],
      2,
      "study",
      /^study: --seeds: expected comma-separated integers >= 0, got "1,x"$/,
    ],
    [
      "bench/catalog-photos.ts",
      ["--count", "0"],
      2,
      "catalog:build",
      /^catalog:build: --count: expected an integer >= 1$/,
    ],
    ["bench/engine-parity.ts", [], 2, "bench:engine-parity", /^bench:engine-parity: --artifacts: required$/],
  ];
  for (const [script, args, code, program, line] of cases) {
    const result = run(script, args);
    assert.equal(result.status, code, `${script} ${args.join(" ")}: ${result.stderr}`);
    const lines = ownLines(result.stderr, program);
    assert.equal(lines.length, 1, `${script}: ${result.stderr}`);
    assert.match(lines[0] as string, line);
    if (code === 2) assert.match(result.stderr, /\nusage: /, `${script}: the usage follows`);
    assert.doesNotMatch(result.stderr, /\n\s+at /, `${script}: no stack trace`);
  }
  assert.ok(!fs.existsSync(path.join(empty, "report")), "a failed report writes nothing");
});
