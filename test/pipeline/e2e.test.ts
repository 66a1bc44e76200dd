// End to end through the files the stages hand each other: a tiny training
// run, its export, and the worker in workerd answering PNGs of real test images.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { requestPredictions } from "../../client/predict.ts";
import { IMAGE_SIZE, PIXELS_PER_IMAGE } from "../../contracts/image.ts";
import { BUILTIN_TASKS } from "../../contracts/tasks.ts";
import { loadFashionMnist } from "../../data/fashion-mnist.ts";
import { readManifest } from "../../stage-files/artifacts.ts";
import { stageAssets } from "../../worker/dev/stage-assets.ts";
import { type RunningWorker, startWorkerd } from "../../worker/dev/workerd.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const IMAGES_SENT = 24;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "stitch-edge-e2e-"));
const runDir = path.join(root, "run");
const artifactsDir = path.join(root, "artifacts");
let worker: RunningWorker | undefined;

function stage(script: string, args: string[]) {
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  assert.equal(result.status, 0, `${script} failed:\n${result.stdout}\n${result.stderr}`);
}

before(() => {
  stage("train/train.ts", ["--out", runDir, "--limit", "3000", "--n_epoch", "1", "--seed", "3"]);
  // After one epoch many logits are near ties, so int8 may flip a few more
  // answers than the production limits (0.3 points, 99.5 %) allow.
  stage("export/cli.ts", [
    "--run",
    runDir,
    "--out",
    artifactsDir,
    "--max_accuracy_drop",
    "3",
    "--min_agreement",
    "0.97",
  ]);
});

after(async () => {
  await worker?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test("train -> export -> workerd answers both tasks for real test images, mostly right", async () => {
  const manifest = readManifest(artifactsDir);
  assert.deepEqual(
    manifest.tasks.map((t) => t.name),
    ["fashion", "category"],
  );
  assert.equal(manifest.source.crossStitch, true);

  const assetsDir = path.join(root, "assets");
  await stageAssets(artifactsDir, assetsDir);
  // All images in one request: lift the free plan's per-request cap (MAX_BATCH), as the pipeline does.
  worker = await startWorkerd(assetsDir, { MAX_BATCH: String(IMAGES_SENT) });

  const { test: testSet } = await loadFashionMnist({ log: () => {} });
  const pngs = await Promise.all(
    Array.from({ length: IMAGES_SENT }, async (_, i) => {
      const pixels = testSet.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);
      const png = await sharp(Buffer.from(pixels), {
        raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 },
      })
        .png()
        .toBuffer();
      return new Uint8Array(png);
    }),
  );
  const { body } = await requestPredictions(worker.url, pngs);
  assert.equal(body.modelId, manifest.modelId);
  assert.equal(body.predictions.length, IMAGES_SENT);

  let fashionRight = 0;
  let categoryRight = 0;
  body.predictions.forEach((prediction, i) => {
    const label = testSet.labels[i]!;
    assert.ok(prediction.fashion && prediction.category, "every image gets both heads");
    if (prediction.fashion.label === BUILTIN_TASKS.fashion!.classes[label]) fashionRight++;
    const category = BUILTIN_TASKS.category!.labelMap[label]!;
    if (prediction.category.label === BUILTIN_TASKS.category!.classes[category]) categoryRight++;
  });
  // One epoch on 3,000 images reaches roughly 70 % (fashion) and 85 % (category).
  assert.ok(fashionRight >= IMAGES_SENT / 2, `fashion right for ${fashionRight}/${IMAGES_SENT}`);
  assert.ok(categoryRight >= IMAGES_SENT * 0.66, `category right for ${categoryRight}/${IMAGES_SENT}`);
});
