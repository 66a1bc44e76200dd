// Reads a training run folder (docs/run-folder.md) without tfjs: the run's
// JSON files and the raw weights named in model.json's weightsManifest, each
// checked so that a wrong folder fails with a sentence, not a stack trace.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import { SELECTED_MODEL_DIR, SELECTION_FILE } from "../train/selection.ts";
import { parseTaskFile, TaskFileError, type TaskSpec, validateTask } from "../train/tasks.ts";
import { type Normalization, normalizationSchema } from "./manifest.ts";

export class ExportError extends Error {}

export interface NamedWeight {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Which of a run's saved models the export serves, and why. */
export interface ServedWeights {
  /** The model folder inside the run: model-best (the validation choice) or model (the last epoch). */
  readonly folder: string;
  readonly weights: "raw" | "ema";
  /** The epoch the weights are from; null when the run does not say (model/ of an unfinished record). */
  readonly epoch: number | null;
  readonly reason: string;
  readonly validationAccuracyMean: number | null;
}

export interface RunFolder {
  readonly dir: string;
  readonly served: ServedWeights;
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly normalization: Normalization;
  readonly tasks: readonly TaskSpec[];
  readonly weights: ReadonlyMap<string, NamedWeight>;
  /** Keras layer configs from model.json's topology, keyed by layer name. */
  readonly layerConfigs: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** tasks.json: the task list in tower order, bare or as the train stage's {"tasks": [...]} task file. */
function parseTasks(value: unknown): TaskSpec[] {
  try {
    if (!Array.isArray(value)) return parseTaskFile(value, "tasks.json");
    if (value.length === 0) throw new ExportError("tasks.json lists no task");
    return value.map((entry, i) => validateTask(entry, `tasks.json: [${i}]`));
  } catch (error) {
    if (error instanceof TaskFileError) throw new ExportError(error.message);
    throw error;
  }
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

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new ExportError(`${what} not found: ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ExportError(`${what} is not valid JSON: ${path}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ExportError(`${what}: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
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

const selectionSchema = z.object({
  epoch: z.number().int().min(1),
  weights: z.enum(["raw", "ema"]),
  criterion: z.string(),
  validation_accuracy_mean: z.number(),
  model: z.literal(SELECTED_MODEL_DIR),
});

/**
 * A run with a validation split serves what validation chose (selection.json, model-best/); a
 * run without one can only serve its last epoch, since any other choice would be made on test.
 */
async function servedWeights(dir: string): Promise<ServedWeights> {
  const selectionFile = join(dir, SELECTION_FILE);
  if (existsSync(selectionFile)) {
    const chosen = parseWith(selectionSchema, await readJson(selectionFile, SELECTION_FILE), SELECTION_FILE);
    return {
      folder: chosen.model,
      weights: chosen.weights,
      epoch: chosen.epoch,
      reason: `chosen on the run's validation split: ${chosen.criterion}`,
      validationAccuracyMean: chosen.validation_accuracy_mean,
    };
  }
  const summaryFile = join(dir, "summary.json");
  const summary = existsSync(summaryFile)
    ? ((await readJson(summaryFile, "summary.json")) as { epochs?: unknown })
    : {};
  return {
    folder: "model",
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
  const modelJson = parseWith(
    modelJsonSchema,
    await readJson(join(modelDir, "model.json"), `trained model (${served.folder}/model.json)`),
    `${served.folder}/model.json is not a tfjs LayersModel with weights`,
  );
  const config = await readJson(join(dir, "config.json"), "run config (config.json)");
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ExportError("config.json must hold a JSON object");
  }
  const normalization = parseWith(
    normalizationSchema,
    await readJson(join(dir, "normalization.json"), "normalization.json"),
    "normalization.json",
  );
  const tasks = parseTasks(await readJson(join(dir, "tasks.json"), "tasks.json"));
  const layerConfigs = new Map(
    modelJson.modelTopology.config.layers.map((l) => [String(l.config.name), l.config] as const),
  );
  return {
    dir,
    served,
    name: basename(dir),
    config: config as Record<string, unknown>,
    normalization,
    tasks,
    weights: await readWeights(modelDir, modelJson.weightsManifest),
    layerConfigs,
  };
}
