// export-report.json: what the export measured (sizes, calibration, parity per task, every
// check), read back by the pipeline and the export-parity benchmark.
import { z } from "zod";
import { answeredThroughSchema } from "./manifest.ts";
import { parseOrFail } from "./parse.ts";

export const taskComparisonSchema = z.object({
  task: z.string(),
  maxAbsLogitDelta: z.number(),
  /** Share of images whose predicted class is the reference's. */
  agreement: z.number(),
  accuracy: z.number(),
  referenceAccuracy: z.number(),
});

export type TaskComparison = z.infer<typeof taskComparisonSchema>;

export const checkSchema = z.object({
  name: z.string(),
  value: z.number(),
  limit: z.number(),
  passed: z.boolean(),
});

export type Check = z.infer<typeof checkSchema>;

export const tolerancesSchema = z.object({
  /** float32 ONNX vs tfjs, any logit. */
  maxLogitDelta: z.number(),
  /** int8 vs tfjs test accuracy, in percentage points, per task. */
  maxAccuracyDropPoints: z.number(),
  /** int8 vs tfjs predicted-class agreement, per task. */
  minAgreement: z.number(),
  /** int8 file bytes / float32 file bytes. */
  maxSizeRatio: z.number(),
  /** The engine vs the int8 graph in onnxruntime-web, predicted-class agreement per task. */
  minEngineAgreement: z.number().default(0.999),
  /** The engine's test accuracy vs the int8 graph's, in percentage points, per task. */
  maxEngineAccuracyDelta: z.number().default(0.05),
});

export type Tolerances = z.infer<typeof tolerancesSchema>;

/** Which of a run's saved models the export serves, and why. */
export const servedWeightsSchema = z.object({
  /** The model folder inside the run: model-best (the validation choice) or model (the last epoch). */
  folder: z.string(),
  weights: z.enum(["raw", "ema"]),
  /** The epoch the weights are from; null when the run does not say. */
  epoch: z.number().int().nullable(),
  reason: z.string(),
  validationAccuracyMean: z.number().nullable(),
});

export type ServedWeights = z.infer<typeof servedWeightsSchema>;

/**
 * One task's served answer, chosen and calibrated on the images it was fitted on (the validation
 * split): its head or a finer head's grouped scores, and the temperature of those scores.
 */
export const taskTemperatureSchema = z.object({
  task: z.string(),
  temperature: z.number(),
  nllBefore: z.number(),
  nllAfter: z.number(),
  eceBefore: z.number(),
  eceAfter: z.number(),
  /** The finer task answered through (null: the task's own head); absent in older reports. */
  answeredThrough: answeredThroughSchema.nullable().optional(),
  /** Every answer considered, with its validation accuracy; absent in older reports. */
  candidates: z
    .array(
      z.object({
        answeredThrough: z.string().nullable(),
        validationAccuracy: z.number(),
        temperature: z.number(),
      }),
    )
    .optional(),
});

export type TaskTemperature = z.infer<typeof taskTemperatureSchema>;

/** How the served scores were calibrated: fitted on the run's validation split, or not at all and why. */
export const scoreCalibrationSchema = z.object({
  method: z.enum(["temperature scaling", "none"]),
  reason: z.string(),
  validationImages: z.number().int(),
  tasks: z.array(taskTemperatureSchema),
});

export type ScoreCalibration = z.infer<typeof scoreCalibrationSchema>;

export const exportReportSchema = z.object({
  /** The run folder exported, as given to the export. */
  run: z.string(),
  /** Absent in reports written before runs could hold a validation choice. */
  served: servedWeightsSchema.optional(),
  layout: z.enum(["fused", "per_tower"]),
  opset: z.number().int(),
  testImages: z.number().int(),
  sizes: z.object({ float32Bytes: z.number().int(), int8Bytes: z.number().int(), ratio: z.number() }),
  calibration: z.object({
    samples: z.number().int(),
    selectionSamples: z.number().int(),
    chosen: z.string(),
    candidates: z.array(
      z.object({
        method: z.string(),
        meanAgreementWithFloat32: z.number(),
        tasks: z.array(taskComparisonSchema),
      }),
    ),
  }),
  tolerances: tolerancesSchema,
  /** Absent in reports written before the export fitted score temperatures. */
  scores: scoreCalibrationSchema.optional(),
  tasks: z.array(
    z.object({
      task: z.string(),
      float32: taskComparisonSchema,
      int8: taskComparisonSchema,
      /** The engine against the int8 graph in onnxruntime-web (per-tower exports). */
      engine: taskComparisonSchema.optional(),
      /** Test accuracy of the answer as served (int8 graph, answeredThrough applied); absent in older reports. */
      servedAccuracy: z.number().optional(),
    }),
  ),
  /** Which kernels the engine ran and the pack's size (per-tower exports). */
  engine: z.object({ kernels: z.string(), packBytes: z.number().int() }).optional(),
  checks: z.array(checkSchema),
});

export type ExportReport = z.infer<typeof exportReportSchema>;

/** Parses and validates an export report, naming the first offending field. */
export function parseExportReport(value: unknown, file: string): ExportReport {
  return parseOrFail(exportReportSchema, value, (problem) => new Error(`${file}: ${problem}`));
}
