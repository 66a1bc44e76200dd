// A full-size exported int8 graph without training or tfjs: random weights in
// the train stage's naming (any number of tasks, channel- or layer-wise
// cross-stitch units, or none), run through the export's own import, passes,
// calibration and quantization. Tests and benchmarks of the engine compare it
// with onnxruntime on this graph.

import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ENGINE_FILE } from "../contracts/artifacts.ts";
import { PACK_VERSION } from "../contracts/engine-pack.ts";
import { type Manifest, parseManifest } from "../contracts/manifest.ts";
import { BUILTIN_TASKS, derivations, type TaskSpec } from "../contracts/tasks.ts";
import { createRng } from "../data/dataset.ts";
import { calibratedParams, collectHistograms } from "../export/calibrate.ts";
import { INPUT_NAME, importModel, logitsName } from "../export/import-model.ts";
import { encodeOnnx } from "../export/onnx.ts";
import { packEngine } from "../export/pack-engine.ts";
import { applyPasses } from "../export/passes/index.ts";
import { quantizedActivations, quantizeGraph } from "../export/quantize.ts";
import type { NamedWeight, RunFolder } from "../export/run-folder.ts";
import { writeArtifacts } from "./onnx-model.ts";

export interface FixtureOptions {
  readonly tasks: readonly TaskSpec[];
  readonly crossStitch: "channel" | "layer" | "none";
  readonly seed: number;
}

export const THIRD_TASK: TaskSpec = {
  name: "footwear",
  classes: ["footwear", "other"],
  labelMap: [1, 1, 1, 1, 1, 0, 1, 0, 1, 0],
};

export const DEFAULT_FIXTURE_TASKS = [BUILTIN_TASKS.fashion, BUILTIN_TASKS.category] as TaskSpec[];

/** A run folder in memory with He-scaled random weights and batch-norm statistics away from (0, 1). */
export function randomRun(options: FixtureOptions): RunFolder {
  const random = createRng(options.seed);
  const weights = new Map<string, NamedWeight>();
  const layerConfigs = new Map<string, Record<string, unknown>>();
  const put = (name: string, shape: number[], draw: () => number) => {
    const size = shape.reduce((a, b) => a * b, 1);
    weights.set(name, { shape, data: Float32Array.from({ length: size }, draw) });
  };
  const he = (fanIn: number) => () => (random() * 2 - 1) * Math.sqrt(6 / fanIn);
  const batchNorm = (layer: string, size: number) => {
    put(`${layer}/gamma`, [size], () => 0.5 + random());
    put(`${layer}/beta`, [size], () => (random() - 0.5) * 0.4);
    put(`${layer}/moving_mean`, [size], () => (random() - 0.5) * 0.6);
    put(`${layer}/moving_variance`, [size], () => 0.5 + random() * 1.5);
    layerConfigs.set(layer, { epsilon: 0.001 });
  };
  for (const t of options.tasks) {
    put(`${t.name}_conv1/kernel`, [3, 3, 1, 32], he(9));
    put(`${t.name}_conv1/bias`, [32], () => (random() - 0.5) * 0.1);
    batchNorm(`${t.name}_bn1`, 32);
    put(`${t.name}_conv2/kernel`, [3, 3, 32, 64], he(288));
    put(`${t.name}_conv2/bias`, [64], () => (random() - 0.5) * 0.1);
    batchNorm(`${t.name}_bn2`, 64);
    put(`${t.name}_fc3/kernel`, [3136, 1024], he(3136));
    put(`${t.name}_fc3/bias`, [1024], () => (random() - 0.5) * 0.1);
    batchNorm(`${t.name}_bn3`, 1024);
    put(`${t.name}_logits/kernel`, [1024, t.classes.length], he(1024));
    put(`${t.name}_logits/bias`, [t.classes.length], () => (random() - 0.5) * 0.1);
  }
  if (options.crossStitch !== "none") {
    const towers = options.tasks.length;
    for (const [unit, channels] of [
      [1, 32],
      [2, 64],
      [3, 1024],
    ] as const) {
      const rows = options.crossStitch === "channel" ? channels : 1;
      put(`cross_stitch_${unit}/alpha`, [rows, towers, towers], () => random() * 1.2 - 0.2);
    }
  }
  return {
    dir: "(memory)",
    served: {
      folder: "model",
      weights: "raw",
      epoch: null,
      reason: "random weights generated in memory for engine tests",
      validationAccuracyMean: null,
    },
    name: `engine-fixture-${options.seed}`,
    validation: null,
    architecture: {
      cross_stitch_enabled: options.crossStitch !== "none",
      alpha_mode: options.crossStitch === "layer" ? "layer" : "channel",
      alpha_init: "convex",
      alpha_same: 0.9,
      keep_prob: 0.8,
    },
    normalization: { kind: "global", mean: [72.94], std: [90.02] },
    tasks: options.tasks,
    weights,
    layerConfigs,
  };
}

/** Normalized images that look like the data: blobs of light on dark, z-scored as the manifest says. */
export function syntheticImages(count: number, seed: number): Float32Array {
  const random = createRng(seed);
  const out = new Float32Array(count * 784);
  for (let i = 0; i < count; i++) {
    const [cy, cx, ry, rx] = [8 + random() * 12, 8 + random() * 12, 4 + random() * 8, 3 + random() * 8];
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const d = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2;
        const pixel = d < 1 ? 120 + random() * 135 : random() * 20;
        out[i * 784 + y * 28 + x] = (Math.round(pixel) - 72.94) / 90.02;
      }
  }
  return out;
}

/** The int8 per-tower graph the export would write for this run, calibrated (min/max) on `images`. */
export async function quantizedFixture(run: RunFolder, images: Float32Array): Promise<Uint8Array> {
  const graph = applyPasses(importModel(run), "per_tower");
  const histograms = await collectHistograms(
    (g) => encodeOnnx(g, ""),
    graph,
    INPUT_NAME,
    images,
    quantizedActivations(graph),
  );
  return encodeOnnx(quantizeGraph(graph, calibratedParams(histograms, { kind: "minmax" })), "");
}

export const fixtureTasks = (tasks: readonly TaskSpec[]) =>
  tasks.map((t) => ({ name: t.name, output: logitsName(t.name), classes: t.classes.length }));

/** Per task, in task order: one sharper and one flatter than the plain softmax. */
export const FIXTURE_SCORE_TEMPERATURES = [0.6, 1.7];

/**
 * An export folder for the worker: the random-weight cross-stitch graph (int8, float32), its
 * engine pack and a manifest naming all three, as the export writes them. Like a beyond export
 * whose validation split chose so, it answers category through the fashion head, grouped.
 */
export async function writeEngineFixtureArtifacts(dir: string): Promise<Manifest> {
  const options = { tasks: DEFAULT_FIXTURE_TASKS, crossStitch: "channel", seed: 11 } as const;
  const run = randomRun(options);
  const int8 = await quantizedFixture(run, syntheticImages(64, 3));
  const fp32 = encodeOnnx(applyPasses(importModel(run), "per_tower"), "");
  const manifest = await writeArtifacts(dir, { int8, fp32, label: "engine-fixture" });
  const packed = packEngine(int8, fixtureTasks(options.tasks)).bytes;
  await writeFile(join(dir, ENGINE_FILE), packed);
  const sha256 = createHash("sha256").update(packed).digest("hex");
  const withEngine = parseManifest({
    ...manifest,
    // Scores as an export with a validation split serves them, so tests see the temperature applied.
    tasks: manifest.tasks.map((task, i) => {
      const through = derivations(options.tasks).find((d) => d.to === i);
      return {
        ...task,
        temperature: FIXTURE_SCORE_TEMPERATURES[i] ?? 1,
        ...(through
          ? { answeredThrough: { task: options.tasks[through.from]?.name, classMap: through.classMap } }
          : {}),
      };
    }),
    models: {
      ...manifest.models,
      engine: { file: ENGINE_FILE, bytes: packed.length, sha256, formatVersion: PACK_VERSION },
    },
  });
  await writeFile(join(dir, "manifest.json"), `${JSON.stringify(withEngine, null, 2)}\n`);
  return withEngine;
}
