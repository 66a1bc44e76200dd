// Reads a training run folder (docs/run-folder.md) without tfjs: the run's
// JSON files and the raw weights named in model.json's weightsManifest, each
// checked so that a wrong folder fails with a sentence, not a stack trace.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { z } from "zod";
import type { Architecture } from "../contracts/architecture.ts";
import type { ServedWeights } from "../contracts/export-report.ts";
import type { Normalization } from "../contracts/normalization.ts";
import { parseOrFail } from "../contracts/parse.ts";
import { RUN_FILES, RunFileError } from "../contracts/run-folder.ts";
import { TaskFileError, type TaskSpec } from "../contracts/tasks.ts";
import { readJsonFile } from "../stage-files/files.ts";
import {
  readArchitecture,
  readNormalization,
  readRunConfig,
  readRunTasks,
  readSelection,
} from "../stage-files/run-folder.ts";

export class ExportError extends Error {}

export interface NamedWeight {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface RunFolder {
  readonly dir: string;
  readonly served: ServedWeights;
  readonly name: string;
  readonly architecture: Architecture;
  readonly normalization: Normalization;
  readonly tasks: readonly TaskSpec[];
  /** The run's held-out training images (data/split.ts), or null when it trained on all of them. */
  readonly validation: { readonly size: number; readonly seed: number } | null;
  readonly weights: ReadonlyMap<string, NamedWeight>;
  /** Keras layer configs from model.json's topology, keyed by layer name. */
  readonly layerConfigs: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

const modelJsonSchema = z.object({
  modelTopology: z.object({
    config: z.object({ layers: z.array(z.object({ config: z.record(z.string(), z.unknown()) })) }),
  }),
  weightsManifest: z.array(
    z.object({
      paths: z.array(z.string().min(1)),
      weights: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()), dtype: z.string() })),
    }),
  ),
});

/** A run-folder reader's error as the export's own (one sentence, exit 1). */
function asExportError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof RunFileError || error instanceof TaskFileError) throw new ExportError(error.message);
    throw error;
  }
}

async function readWeights(modelDir: string, manifest: z.infer<typeof modelJsonSchema>["weightsManifest"]) {
  const weights = new Map<string, NamedWeight>();
  for (const group of manifest) {
    const parts: Buffer[] = [];
    for (const path of group.paths) {
      try {
        parts.push(await readFile(join(modelDir, path)));
      } catch {
        throw new ExportError(`weights file ${path} named in model.json is missing from ${modelDir}`);
      }
    }
    const bytes = Buffer.concat(parts);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== "float32")
        throw new ExportError(`weight ${spec.name} is ${spec.dtype}, expected float32`);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (offset + size * 4 > bytes.length) throw new ExportError(`weights file too short for ${spec.name}`);
      // Copy: the Buffer pool's offset is not guaranteed to be 4-byte aligned.
      const data = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + size * 4),
      );
      weights.set(spec.name, { shape: spec.shape, data });
      offset += size * 4;
    }
    if (offset !== bytes.length)
      throw new ExportError(`weights files hold ${bytes.length - offset} unexpected bytes`);
  }
  return weights;
}

/**
 * A run with a validation split serves what validation chose (selection.json, model-best/); a
 * run without one can only serve its last epoch, since any other choice would be made on test.
 */
async function servedWeights(dir: string): Promise<ServedWeights> {
  const chosen = asExportError(() => readSelection(dir));
  if (chosen !== null) {
    return {
      folder: chosen.model,
      weights: chosen.weights,
      epoch: chosen.epoch,
      reason: `chosen on the run's validation split: ${chosen.criterion}`,
      validationAccuracyMean: chosen.validation_accuracy_mean,
    };
  }
  const summaryFile = join(dir, RUN_FILES.summary);
  const summary = existsSync(summaryFile)
    ? (asExportError(() => readJsonFile(summaryFile, RUN_FILES.summary)) as { epochs?: unknown })
    : {};
  return {
    folder: dirname(RUN_FILES.model),
    weights: "raw",
    epoch: typeof summary.epochs === "number" ? summary.epochs : null,
    reason:
      "the run holds no validation split, so the last epoch's raw weights (choosing an epoch on test would be selecting on the test set)",
    validationAccuracyMean: null,
  };
}

export async function readRunFolder(runDir: string): Promise<RunFolder> {
  const dir = resolve(runDir);
  const served = await servedWeights(dir);
  const modelDir = join(dir, served.folder);
  const modelFile = join(served.folder, "model.json");
  const modelJson = parseOrFail(
    modelJsonSchema,
    asExportError(() => readJsonFile(join(dir, modelFile), `trained model (${modelFile})`)),
    (problem) => new ExportError(`${modelFile} is not a tfjs LayersModel with weights: ${problem}`),
  );
  const layerConfigs = new Map(
    modelJson.modelTopology.config.layers.map((l) => [String(l.config.name), l.config] as const),
  );
  const config = asExportError(() => readRunConfig(dir));
  return {
    dir,
    served,
    name: basename(dir),
    architecture: asExportError(() => readArchitecture(dir)),
    normalization: asExportError(() => readNormalization(dir)),
    tasks: asExportError(() => readRunTasks(dir)),
    validation: config.val_size > 0 ? { size: config.val_size, seed: config.seed } : null,
    weights: await readWeights(modelDir, modelJson.weightsManifest),
    layerConfigs,
  };
}
