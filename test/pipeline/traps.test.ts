// The pipeline as a new user runs it: a quick run keeps away from the full export, and a stop at
// any point (here, a kill in the first epoch, before any checkpoint) is picked up by the next run.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { MANIFEST_FILE } from "../../contracts/artifacts.ts";
import { RUN_FILES } from "../../contracts/run-folder.ts";
import { writeFixtureArtifacts } from "../../testing/onnx-model.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-edge-pipeline-"));
const started: ChildProcess[] = [];
after(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
  fs.rmSync(root, { recursive: true, force: true });
});

interface Pipeline {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function startPipeline(args: string[]): Pipeline {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(REPO_ROOT, "pipeline/pipeline.ts"), ...args],
    {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, so a kill reaches the training process too, as a closed terminal would.
      detached: true,
    },
  );
  started.push(child);
  let output = "";
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exit };
}

/** SIGKILL to the pipeline and its stages: a stop that no handler can tidy up after. */
async function killAll(pipeline: Pipeline) {
  process.kill(-(pipeline.child.pid as number), "SIGKILL");
  await pipeline.exit;
}

async function waitFor(what: string, ready: () => boolean, pipeline: Pipeline, seconds = 300) {
  const deadline = Date.now() + seconds * 1000;
  while (!ready()) {
    if (pipeline.child.exitCode !== null) {
      assert.fail(`pipeline exited (${pipeline.child.exitCode}) before ${what}:\n${pipeline.output()}`);
    }
    if (Date.now() > deadline) assert.fail(`no ${what} after ${seconds} s:\n${pipeline.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("--quick exports to artifacts-quick by default, never into the full job's artifacts", async () => {
  const runsDir = path.join(root, "quick-default");
  const pipeline = startPipeline([
    "--quick",
    "--runs_dir",
    runsDir,
    "--data_dir",
    path.join(root, "no-data"),
  ]);
  assert.equal(await pipeline.exit, 1, pipeline.output());
  const saved = JSON.parse(fs.readFileSync(path.join(runsDir, "pipeline-config.json"), "utf8"));
  assert.equal(saved.artifacts, "artifacts-quick");
});

test("--quick refuses a folder holding another run's export and leaves it as it was", async () => {
  const fullExport = path.join(root, "artifacts");
  await writeFixtureArtifacts(fullExport);
  const before = fs.readFileSync(path.join(fullExport, MANIFEST_FILE));
  const pipeline = startPipeline([
    "--quick",
    "--runs_dir",
    path.join(root, "quick"),
    "--artifacts",
    fullExport,
  ]);
  assert.equal(await pipeline.exit, 2, pipeline.output());
  assert.match(pipeline.output(), /--quick: .*holds an export of another run.*artifacts-quick/);
  assert.deepEqual(fs.readFileSync(path.join(fullExport, MANIFEST_FILE)), before);
});

test("killed in the first epoch (config.json, no checkpoint), the next run resumes training", async () => {
  const runsDir = path.join(root, "stopped");
  const args = ["--quick", "--runs_dir", runsDir, "--artifacts", path.join(root, "stopped-artifacts")];
  const baseline = path.join(runsDir, "baseline-s1");

  const first = startPipeline(args);
  await waitFor("a baseline config.json", () => fs.existsSync(path.join(baseline, RUN_FILES.config)), first);
  await killAll(first);
  assert.ok(!fs.existsSync(path.join(baseline, "checkpoints")), "stopped before the first checkpoint");

  const second = startPipeline(args);
  await waitFor(
    "training to start again",
    () => /training \S+ \(fashion, category\)/.test(second.output()),
    second,
  );
  await killAll(second);
  assert.match(second.output(), /resuming .*baseline-s1 from its last checkpoint/);
  assert.doesNotMatch(second.output(), /unfinished run/);
});
