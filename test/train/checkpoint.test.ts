// The checkpoint files (contracts/checkpoint.ts) through their one reader and writer: what is
// written is read back exactly, the layout is the one runs written before the schema use, and a
// corrupt or mismatched checkpoint is one sentence naming the file.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { RunFileError } from "../../contracts/run-folder.ts";
import { readCheckpoint, readLatestCheckpoint, writeCheckpoint } from "../../stage-files/checkpoint.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-checkpoint-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const TENSORS = [
  { name: "weight:fashion_conv1/bias", shape: [3], values: Float32Array.of(1, 2, 3) },
  { name: "adam_m:0", shape: [2, 2], values: Float32Array.of(0.5, -0.5, 0.25, -0.25) },
  { name: "ema:fashion_conv1/bias", shape: [3], values: Float32Array.of(0.9, 1.9, 2.9) },
];

let runs = 0;
/** A run folder holding the checkpoint after epoch 3, and where its files are. */
function checkpointedRun() {
  const runDir = path.join(root, `run-${runs++}`);
  writeCheckpoint(runDir, { epoch: 2, rngState: 7, adamStep: 20 }, TENSORS);
  writeCheckpoint(runDir, { epoch: 3, rngState: 4_000_000_000, adamStep: 30 }, TENSORS);
  const dir = path.join(runDir, "checkpoints", "epoch-0003");
  return {
    runDir,
    latest: path.join(runDir, "checkpoints", "latest.json"),
    state: path.join(dir, "state.json"),
    index: path.join(dir, "tensors.json"),
    bin: path.join(dir, "tensors.bin"),
  };
}

test("a checkpoint reads back exactly; only the latest is kept; the layout is the one earlier runs wrote", () => {
  const files = checkpointedRun();
  assert.deepEqual(fs.readdirSync(path.join(files.runDir, "checkpoints")).sort(), [
    "epoch-0003",
    "latest.json",
  ]);
  assert.deepEqual(readLatestCheckpoint(files.runDir), {
    checkpoint: "epoch-0003",
    epoch: 3,
    rngState: 4_000_000_000,
    adamStep: 30,
  });
  const read = readCheckpoint(files.runDir);
  assert.deepEqual(read.state, { epoch: 3, rngState: 4_000_000_000, adamStep: 30 });
  assert.deepEqual(
    [...read.arrays].map(([name, { shape, values }]) => ({ name, shape, values: Float32Array.from(values) })),
    TENSORS,
  );
  assert.deepEqual([...readCheckpoint(files.runDir, "weight:").arrays.keys()], ["weight:fashion_conv1/bias"]);
  // The files as main's train/run-folder.ts wrote them before the schema (run folders being resumed now).
  assert.deepEqual(JSON.parse(fs.readFileSync(files.state, "utf8")), {
    epoch: 3,
    rngState: 4_000_000_000,
    adamStep: 30,
  });
  assert.deepEqual(JSON.parse(fs.readFileSync(files.index, "utf8"))[1], {
    name: "adam_m:0",
    shape: [2, 2],
    offset: 3,
  });
  assert.equal(fs.statSync(files.bin).size, 10 * 4);
  assert.equal(readLatestCheckpoint(path.join(root, "no-run")), null);
});

test("a corrupt or mismatched checkpoint is a RunFileError naming the file", () => {
  const cases: [string, (files: ReturnType<typeof checkpointedRun>) => void, RegExp][] = [
    [
      "latest.json cut short",
      (f) => fs.writeFileSync(f.latest, '{"checkpoint": "epoch-0'),
      /latest\.json is not valid JSON: .*latest\.json/,
    ],
    [
      "latest.json names no folder",
      (f) =>
        fs.writeFileSync(
          f.latest,
          JSON.stringify({ checkpoint: "../x", epoch: 3, rngState: 1, adamStep: 30 }),
        ),
      /latest\.json: checkpoint: expected a checkpoint folder name/,
    ],
    [
      "the folder gone",
      (f) => fs.rmSync(path.dirname(f.state), { recursive: true }),
      /state\.json not found: .*epoch-0003\/state\.json/,
    ],
    [
      "state.json of another epoch",
      (f) => fs.writeFileSync(f.state, JSON.stringify({ epoch: 2, rngState: 7, adamStep: 20 })),
      /epoch-0003\/state\.json \(epoch 2, step 20\) does not match latest\.json \(epoch 3, step 30\)/,
    ],
    [
      "state.json without its step",
      (f) => fs.writeFileSync(f.state, JSON.stringify({ epoch: 3, rngState: 1 })),
      /state\.json: adamStep: /,
    ],
    [
      "tensors.bin cut short",
      (f) => fs.truncateSync(f.bin, 12),
      /tensors\.bin holds 12 bytes; tensors\.json describes 40/,
    ],
    [
      "tensors.json with a negative offset",
      (f) => fs.writeFileSync(f.index, JSON.stringify([{ name: "x", shape: [1], offset: -1 }])),
      /tensors\.json: 0\.offset: /,
    ],
  ];
  for (const [what, damage, message] of cases) {
    const files = checkpointedRun();
    damage(files);
    assert.throws(
      () => readCheckpoint(files.runDir),
      (error: Error) => error instanceof RunFileError && message.test(error.message),
      what,
    );
  }
});
