// Ctrl-C stops training within a batch or two, not at the end of the epoch: the command exits 130,
// the run folder keeps its last complete checkpoint and no partial file, and --resume finishes it
// (a damaged checkpoint is refused in one sentence instead).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { readLatestCheckpoint } from "../../stage-files/checkpoint.ts";
import { readMetrics, readRunConfig, readSummary } from "../../stage-files/run-folder.ts";

const REPO_ROOT = path.resolve(new URL("../..", import.meta.url).pathname);
const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-interrupt-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs train.ts; `onLine` sees every output line and the child, to signal it. */
function train(
  argv: string[],
  onLine: (line: string, stop: () => void) => void = () => {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO_ROOT, "train/train.ts"), ...argv],
    {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  let pending = "";
  const stop = () => child.kill("SIGINT");
  const read = (chunk: Buffer) => {
    output += chunk;
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) onLine(line, stop);
  };
  child.stdout.on("data", read);
  child.stderr.on("data", read);
  // A hang guard, not a timing assertion: the run takes well under a minute.
  const guard = setTimeout(() => child.kill("SIGKILL"), 240_000);
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      clearTimeout(guard);
      resolve({ code, output });
    }),
  );
}

/** Every file and folder under `dir`, relative. */
const entries = (dir: string): string[] =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((entry) => entry.replaceAll("\\", "/"));

test("SIGINT in an epoch stops within a few batches with exit 130; --resume ends the run", async () => {
  const out = path.join(root, "run");
  // 100 batches per epoch: a stop seen only at the epoch's end would name a later batch or epoch.
  const flags = [
    "--preset",
    "beyond",
    "--val_size",
    "200",
    "--ema_decay",
    "0",
    "--limit",
    "384",
    "--epoch_images",
    "3200",
    "--n_batch_size",
    "32",
    "--n_epoch",
    "2",
    "--out",
    out,
  ];
  let signalled = false;
  const stopped = await train(flags, (line, stop) => {
    if (!signalled && line.startsWith("  epoch 2: 1/100 batches")) {
      signalled = true;
      stop();
    }
  });
  assert.ok(signalled, `no progress line in epoch 2:\n${stopped.output}`);
  assert.equal(stopped.code, 130, stopped.output);
  const where = /interrupted in epoch (\d+), batch (\d+); the last checkpoint is epoch 1/.exec(
    stopped.output,
  );
  assert.ok(where, stopped.output);
  assert.equal(where[1], "2");
  assert.ok(Number(where[2]) <= 4, `stopped at batch ${where[2]} of 100, not within a few batches`);
  assert.match(stopped.output, /continue with the same flags plus --resume/);
  assert.doesNotMatch(stopped.output, /\n\s+at /, "no stack trace");

  assert.equal(readLatestCheckpoint(out)?.epoch, 1, "the last complete checkpoint stays");
  assert.deepEqual(
    entries(out).filter((entry) => entry.includes(".tmp")),
    [],
    "no partial file or folder",
  );
  assert.equal(readMetrics(out).length, 1);
  assert.ok(!fs.existsSync(path.join(out, "summary.json")));
  // The preset and the flags given over it are what config.json records.
  const config = readRunConfig(out);
  assert.equal(config.preset, "beyond");
  assert.equal(config.val_size, 200);
  assert.equal(config.ema_decay, 0);
  assert.equal(config.lr_schedule, "cosine", "the preset's own default");
  assert.equal(config.resume, false);

  // A damaged copy of the stopped run: resuming it is one sentence naming the file, exit 1.
  const damaged = path.join(root, "damaged");
  fs.cpSync(out, damaged, { recursive: true });
  fs.truncateSync(path.join(damaged, "checkpoints", "epoch-0001", "tensors.bin"), 1000);
  const refused = await train([...flags.slice(0, -1), damaged, "--resume"]);
  assert.equal(refused.code, 1, refused.output);
  const ownLines = refused.output.split("\n").filter((line) => line.startsWith("train:"));
  assert.equal(ownLines.length, 1, refused.output);
  assert.match(ownLines[0] as string, /damaged\/checkpoints\/epoch-0001\/tensors\.bin holds 1000 bytes/);
  assert.doesNotMatch(refused.output, /\n\s+at /, "no stack trace");

  const resumed = await train([...flags, "--resume"]);
  assert.equal(resumed.code, 0, resumed.output);
  assert.match(resumed.output, /resuming .* after epoch 1/);
  assert.deepEqual(
    readMetrics(out).map((m) => m.epoch),
    [1, 2],
  );
  assert.equal(readSummary(out).epochs, 2);
  assert.equal(readLatestCheckpoint(out)?.epoch, 2);
});
