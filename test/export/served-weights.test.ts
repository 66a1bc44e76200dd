// Which of a run's models the export reads: the validation choice when the run made one, else
// the last epoch, and the report says which and why.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ExportError, readRunFolder } from "../../export/run-folder.ts";
import { writeSelection } from "../../stage-files/run-folder.ts";
import { buildFixtureModel, writeRunFolder } from "../../testing/run-folder.ts";
import { selectionRecord } from "../../testing/run-records.ts";

const KERNEL = "fashion_logits/kernel";

test("a run without a validation split serves model/ (the last epoch, raw weights)", async () => {
  const dir = await writeRunFolder(buildFixtureModel(1, true), true);
  const run = await readRunFolder(dir);
  assert.equal(run.served.folder, "model");
  assert.equal(run.served.weights, "raw");
  assert.match(run.served.reason, /no validation split/);
  assert.equal(run.validation, null);
});

test("a run's validation split is read from its config, for fitting the score temperature", async () => {
  const run = await readRunFolder(await writeRunFolder(buildFixtureModel(1, true), true, 250));
  assert.deepEqual(run.validation, { size: 250, seed: 1 });
});

test("a run with selection.json serves model-best/, the weights validation chose", async () => {
  const last = buildFixtureModel(1, true);
  const best = buildFixtureModel(2, true);
  const dir = await writeRunFolder(last, true);
  await mkdir(join(dir, "model-best"));
  await best.save(`file://${join(dir, "model-best")}`);
  writeSelection(
    dir,
    selectionRecord({
      epoch: 17,
      weights: "ema",
      validation_accuracy: { fashion: 0.94, category: 0.96 },
      validation_accuracy_mean: 0.95,
      test_accuracy: { fashion: 0.93, category: 0.95 },
      test_accuracy_mean: 0.94,
    }),
  );
  const run = await readRunFolder(dir);
  assert.deepEqual(
    { folder: run.served.folder, weights: run.served.weights, epoch: run.served.epoch },
    { folder: "model-best", weights: "ema", epoch: 17 },
  );
  assert.match(run.served.reason, /validation split/);
  const expected = (await best.getLayer("fashion_logits").getWeights()[0]?.data()) as Float32Array;
  assert.deepEqual(run.weights.get(KERNEL)?.data, expected);

  await writeFile(join(dir, "selection.json"), JSON.stringify({ epoch: 0, weights: "best" }));
  await assert.rejects(readRunFolder(dir), ExportError);
});
