// Latency of the two graph layouts (per tower vs fused) in onnxruntime-web's
// wasm build, one thread, under Node: single image and batch 32, float32 and
// int8. `npm run bench:export -- [--run <run folder>]` (without a run folder,
// a randomly initialised cross-stitch model: latency does not depend on the
// weights). Writes bench/results/export-layouts.json.
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-web";
import { calibratedRange, collectHistograms } from "../export/calibrate.ts";
import { INPUT_NAME, importModel } from "../export/import-model.ts";
import { encodeOnnx } from "../export/onnx.ts";
import { applyPasses, type GraphLayout } from "../export/passes/index.ts";
import { activationParams, quantizedActivations, quantizeGraph } from "../export/quantize.ts";
import { readRunFolder } from "../export/run-folder.ts";
import { loadFashionMnist } from "../train/data.ts";
import { normalizeImages } from "../train/dataset.ts";
import { buildModel } from "../train/model.ts";
import { DEFAULT_TASKS } from "../train/tasks.ts";

const RESULTS = "bench/results/export-layouts.json";
const { values } = parseArgs({
  options: { run: { type: "string" }, repeats: { type: "string", default: "200" } },
});
const repeats = Number(values.repeats);

async function randomRun(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "stitch-bench-run-"));
  const config = {
    cross_stitch_enabled: true,
    alpha_mode: "channel",
    alpha_init: "convex",
    alpha_same: 0.9,
    keep_prob: 0.8,
    seed: 1,
  } as const;
  await mkdir(join(dir, "model"));
  await buildModel(config, DEFAULT_TASKS).save(`file://${join(dir, "model")}`);
  await writeFile(join(dir, "config.json"), JSON.stringify(config));
  await writeFile(
    join(dir, "normalization.json"),
    JSON.stringify({ kind: "global", mean: [72.94], std: [90.02] }),
  );
  await writeFile(join(dir, "tasks.json"), JSON.stringify(DEFAULT_TASKS));
  return dir;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;

async function latency(model: Uint8Array, images: Float32Array, batch: number, runs: number) {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: "all" });
  const feed = { [INPUT_NAME]: new ort.Tensor("float32", images.slice(0, batch * 784), [batch, 28, 28, 1]) };
  for (let i = 0; i < 10; i++) await session.run(feed);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await session.run(feed);
    times.push(performance.now() - start);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return {
    batch,
    runs,
    p50Ms: percentile(times, 0.5),
    p90Ms: percentile(times, 0.9),
    meanMs: times.reduce((a, b) => a + b, 0) / runs,
  };
}

ort.env.wasm.numThreads = 1;
const runDir = values.run ?? (await randomRun());
const run = await readRunFolder(runDir);
const data = await loadFashionMnist({ log: () => {} });
const images = normalizeImages(data.test.images.subarray(0, 256 * 784), run.normalization);
const results = [];
for (const layout of ["per_tower", "fused"] as GraphLayout[]) {
  const graph = applyPasses(importModel(run), layout);
  const histograms = await collectHistograms(
    (g) => encodeOnnx(g, ""),
    graph,
    INPUT_NAME,
    images,
    quantizedActivations(graph),
  );
  const params = new Map(
    [...histograms].map(([n, h]) => [n, activationParams(calibratedRange(h, { kind: "minmax" }))]),
  );
  for (const [precision, model] of [
    ["float32", encodeOnnx(graph, "")],
    ["int8", encodeOnnx(quantizeGraph(graph, params), "")],
  ] as const) {
    const single = await latency(model, images, 1, repeats);
    const batch32 = await latency(model, images, 32, Math.max(20, Math.round(repeats / 10)));
    const row = { layout, precision, bytes: model.length, nodes: graph.nodes.length, single, batch32 };
    console.log(
      `${layout} ${precision}: single p50 ${single.p50Ms.toFixed(2)} ms, batch-32 p50 ${batch32.p50Ms.toFixed(2)} ms`,
    );
    results.push(row);
  }
}
await mkdir("bench/results", { recursive: true });
const summary = {
  runtime: `onnxruntime-web ${ort.env.versions.web} wasm, 1 thread, Node ${process.version}`,
  model: values.run ? runDir : "random cross-stitch model (train/model.ts buildModel, 2 tasks)",
  measuredAt: new Date().toISOString(),
  results,
};
await writeFile(RESULTS, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`wrote ${RESULTS}`);
