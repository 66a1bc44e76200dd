// The one contract between the export stage and the worker: everything the
// worker needs to turn an image into predictions travels in this file, so the
// worker never imports training code.
import { z } from "zod";
import { modelInputSchema } from "./image.ts";
import { normalizationSchema } from "./normalization.ts";
import { parseOrFail } from "./parse.ts";
import { TASK_NAME } from "./tasks.ts";

export const MANIFEST_FORMAT = "stitch-edge-manifest";
export const MANIFEST_FORMAT_VERSION = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected a lowercase hex SHA-256");

export const modelFileSchema = z.object({
  file: z.string().min(1),
  bytes: z.number().int().positive(),
  sha256: sha256Hex,
});

/** The engine's packed weights (contracts/engine-pack.ts), written beside the ONNX graph it was packed from. */
export const engineFileSchema = modelFileSchema.extend({ formatVersion: z.number().int().positive() });

export const taskEntrySchema = z.object({
  name: z.string().regex(TASK_NAME),
  classes: z.array(z.string().min(1)).min(2),
  /** Name of this task's logits output in the ONNX graph. */
  output: z.string().min(1),
  /** Test-set accuracy of the trained (tfjs) model and of each exported graph. */
  accuracy: z.object({ trained: z.number(), float32: z.number(), int8: z.number() }),
  /**
   * Scores are softmax(logits / temperature) (contracts/scores.ts), the temperature fitted on the
   * run's validation split; 1 (the plain softmax) for a run without one and in older manifests.
   */
  temperature: z.number().positive().default(1),
});

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  modelId: z.string().min(1),
  createdAt: z.string(),
  source: z.object({
    run: z.string(),
    crossStitch: z.boolean(),
    meanAccuracy: z.number(),
  }),
  tasks: z.array(taskEntrySchema).min(1),
  input: modelInputSchema,
  normalization: normalizationSchema,
  quantization: z.object({
    format: z.literal("QDQ"),
    weights: z.literal("int8 symmetric per-channel"),
    activations: z.literal("int8"),
    calibration: z.object({ method: z.string(), samples: z.number().int().positive() }),
  }),
  opset: z.number().int().positive(),
  /** "fused": towers merged into wide/grouped convolutions; "per_tower": one branch per task. */
  graphLayout: z.enum(["fused", "per_tower"]),
  models: z.object({
    int8: modelFileSchema,
    float32: modelFileSchema,
    /** Absent for a fused-layout export (the engine runs per-tower graphs). */
    engine: engineFileSchema.optional(),
  }),
});

export type Manifest = z.infer<typeof manifestSchema>;

export type TaskEntry = z.infer<typeof taskEntrySchema>;

/** Parses and validates a manifest, naming the first offending field. */
export function parseManifest(value: unknown): Manifest {
  return parseOrFail(manifestSchema, value, (problem) => new Error(`invalid manifest at ${problem}`));
}
