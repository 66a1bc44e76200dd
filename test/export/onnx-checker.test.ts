// The exported files pass the official ONNX checker (Python's `onnx`, full_check: shapes inferred
// through every node) and describe themselves: tasks, classes, normalization, input, source run and
// model id in metadata_props, a doc_string, producer name and version, read back by `onnx` itself.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { FLOAT32_FILE, INT8_FILE, MANIFEST_FILE, ONNX_METADATA_KEYS } from "../../contracts/artifacts.ts";
import { MODEL_INPUT } from "../../contracts/image.ts";
import { parseManifest } from "../../contracts/manifest.ts";
import { DEFAULT_TOLERANCES, exportRun } from "../../export/export.ts";
import { PRODUCER } from "../../export/onnx.ts";
import { tfjsLogits } from "../../export/tfjs-reference.ts";
import { buildFixtureModel, writeRunFolder } from "../../testing/run-folder.ts";

/** Which Python to ask; CI installs onnx for python3 (pinned in .ci/run). */
const PYTHON = process.env.ONNX_PYTHON ?? "python3";

const CHECK_AND_DESCRIBE = `
import json, sys, onnx
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
print(json.dumps({
    "onnx": onnx.__version__,
    "producer": [model.producer_name, model.producer_version],
    "doc": model.doc_string,
    "metadata": {p.key: p.value for p in model.metadata_props},
}))
`;

function onnxMissing(): string | false {
  const probe = spawnSync(PYTHON, ["-c", "import onnx"], { encoding: "utf8" });
  return probe.status === 0
    ? false
    : `Python's onnx is not importable by ${PYTHON} (pip install onnx==1.23.1, or set ONNX_PYTHON)`;
}

test("exported graphs pass onnx.checker with full_check and carry their own description", {
  skip: onnxMissing(),
}, async () => {
  const runDir = await writeRunFolder(buildFixtureModel(11, true), true);
  const outDir = join(await mkdtemp(join(tmpdir(), "stitch-onnx-checker-")), "artifacts");
  await exportRun({
    runDir,
    outDir,
    layout: "per_tower",
    calibrationSamples: 100,
    selectionSamples: 100,
    testLimit: 200,
    // Random weights: near-tie logits, so int8 may flip more argmaxes than a trained model's.
    tolerances: { ...DEFAULT_TOLERANCES, minAgreement: 0.9, maxAccuracyDropPoints: 10 },
    reference: tfjsLogits,
    log: () => {},
  });
  const manifest = parseManifest(JSON.parse(await readFile(join(outDir, MANIFEST_FILE), "utf8")));

  for (const [file, precision] of [
    [INT8_FILE, "int8"],
    [FLOAT32_FILE, "float32"],
  ] as const) {
    const checked = spawnSync(PYTHON, ["-c", CHECK_AND_DESCRIBE, join(outDir, file)], { encoding: "utf8" });
    assert.equal(checked.status, 0, `onnx.checker rejected ${file}:\n${checked.stderr}`);
    const described = JSON.parse(checked.stdout);
    assert.deepEqual(described.producer, [PRODUCER.name, PRODUCER.version]);
    assert.match(described.doc, new RegExp(`${precision}.*of run ${manifest.source.run}`));
    assert.match(
      described.doc,
      /fashion_logits \(10 fashion classes\), category_logits \(3 category classes\)/,
    );
    const metadata = described.metadata;
    assert.equal(metadata[ONNX_METADATA_KEYS.modelId], manifest.modelId);
    assert.equal(metadata[ONNX_METADATA_KEYS.sourceRun], manifest.source.run);
    assert.equal(metadata[ONNX_METADATA_KEYS.precision], precision);
    assert.deepEqual(
      JSON.parse(metadata[ONNX_METADATA_KEYS.tasks]),
      manifest.tasks.map((t) => ({
        name: t.name,
        classes: t.classes,
        output: t.output,
        scoreTemperature: t.temperature,
        ...(t.answeredThrough ? { answeredThrough: t.answeredThrough } : {}),
      })),
    );
    assert.deepEqual(JSON.parse(metadata[ONNX_METADATA_KEYS.input]), MODEL_INPUT);
    assert.deepEqual(JSON.parse(metadata[ONNX_METADATA_KEYS.normalization]), manifest.normalization);
  }
});
