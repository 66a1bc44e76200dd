// Flag parsing: reference names and defaults, booleans that mean what they say, clear failures.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { UsageError } from "../../cli/args.ts";
import { DEFAULT_CONFIG, parseTrainArgs } from "../../train/config.ts";
import { restatedDefaults } from "../cli/restated-defaults.ts";

test("defaults are the reference's hyperparameters", () => {
  const config = parseTrainArgs([]);
  assert.equal(config.lr, 0.001);
  assert.equal(config.n_epoch, 30);
  assert.equal(config.n_batch_size, 128);
  assert.equal(config.reg_lambda, 1e-5);
  assert.equal(config.keep_prob, 0.8);
  assert.equal(config.cross_stitch_enabled, true);
  assert.equal(config.out, "runs/cross-stitch-s1");
  assert.deepEqual({ ...config, out: undefined }, { ...DEFAULT_CONFIG, out: undefined });
});

test("booleans: False/0/no are false, True/1/yes are true, a bare flag is true", () => {
  for (const word of ["False", "false", "0", "no", "NO"]) {
    assert.equal(parseTrainArgs(["--cross_stitch_enabled", word]).cross_stitch_enabled, false, word);
    assert.equal(parseTrainArgs([`--cross_stitch_enabled=${word}`]).cross_stitch_enabled, false, word);
  }
  for (const word of ["True", "1", "yes"]) {
    assert.equal(parseTrainArgs(["--cross_stitch_enabled", word]).cross_stitch_enabled, true, word);
  }
  const bare = parseTrainArgs(["--resume", "--seed", "4"]);
  assert.equal(bare.resume, true);
  assert.equal(bare.seed, 4);
  assert.equal(parseTrainArgs(["--cross_stitch_enabled", "false"]).out, "runs/baseline-s1");
});

test("values are parsed and checked", () => {
  const config = parseTrainArgs([
    "--lr=0.01",
    "--n_epoch",
    "3",
    "--alpha_mode",
    "layer",
    "--alpha_init=identity",
    "--limit",
    "500",
    "--normalization",
    "per_pixel",
    "--out",
    "runs/x",
  ]);
  assert.equal(config.lr, 0.01);
  assert.equal(config.n_epoch, 3);
  assert.equal(config.alpha_mode, "layer");
  assert.equal(config.alpha_init, "identity");
  assert.equal(config.limit, 500);
  assert.equal(config.normalization, "per_pixel");
  assert.equal(config.out, "runs/x");
});

test("bad flags and values throw a UsageError naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--learning_rate", "0.1"], /Unknown option '--learning_rate'/],
    [["--lr", "fast"], /--lr: expected a number/],
    [["--lr=-1"], /--lr: must be > 0/],
    [["--lr", "-1"], /^Option '--lr' argument is ambiguous\.$/],
    [["--n_epoch", "2.5"], /--n_epoch: expected an integer/],
    [["--keep_prob", "1.5"], /--keep_prob: must be in \(0, 1\]/],
    [["--cross_stitch_enabled=maybe"], /expected true\/false/],
    [["--alpha_mode", "pixel"], /expected one of channel, layer/],
    [["--n_batch_size"], /--n_batch_size <value>' argument missing/],
    [["epochs"], /Unexpected argument 'epochs'/],
    [["--resume", "--overwrite"], /contradict/],
    [["--resume", "maybe"], /Unexpected argument 'maybe'/],
    [["--help"], /--help prints the usage/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseTrainArgs(argv),
      (error: Error) => error instanceof UsageError && message.test(error.message),
      argv.join(" "),
    );
  }
});

const trainCli = (...argv: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "train/train.ts", ...argv], { encoding: "utf8" });

test("the train command rejects a bad flag or value with one line on stderr, the usage and exit code 2", () => {
  for (const [argv, line] of [
    [["--n_epochs", "3"], "train: Unknown option '--n_epochs'"],
    [["--ema_decay", "1"], "train: --ema_decay: must be in [0, 1), got 1"],
  ] as const) {
    const run = trainCli(...argv);
    assert.equal(run.status, 2, run.stderr);
    const lines = run.stderr.split("\n").filter((text) => text.startsWith("train:"));
    assert.deepEqual(lines, [line]);
    assert.match(run.stderr, /usage: npm run train -- \[flags\]/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  }
});

test("train --help prints every flag with its default and exits 0 without training", () => {
  const run = trainCli("--help", "--out", path.join(os.tmpdir(), "stitch-never-written"));
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^usage: npm run train -- \[flags\]/);
  for (const flag of Object.keys(DEFAULT_CONFIG)) assert.match(run.stdout, new RegExp(`--${flag} `), flag);
  // The defaults come from DEFAULT_CONFIG and PRESETS, never from the help strings.
  assert.match(
    run.stdout,
    /--cross_stitch_enabled \[true\|false\] +cross-stitch units between the towers \(default: true\)$/m,
  );
  assert.match(run.stdout, /--val_size N +stratified [^(]+ \(default: 0; beyond: 5000\)$/m);
  assert.match(run.stdout, /--limit N +train on this many images only \(all\)$/m);
  assert.deepEqual(restatedDefaults(run.stdout), [], "a help repeats the default");
  assert.ok(!fs.existsSync(path.join(os.tmpdir(), "stitch-never-written")));
});

test("a one-task file with cross-stitch on is refused with exit code 2, before any data is read", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-config-"));
  const taskFile = path.join(dir, "one-task.json");
  fs.writeFileSync(taskFile, JSON.stringify({ tasks: ["fashion"] }));
  const run = trainCli("--tasks", taskFile, "--out", path.join(dir, "run"));
  assert.equal(run.status, 2);
  assert.match(run.stderr, /train: .*one task; cross-stitch units need two/);
  assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  assert.ok(!fs.existsSync(path.join(dir, "run")), "no run folder is created");
  fs.rmSync(dir, { recursive: true, force: true });
});

test("--preset beyond sets its defaults, every flag still wins, and the default stays the reference", () => {
  const reference = parseTrainArgs([]);
  assert.equal(reference.preset, "reference");
  assert.equal(reference.val_size, 0);
  assert.equal(reference.ema_decay, 0);
  assert.equal(reference.lr_schedule, "constant");
  assert.equal(reference.aug_shift, 0);
  const beyond = parseTrainArgs(["--preset", "beyond"]);
  assert.equal(beyond.val_size, 5000);
  assert.equal(beyond.ema_decay, 0.999);
  assert.equal(beyond.lr_schedule, "cosine");
  assert.equal(beyond.aug_flip, 0.5);
  assert.equal(beyond.out, "runs/beyond-cross-stitch-s1");
  const overridden = parseTrainArgs(["--aug_flip", "0", "--preset", "beyond", "--val_size", "1000"]);
  assert.equal(overridden.aug_flip, 0);
  assert.equal(overridden.val_size, 1000);
  assert.equal(overridden.ema_decay, 0.999);
  assert.equal(overridden.preset, "beyond");
  assert.throws(() => parseTrainArgs(["--preset", "fast"]), /--preset: expected one of reference, beyond/);
  assert.throws(() => parseTrainArgs(["--ema_decay", "1"]), /--ema_decay: must be in \[0, 1\)/);
  assert.throws(() => parseTrainArgs(["--limit", "100", "--train_size", "100"]), /give one/);
});
