// The files of a training run folder (docs/run-folder.md) that later stages read: their names
// and schemas. Node's file reading and writing of them lives in stage-files/ (not imported by
// the worker).
import { z } from "zod";
import { architectureSchema } from "./architecture.ts";
import { NORMALIZATION_KINDS } from "./normalization.ts";
import { parseOrFail } from "./parse.ts";

export const RUN_FILES = {
  config: "config.json",
  normalization: "normalization.json",
  tasks: "tasks.json",
  metrics: "metrics.jsonl",
  summary: "summary.json",
  /** The trained tfjs LayersModel, written last. */
  model: "model/model.json",
  /** Runs with a validation split: the validation-chosen weights (same format as model/) and the record of that choice. */
  selectedModelDir: "model-best",
  selection: "selection.json",
} as const;

const accuracyFields = {
  test_accuracy: z.record(z.string(), z.number()),
  test_accuracy_mean: z.number(),
  /** Coarse tasks answered through a finer head (e.g. category_from_fashion), on the test set. */
  derived_test_accuracy: z.record(z.string(), z.number()).optional(),
  /** On the held-out validation split (runs with --val_size > 0). */
  validation_accuracy: z.record(z.string(), z.number()).optional(),
  validation_accuracy_mean: z.number().optional(),
  /** The coarse tasks read off a finer head on the validation split, so validation can choose between the two. */
  derived_validation_accuracy: z.record(z.string(), z.number()).optional(),
};

/** Accuracy of one set of weights (the raw ones or their moving average). */
export const weightsAccuracySchema = z.object(accuracyFields);

export type WeightsAccuracy = z.infer<typeof weightsAccuracySchema>;

/** config.json: the resolved training flags; the architecture's keys are read by model, forward and export. */
export const runConfigSchema = architectureSchema
  .extend({
    n_epoch: z.number().int().positive(),
    seed: z.number().int().nonnegative(),
    normalization: z.enum(NORMALIZATION_KINDS),
    /** Training images held out for validation (data/split.ts); absent in runs made before the split existed. */
    val_size: z.number().int().nonnegative().default(0),
  })
  .loose();

export type RunConfig = z.infer<typeof runConfigSchema>;

/** One line of metrics.jsonl per finished epoch. */
export const epochMetricsSchema = z.object({
  epoch: z.number().int().positive(),
  /** Mean training cross-entropy per task over the epoch. */
  loss: z.record(z.string(), z.number()),
  /** Mean training objective: task losses + L2. */
  loss_total: z.number(),
  ...accuracyFields,
  /** Wall seconds for the epoch, evaluation and checkpoint included. */
  seconds: z.number(),
  /** Training images per second (the optimisation steps only). */
  images_per_second: z.number(),
  /** Mean diagonal of each cross-stitch unit's alpha (1 = no sharing); empty for the baseline. */
  alpha_self: z.array(z.number()),
  /** The same accuracy figures for the moving average of the weights (runs with --ema_decay > 0). */
  ema: weightsAccuracySchema.optional(),
  /** The learning rate of the epoch's last step. */
  lr: z.number().optional(),
});

export type EpochMetrics = z.infer<typeof epochMetricsSchema>;

const accuracyRowSchema = z.object({ per_task: z.record(z.string(), z.number()), mean: z.number() });

export type AccuracyRow = z.infer<typeof accuracyRowSchema>;

/** selection.json: which weights model-best/ holds, chosen on the validation split only. */
export const selectionSchema = z.object({
  epoch: z.number().int().min(1),
  weights: z.enum(["raw", "ema"]),
  criterion: z.string(),
  validation_accuracy: z.record(z.string(), z.number()),
  validation_accuracy_mean: z.number(),
  /** Reported only: never used to choose. */
  test_accuracy: z.record(z.string(), z.number()),
  test_accuracy_mean: z.number(),
  model: z.literal(RUN_FILES.selectedModelDir),
});

export type Selection = z.infer<typeof selectionSchema>;

/** summary.json: final, best-epoch and last-5-epoch test accuracy per task, and the learned alphas. */
export const runSummarySchema = z.object({
  variant: z.string(),
  tasks: z.array(z.string()),
  epochs: z.number().int(),
  final: accuracyRowSchema.extend({ epoch: z.number().int() }),
  /** The epoch with the highest mean test accuracy. */
  best: accuracyRowSchema.extend({ epoch: z.number().int() }),
  /** Accuracy averaged over the last 5 epochs (fewer if the run is shorter). */
  last5: accuracyRowSchema.extend({ epochs: z.array(z.number().int()) }),
  alphas: z.array(
    z.object({
      unit: z.string(),
      shape: z.array(z.number().int()),
      /** alpha averaged over channels: row i = how tower i mixes the towers. */
      mean: z.array(z.array(z.number())),
      values: z.array(z.array(z.array(z.number()))),
    }),
  ),
  seconds_total: z.number(),
  images_per_second_mean: z.number(),
  /** The weights validation chose (runs with --val_size > 0). */
  selected: selectionSchema.optional(),
});

export type RunSummary = z.infer<typeof runSummarySchema>;

/** Parses `value` with `schema`; an error names the file and the first offending field. */
export function parseRunFile<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  return parseOrFail(schema, value, (problem) => new RunFileError(`${file}: ${problem}`));
}

export class RunFileError extends Error {
  override name = "RunFileError";
}

/** metrics.jsonl's text as records, each line checked. */
export function parseMetricsLines(text: string, file: string): EpochMetrics[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new RunFileError(`${file}: line ${index + 1} is not valid JSON`);
      }
      return parseRunFile(epochMetricsSchema, value, `${file}: line ${index + 1}`);
    });
}
