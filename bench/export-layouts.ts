// Latency of the two graph layouts (per tower vs fused) in onnxruntime-web's
// wasm build, one thread, under Node: single image and batch 32, float32 and
// int8. `npm run bench:export -- [--run <run folder>]` (without a run folder,
// a randomly initialised cross-stitch model: latency does not depend on the
// weights). Writes bench/results/export-layouts.json.
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import * as ort from "onnxruntime-web";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { standardize } from "../contracts/normalization.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { calibratedParams, collectHistograms } from "../export/calibrate.ts";
import { INPUT_NAME, importModel } from "../export/import-model.ts";
import { encodeOnnx } from "../export/onnx.ts";
import { applyPasses, type GraphLayout } from "../export/passes/index.ts";
import { quantizedActivations, quantizeGraph } from "../export/quantize.ts";
import { readRunFolder } from "../export/run-folder.ts";
import { buildFixtureModel, writeRunFolder } from "../testing/run-folder.ts";

const RESULTS = "bench/results/export-layouts.json";
const values = parseCommandOrExit(
  {
    name: "npm run bench:export --",
    summary:
      "latency of the exported graph's layouts in onnxruntime; writes bench/results/export-layouts.json.",
    flags: {
      run: { value: "DIR", help: "a trained run folder (a random cross-stitch fixture model)" },
      repeats: { value: "N", help: "timed runs per layout and batch size" },
    },
    schema: z.object({ run: flagValue.path().optional(), repeats: flagValue.integer(1).default(200) }),
  },
  process.argv.slice(2),
);
const { repeats } = values;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;

function summary(batch: number, times: number[]) {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return {
    batch,
    runs: times.length,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    minMs: sorted[0],
    meanMs: mean,
  };
}

ort.env.wasm.numThreads = 1;
const runDir = values.run ?? (await writeRunFolder(buildFixtureModel(1, true), true));
const run = await readRunFolder(runDir);
const data = await loadFashionMnist({ log: () => {} });
const images = standardize(data.test.images.subarray(0, 256 * 784), run.normalization);
// The machine is shared: every variant runs in short turns, round after round, so load
// changes hit all of them alike.
const variants = [];
for (const layout of ["per_tower", "fused"] as GraphLayout[]) {
  const graph = applyPasses(importModel(run), layout);
  const histograms = await collectHistograms(
    (g) => encodeOnnx(g, ""),
    graph,
    INPUT_NAME,
    images,
    quantizedActivations(graph),
  );
  const params = calibratedParams(histograms, { kind: "minmax" });
  for (const [precision, model] of [
    ["float32", encodeOnnx(graph, "")],
    ["int8", encodeOnnx(quantizeGraph(graph, params), "")],
  ] as const) {
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: "all" });
    variants.push({
      layout,
      precision,
      bytes: model.length,
      session,
      times: new Map<number, number[]>([
        [1, []],
        [32, []],
      ]),
    });
  }
}
const feeds = new Map(
  [1, 32].map((batch) => [
    batch,
    { [INPUT_NAME]: new ort.Tensor("float32", images.slice(0, batch * 784), [batch, 28, 28, 1]) },
  ]),
);
for (const v of variants) for (const feed of feeds.values()) await v.session.run(feed);
const rounds = 10;
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    for (const [batch, feed] of feeds) {
      const turns = batch === 1 ? Math.ceil(repeats / rounds) : Math.max(2, Math.ceil(repeats / rounds / 10));
      for (let i = 0; i < turns; i++) {
        const start = performance.now();
        await v.session.run(feed);
        v.times.get(batch)?.push(performance.now() - start);
      }
    }
  }
}
const results = variants.map((v) => {
  const single = summary(1, v.times.get(1) ?? []);
  const batch32 = summary(32, v.times.get(32) ?? []);
  console.log(
    `${v.layout} ${v.precision}: single p50 ${single.p50Ms.toFixed(2)} ms, batch-32 p50 ${batch32.p50Ms.toFixed(2)} ms`,
  );
  return { layout: v.layout, precision: v.precision, bytes: v.bytes, single, batch32 };
});
await mkdir("bench/results", { recursive: true });
const output = {
  runtime: `onnxruntime-web ${ort.env.versions.web} wasm, 1 thread, Node ${process.version}`,
  model: values.run ? runDir : "random cross-stitch model (testing/run-folder.ts buildFixtureModel, 2 tasks)",
  measuredAt: new Date().toISOString(),
  method: "all variants alternate in 10 rounds; p50 over every run of a variant",
  loadAverageAtEnd: loadavg(),
  cpus: cpus().length,
  results,
};
await writeFile(RESULTS, `${JSON.stringify(output, null, 2)}\n`);
console.log(`wrote ${RESULTS}`);
