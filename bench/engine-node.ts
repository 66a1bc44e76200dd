// The engine alone under Node, against onnxruntime-node (native, one thread) and
// onnxruntime-web (wasm, one thread) on the same int8 graph in the same run:
// single image and batch 32, p50 and best, GMAC/s and its share of the int8
// peak measured here (bench/engine-peak.c), per-layer times, wasm heap.
// `npm run bench:engine -- [--artifacts DIR] [--rounds N]`: DIR holds
// model.int8.onnx and manifest.json (and model.engine.bin, else it is packed
// here); without it, a random-weight graph of the same architecture (speed does
// not depend on the weights). Writes bench/results/engine-node.json.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ortNode from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { ENGINE_FILE } from "../contracts/artifacts.ts";
import type { PackOp, TensorInfo } from "../contracts/engine-pack.ts";
import { parseManifest } from "../contracts/manifest.ts";
import type { Engine } from "../engine/engine.ts";
import { loadEngine } from "../export/engine-run.ts";
import { packEngine } from "../export/pack-engine.ts";
import {
  DEFAULT_FIXTURE_TASKS,
  fixtureTasks,
  quantizedFixture,
  randomRun,
  syntheticImages,
} from "../testing/engine-fixture.ts";
import { machineContext } from "./machine.ts";

const RESULTS = "bench/results/engine-node.json";
const BATCHES = [1, 32] as const;
const values = parseCommandOrExit(
  {
    name: "npm run bench:engine --",
    summary:
      "the wasm engine in Node against onnxruntime on the same int8 graph; writes bench/results/engine-node.json.",
    flags: {
      artifacts: { value: "DIR", help: "an export to measure ($STITCH_ARTIFACTS, else the engine fixture)" },
      rounds: { value: "N", help: "timed rounds per batch size" },
    },
    schema: z.object({
      artifacts: flagValue.path().optional(),
      rounds: flagValue.integer(1).default(12),
    }),
  },
  process.argv.slice(2),
);
const { rounds } = values;

async function graph() {
  const dir = values.artifacts ?? process.env.STITCH_ARTIFACTS;
  if (dir) {
    const manifest = parseManifest(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")));
    const model = await readFile(join(dir, manifest.models.int8.file));
    const tasks = manifest.tasks.map((t) => ({ name: t.name, output: t.output, classes: t.classes.length }));
    const packFile = join(dir, ENGINE_FILE);
    const packed = existsSync(packFile)
      ? new Uint8Array(await readFile(packFile))
      : packEngine(model, tasks).bytes;
    return { source: resolve(dir), model, packed, tasks };
  }
  const options = { tasks: DEFAULT_FIXTURE_TASKS, crossStitch: "channel", seed: 1 } as const;
  const model = await quantizedFixture(randomRun(options), syntheticImages(64, 2));
  const tasks = fixtureTasks(options.tasks);
  return {
    source: "random-weight cross-stitch graph (testing/engine-fixture.ts)",
    model,
    packed: packEngine(model, tasks).bytes,
    tasks,
  };
}

/** Multiply-adds per image of each op (conv taps x outputs, dense k x n). */
function opMacs(op: PackOp, tensors: readonly TensorInfo[]): number {
  const spatial = (t: number) => (tensors[t] as TensorInfo).shape[0] * (tensors[t] as TensorInfo).shape[1];
  switch (op.op) {
    case "conv3x3":
      return spatial(op.input) * op.k * op.n;
    case "conv3x3Float":
      return spatial(op.input) * 9 * (tensors[op.input] as TensorInfo).shape[2] * op.n;
    case "dense":
    case "logits":
      return op.k * op.n;
    default:
      return 0;
  }
}

/** GMAC/s of bench/engine-peak.c's loop, best of five, per build. */
async function peaks(): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), "stitch-engine-peak-"));
  const out: Record<string, number> = {};
  for (const [build, flags] of [
    ["simd128", ["-msimd128"]],
    ["relaxed", ["-msimd128", "-mrelaxed-simd"]],
  ] as const) {
    const file = join(dir, `${build}.wasm`);
    const clang = process.env.CLANG ?? "clang-19";
    const made = spawnSync(clang, [
      "--target=wasm32",
      ...flags,
      "-O3",
      "-nostdlib",
      "-Wl,--no-entry",
      "-o",
      file,
      "bench/engine-peak.c",
    ]);
    if (made.status !== 0) throw new Error(`${clang} could not build bench/engine-peak.c`);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(await readFile(file)), {});
    const peak = instance.exports.peak as (iterations: number, seed: number) => number;
    peak(1e6, 1);
    const iterations = 2e7;
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      peak(iterations, r);
      best = Math.min(best, performance.now() - t);
    }
    out[build] = (iterations * 8 * 16) / best / 1e6;
  }
  return out;
}

type Runner = (images: Float32Array, batch: number) => Promise<unknown> | unknown;

const { model, packed, tasks, source } = await graph();
const images = syntheticImages(32, 9);
const engines: Record<string, Engine> = {
  "engine-simd128": await loadEngine(packed, "simd128"),
  "engine-relaxed": await loadEngine(packed, "relaxed"),
};
ortWeb.env.wasm.numThreads = 1;
const webSession = await ortWeb.InferenceSession.create(model, { graphOptimizationLevel: "all" });
const nodeSession = await ortNode.InferenceSession.create(model, {
  graphOptimizationLevel: "all",
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
const runners: Record<string, Runner> = {
  ...Object.fromEntries(Object.entries(engines).map(([name, e]) => [name, (x: Float32Array) => e.run(x)])),
  "onnxruntime-web": (x, b) => webSession.run({ image: new ortWeb.Tensor("float32", x, [b, 28, 28, 1]) }),
  "onnxruntime-node": (x, b) => nodeSession.run({ image: new ortNode.Tensor("float32", x, [b, 28, 28, 1]) }),
};

const header = (engines["engine-relaxed"] as Engine).ops;
const tensors = (engines["engine-relaxed"] as Engine).tensors;
const macsPerImage = header.reduce((sum, op) => sum + opMacs(op, tensors), 0);

console.error(`graph: ${source}; ${(macsPerImage / 1e6).toFixed(2)} M multiply-adds per image`);
// Warm-up long enough for V8 to tier every runner's wasm up to its optimizing compiler.
for (const run of Object.values(runners))
  for (const batch of BATCHES)
    for (let i = 0; i < (batch === 1 ? 300 : 20); i++) await run(images.subarray(0, batch * 784), batch);

const times: Record<string, Record<number, number[]>> = Object.fromEntries(
  Object.keys(runners).map((name) => [name, { 1: [], 32: [] }]),
);
// Runners alternate sample by sample, so the load of this shared machine falls on all of them alike.
for (let round = 0; round < rounds; round++) {
  for (const batch of BATCHES) {
    const x = images.subarray(0, batch * 784);
    for (let i = 0; i < (batch === 1 ? 40 : 4); i++) {
      for (const [name, run] of Object.entries(runners)) {
        const t = performance.now();
        await run(x, batch);
        (times[name] as Record<number, number[]>)[batch]?.push(performance.now() - t);
      }
    }
  }
  console.error(`round ${round + 1}/${rounds}`);
}

// The peak loop before and after, the better of the two: load only ever lowers it.
const [peakBefore, peakAfter] = [await peaks(), await peaks()];
const peak = Object.fromEntries(
  Object.keys(peakBefore).map((k) => [k, Math.max(peakBefore[k] as number, peakAfter[k] as number)]),
) as Record<string, number>;
const round3 = (v: number) => Math.round(v * 1000) / 1000;
const stats = (list: number[], batch: number, peakGmacs?: number) => {
  const sorted = [...list].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)] as number;
  const best = sorted[0] as number;
  // GMAC/s from the best run: on a loaded machine the median measures the neighbours.
  const gmacs = (macsPerImage * batch) / best / 1e6;
  return {
    runs: list.length,
    p50Ms: round3(p50),
    p10Ms: round3(sorted[Math.floor(sorted.length * 0.1)] as number),
    minMs: round3(best),
    bestGmacPerS: round3(gmacs),
    ...(peakGmacs ? { shareOfPeak: round3(gmacs / peakGmacs) } : {}),
  };
};
const results = Object.fromEntries(
  Object.entries(times).map(([name, byBatch]) => [
    name,
    Object.fromEntries(
      BATCHES.map((b) => [
        `batch${b}`,
        stats(
          byBatch[b] as number[],
          b,
          name === "engine-simd128" ? peak.simd128 : name === "engine-relaxed" ? peak.relaxed : undefined,
        ),
      ]),
    ),
  ]),
);
const figure = (name: string, batch: number, key: "p50Ms" | "p10Ms" | "minMs") =>
  (results[name] as Record<string, Record<string, number>>)[`batch${batch}`]?.[key] as number;
const ratios = Object.fromEntries(
  Object.keys(engines).flatMap((name) =>
    BATCHES.map((b) => [
      `${name} batch${b}`,
      Object.fromEntries(
        (["p50Ms", "p10Ms", "minMs"] as const).flatMap((key) => [
          [`overOrtWeb_${key}`, round3(figure("onnxruntime-web", b, key) / figure(name, b, key))],
          [`overOrtNode_${key}`, round3(figure("onnxruntime-node", b, key) / figure(name, b, key))],
        ]),
      ),
    ]),
  ),
);

/** Best time of each op over many runs: what each layer costs without the noise of the others. */
function layers(engine: Engine, batch: number) {
  const best = new Float64Array(engine.ops.length).fill(Infinity);
  const x = images.subarray(0, batch * 784);
  for (let r = 0; r < (batch === 1 ? 200 : 30); r++) {
    let last = performance.now();
    engine.run(x, (i) => {
      const now = performance.now();
      best[i] = Math.min(best[i] as number, now - last);
      last = now;
    });
  }
  return engine.ops.map((op, i) => {
    const macs = opMacs(op, tensors) * batch;
    const ms = best[i] as number;
    return {
      op: op.op,
      output: "output" in op ? op.output : undefined,
      bestMs: round3(ms),
      ...(macs ? { gmacPerS: round3(macs / ms / 1e6) } : {}),
    };
  });
}
const breakdown = Object.fromEntries(
  Object.entries(engines).map(([name, e]) => [
    name,
    Object.fromEntries(BATCHES.map((b) => [`batch${b}`, layers(e, b)])),
  ]),
);

const report = {
  context: machineContext(),
  graph: source.startsWith("/") ? "artifacts given with --artifacts" : source,
  tasks: tasks.map((t) => t.name),
  macsPerImage,
  kernels: Object.fromEntries(Object.entries(engines).map(([n, e]) => [n, e.kernels])),
  wasmHeapMiB: Object.fromEntries(
    Object.entries(engines).map(([n, e]) => [n, round3(e.heapBytes / 2 ** 20)]),
  ),
  packBytes: packed.length,
  peakGmacPerS: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, round3(v)])),
  results,
  ratios,
  breakdown,
};
await mkdir("bench/results", { recursive: true });
await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
for (const [name, r] of Object.entries(results)) console.log(name, JSON.stringify(r));
console.log("ratios", JSON.stringify(ratios));
console.log(`wrote ${RESULTS}`);
