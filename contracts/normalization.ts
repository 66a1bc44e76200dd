// Input standardization: one schema and one formula, shared by training, the export's parity
// check and the worker, so the model is always fed what it was trained on.
import { z } from "zod";
import { PIXELS_PER_IMAGE } from "./image.ts";

/**
 * "global" (the default): one mean and std over every training pixel. Robust for
 * photos sent to the worker, whose borders are never exactly black.
 * "per_pixel": the reference's 784 means and stds; the std is floored because
 * border pixels are black in nearly every training image and would otherwise
 * turn faint noise into huge values.
 */
export const NORMALIZATION_KINDS = ["global", "per_pixel"] as const;
export type NormalizationKind = (typeof NORMALIZATION_KINDS)[number];

export const normalizationSchema = z
  .object({
    kind: z.enum(NORMALIZATION_KINDS),
    /** In raw pixel units (0-255, 0 = background), applied as (x - mean) / std. */
    mean: z.array(z.number()),
    std: z.array(z.number().positive()),
  })
  .refine(
    (n) => n.mean.length === n.std.length && n.mean.length === (n.kind === "global" ? 1 : PIXELS_PER_IMAGE),
    { message: `normalization mean/std length must be 1 (global) or ${PIXELS_PER_IMAGE} (per_pixel)` },
  );

export type Normalization = z.infer<typeof normalizationSchema>;

export const PER_PIXEL_STD_FLOOR = 1;

export function computeNormalization(images: Uint8Array, kind: NormalizationKind): Normalization {
  const count = images.length / PIXELS_PER_IMAGE;
  if (!Number.isInteger(count) || count === 0)
    throw new Error("images must hold a whole number of 28x28 images");
  const width = kind === "global" ? 1 : PIXELS_PER_IMAGE;
  const sum = new Float64Array(width);
  const sumSquares = new Float64Array(width);
  for (let i = 0; i < images.length; i++) {
    const slot = kind === "global" ? 0 : i % PIXELS_PER_IMAGE;
    const value = images[i] as number;
    sum[slot] = (sum[slot] as number) + value;
    sumSquares[slot] = (sumSquares[slot] as number) + value * value;
  }
  const samples = kind === "global" ? images.length : count;
  const mean = Array.from(sum, (s) => s / samples);
  const std = Array.from(sumSquares, (s, i) => {
    const m = mean[i] as number;
    const deviation = Math.sqrt(Math.max(s / samples - m * m, 0));
    return kind === "per_pixel" ? Math.max(deviation, PER_PIXEL_STD_FLOOR) : deviation;
  });
  return { kind, mean, std };
}

/** (x - mean) / std for one image or a batch of images laid end to end (raw 0-255 pixels in). */
export function standardize(pixels: ArrayLike<number>, normalization: Normalization): Float32Array {
  const out = new Float32Array(pixels.length);
  const perPixel = normalization.kind === "per_pixel";
  for (let i = 0; i < pixels.length; i++) {
    const slot = perPixel ? i % PIXELS_PER_IMAGE : 0;
    out[i] =
      ((pixels[i] as number) - (normalization.mean[slot] as number)) / (normalization.std[slot] as number);
  }
  return out;
}
