// Bad input gets one clear sentence on stderr and exit code 1 (a bad flag: 2, with the usage): no
// stack trace, no output folder.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  buildFixtureModel,
  FIXTURE_TASKS,
  fixtureArchitecture,
  writeRunFolder,
} from "../../testing/run-folder.ts";
import * as tf from "../../train/tf.ts";

const baseline = await writeRunFolder(buildFixtureModel(3, false), false);

async function exportFails(run: string, expected: RegExp, out?: string) {
  const parent = await mkdtemp(join(tmpdir(), "stitch-cli-"));
  const outDir = out ?? join(parent, "artifacts");
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "export/cli.ts", "--run", run, "--out", outDir],
    {
      encoding: "utf8",
    },
  );
  assert.equal(result.status, 1, result.stderr);
  const lastLine = result.stderr.trim().split("\n").at(-1) ?? "";
  assert.match(result.stderr, expected);
  assert.ok(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
  assert.match(lastLine, /^export: /);
  assert.deepEqual(await readdir(parent), [], "nothing written");
}

async function copyRun(from: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stitch-run-copy-"));
  await mkdir(join(dir, "model"));
  for (const file of ["config.json", "normalization.json", "tasks.json"])
    await writeFile(join(dir, file), await readFile(join(from, file)));
  for (const file of await readdir(join(from, "model")))
    await writeFile(join(dir, "model", file), await readFile(join(from, "model", file)));
  return dir;
}

test("a run folder without a model", async () => {
  await exportFails(
    await mkdtemp(join(tmpdir(), "stitch-empty-")),
    /trained model \(model\/model\.json\) not found/,
  );
});

test("a model that is not one of ours", async () => {
  const input = tf.input({ shape: [28, 28, 1] });
  const dense = tf.layers.dense({ units: 10, name: "other" }).apply(tf.layers.flatten().apply(input));
  const run = await writeRunFolder(tf.model({ inputs: input, outputs: dense as tf.SymbolicTensor }), false);
  await exportFails(run, /not a stitch-edge cross-stitch network: no weight fashion_conv1\/kernel/);
});

test("a run config that does not match the weights", async () => {
  const run = await copyRun(baseline);
  const config = JSON.parse(await readFile(join(run, "config.json"), "utf8"));
  await writeFile(join(run, "config.json"), JSON.stringify({ ...config, ...fixtureArchitecture(true) }));
  await exportFails(run, /config\.json says cross-stitch enabled but the weights lack cross-stitch units/);
});

test("a task list that does not match the weights", async () => {
  const run = await copyRun(baseline);
  const tasks = [
    FIXTURE_TASKS[0],
    { ...FIXTURE_TASKS[1], classes: ["a", "b", "c", "d"], labelMap: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1] },
  ];
  await writeFile(join(run, "tasks.json"), JSON.stringify(tasks));
  await exportFails(run, /weight category_logits\/kernel has shape \[1024,3\], expected \[1024,4\]/);
  await writeFile(join(run, "tasks.json"), JSON.stringify([FIXTURE_TASKS[0]]));
  await exportFails(run, /weights that tasks\.json and config\.json do not account for: category_conv1/);
});

test("an output folder that cannot be written", async () => {
  const blocker = join(await mkdtemp(join(tmpdir(), "stitch-file-")), "a-file");
  await writeFile(blocker, "not a folder");
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "export/cli.ts", "--run", baseline, "--out", join(blocker, "out")],
    {
      encoding: "utf8",
    },
  );
  assert.equal(result.status, 1);
  assert.match(result.stderr, /export: cannot write to output folder .*a-file\/out: a file is in the way/);
  assert.ok(!/\n\s+at /.test(result.stderr));
});

test("a bad flag is a usage error: exit 2 with the usage; --help exits 0", () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "export/cli.ts", ...args], { encoding: "utf8" });
  for (const [args, message] of [
    [
      ["--run", "x", "--calibration_samples", "0"],
      /^export: --calibration_samples: expected an integer >= 1$/m,
    ],
    [["--run", "x", "--calibration-samples", "10"], /^export: Unknown option '--calibration-samples'/m],
    [["--out", "x"], /^export: --run: required$/m],
  ] as const) {
    const result = cli(...args);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /usage: npm run export -- \[flags\]/);
  }
  const help = cli("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--max_accuracy_drop POINTS/);
});
