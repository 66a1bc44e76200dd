// The one contract between the export stage and the worker: everything the
// worker needs to turn an image into predictions travels in this file, so the
// worker never imports training code.
import { z } from "zod";

export const MANIFEST_FORMAT = "stitch-edge-manifest";
export const MANIFEST_FORMAT_VERSION = 1;
export const MANIFEST_FILE = "manifest.json";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected a lowercase hex SHA-256");

export const modelFileSchema = z.object({
  file: z.string().min(1),
  bytes: z.number().int().positive(),
  sha256: sha256Hex,
});

/** The engine's packed weights (engine/pack-format.ts), written beside the ONNX graph it was packed from. */
export const engineFileSchema = modelFileSchema.extend({ formatVersion: z.number().int().positive() });

export const taskEntrySchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  classes: z.array(z.string().min(1)).min(2),
  /** Name of this task's logits output in the ONNX graph. */
  output: z.string().min(1),
  /** Test-set accuracy of the trained (tfjs) model and of each exported graph. */
  accuracy: z.object({ trained: z.number(), float32: z.number(), int8: z.number() }),
});

export const normalizationSchema = z
  .object({
    /** "global": one mean/std over all training pixels; "per_pixel": 784 of each. */
    kind: z.enum(["global", "per_pixel"]),
    /** In raw pixel units (0-255, 0 = background), applied as (x - mean) / std. */
    mean: z.array(z.number()),
    std: z.array(z.number().positive()),
  })
  .refine((n) => n.mean.length === n.std.length && n.mean.length === (n.kind === "global" ? 1 : 784), {
    message: "normalization mean/std length must be 1 (global) or 784 (per_pixel)",
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
  input: z.object({
    name: z.string().min(1),
    /** -1 marks the batch dimension. */
    shape: z.array(z.number().int()),
    layout: z.enum(["NHWC", "NCHW"]),
    dtype: z.literal("float32"),
    height: z.literal(28),
    width: z.literal(28),
    channels: z.literal(1),
    /** Training images are light objects on a dark background. */
    background: z.literal("dark"),
  }),
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

/** The one input every exported graph takes: a batch of z-scored 28x28 grayscale images, NHWC. */
export const MODEL_INPUT: Manifest["input"] = {
  name: "image",
  shape: [-1, 28, 28, 1],
  layout: "NHWC",
  dtype: "float32",
  height: 28,
  width: 28,
  channels: 1,
  background: "dark",
};
export type TaskEntry = z.infer<typeof taskEntrySchema>;
export type Normalization = z.infer<typeof normalizationSchema>;

/** Parses and validates a manifest, naming the first offending field. */
export function parseManifest(value: unknown): Manifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "(root)";
    throw new Error(`invalid manifest at ${where}: ${issue?.message ?? "unknown error"}`);
  }
  return result.data;
}
