// The worker in workerd (the default build: our engine) against onnxruntime-web
// (wasm, one thread, under Node) on the same int8 graph, for 100 real
// Fashion-MNIST test images sent as PNG files: same labels, same scores to
// float32 rounding, each task's scores at the manifest's temperature (the
// fixture's are not 1) and from the logits the manifest names (the fixture
// answers category through the fashion head, grouped). onnxruntime-web is the
// runtime the export judges int8 graphs by and the engine equals bit for bit;
// native onnxruntime differs in the last bits (its float conv1 uses FMA). STITCH_ARTIFACTS=<dir> runs it against a
// real export instead of the fixture graph.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as ort from "onnxruntime-web";
import sharp from "sharp";
import { type AnswerSource, answerSources, type Manifest } from "../../contracts/manifest.ts";
import { standardize } from "../../contracts/normalization.ts";
import { answerScores } from "../../contracts/scores.ts";
import {
  type Fixture,
  loadTestImages,
  makeFixture,
  type RunningWorker,
  startWorkerd,
} from "../../testing/worker.ts";
import { stageAssets } from "../../worker/dev/stage-assets.ts";
import { toModelPixels } from "../../worker/image.ts";

const IMAGES = 100;
const SCORE_TOLERANCE = 1e-4;

let fixture: Fixture | undefined;
let stagedDir: string | undefined;
let worker: RunningWorker;
let manifest: Manifest;
let artifactsDir: string;

before(async () => {
  if (process.env.STITCH_ARTIFACTS) {
    artifactsDir = process.env.STITCH_ARTIFACTS;
    stagedDir = await mkdtemp(join(tmpdir(), "stitch-edge-parity-"));
    manifest = await stageAssets(artifactsDir, stagedDir);
  } else {
    fixture = await makeFixture();
    ({ artifactsDir, manifest } = fixture);
  }
  worker = await startWorkerd(stagedDir ?? fixture?.assetsDir ?? "");
});
after(async () => {
  await worker?.stop();
  await fixture?.remove();
  if (stagedDir) await rm(stagedDir, { recursive: true, force: true });
});

test(`workerd answers ${IMAGES} PNG test images as onnxruntime-web does on the same int8 graph`, async () => {
  const { images, labels } = await loadTestImages(IMAGES);
  let fashionCorrect = 0;
  // The reference gets what the worker makes of a lossless 28x28 PNG: its own
  // preprocessing (trim, centre, stretch) of the same gray pixels, then the one
  // standardization; this test compares the runtimes, not the preprocessing.
  const batch = new Float32Array(IMAGES * 784);
  images.forEach((image, n) => {
    const seen = toModelPixels({ width: 28, height: 28, gray: image });
    batch.set(standardize(seen, manifest.normalization), n * 784);
  });
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(
    new Uint8Array(await readFile(join(artifactsDir, manifest.models.int8.file))),
    { graphOptimizationLevel: "all" },
  );
  const dims = manifest.input.shape.map((d, i) => (i === 0 ? IMAGES : d));
  const outputs = await session.run({ [manifest.input.name]: new ort.Tensor("float32", batch, dims) });

  const sources = answerSources(manifest);
  let worstScoreGap = 0;
  for (let n = 0; n < IMAGES; n++) {
    const image = images[n] ?? new Uint8Array();
    const png = await sharp(image, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const response = await fetch(`${worker.url}/v1/predict`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: new Uint8Array(png),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const { predictions } = (await response.json()) as {
      predictions: Record<string, { index: number; label: string; score: number }>[];
    };
    for (const [t, task] of manifest.tasks.entries()) {
      const { source, sourceClasses, rule } = sources[t] as AnswerSource;
      const sourceOutput = manifest.tasks[source]?.output ?? "";
      const output = outputs[sourceOutput];
      assert.ok(output, `onnxruntime-web has no output ${sourceOutput}`);
      const logits = (output.data as Float32Array).subarray(n * sourceClasses, (n + 1) * sourceClasses);
      const scores = Array.from(answerScores(logits, rule));
      const expected = scores.indexOf(Math.max(...scores));
      const got = predictions[0]?.[task.name];
      assert.ok(got, `image ${n}: task ${task.name} missing`);
      if (task.name === "fashion" && got.index === labels[n]) fashionCorrect += 1;
      const gap = Math.abs(got.score - (scores[expected] ?? 0));
      worstScoreGap = Math.max(worstScoreGap, gap);
      // A near-tie may flip between the two runtimes; then both classes must score within tolerance.
      if (got.index !== expected) {
        assert.ok(
          Math.abs((scores[got.index] ?? 0) - (scores[expected] ?? 0)) < SCORE_TOLERANCE,
          `image ${n}`,
        );
      } else {
        assert.equal(got.label, task.classes[expected]);
      }
      assert.ok(gap < SCORE_TOLERANCE, `image ${n} task ${task.name}: score gap ${gap}`);
    }
  }
  const accuracy = fashionCorrect / IMAGES;
  console.log(
    `parity: ${IMAGES} images, ${manifest.modelId}, worst score gap ${worstScoreGap.toExponential(2)}, ` +
      `fashion accuracy through the worker ${accuracy}`,
  );
  // A trained export must also be right: within 10 points of its manifest's int8 accuracy on 100 images.
  const fashion = manifest.tasks.find((task) => task.name === "fashion");
  if (process.env.STITCH_ARTIFACTS && fashion)
    assert.ok(accuracy >= fashion.accuracy.int8 - 0.1, `accuracy ${accuracy}`);
});
