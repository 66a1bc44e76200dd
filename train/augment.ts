/**
 * Batch augmentation with TensorFlow ops, before the z-score: a random shift (pad, then crop back
 * to 28x28) and a horizontal flip in one CropAndResize call (a box with x1 > x2 samples mirrored),
 * then a per-image gain and offset (contrast and brightness, as the grey backgrounds and uneven
 * exposure of photos that reach the worker), an occasional inversion (a photo whose polarity the
 * worker's border rule gets wrong), a clip to [0, 255], and the run's normalization.
 *
 * The per-image draws come from a JavaScript RNG seeded by (seed, epoch, batch), so a resumed
 * epoch replays its augmentation as it replays its shuffle and dropout masks.
 */
import { createRng } from "../data/dataset.ts";
import * as tf from "./tf.ts";

export interface AugmentSettings {
  /** Largest shift in pixels, each axis (0 = none). */
  aug_shift: number;
  /** Probability of a horizontal flip. */
  aug_flip: number;
  /** Brightness offset drawn from [-x, x] of full scale (255). */
  aug_brightness: number;
  /** Contrast gain drawn from [1 - x, 1 + x]. */
  aug_contrast: number;
  /** Probability of inverting the image (255 - x). */
  aug_invert: number;
}

export function augmentationEnabled(s: AugmentSettings): boolean {
  return s.aug_shift > 0 || s.aug_flip > 0 || s.aug_brightness > 0 || s.aug_contrast > 0 || s.aug_invert > 0;
}

/** The per-image draws of one batch: crop boxes (normalized to the padded image) and y = clip(scale x + shift). */
export interface AugmentDraws {
  boxes: Float32Array;
  scale: Float32Array;
  shift: Float32Array;
}

export function drawAugmentation(
  settings: AugmentSettings,
  count: number,
  size: number,
  seeds: readonly number[],
): AugmentDraws {
  const rng = createRng(
    (seeds.reduce((h, s) => Math.imul(h ^ s, 0x9e3779b1) >>> 0, 0x85ebca6b) ^ 0x27d4eb2f) >>> 0,
  );
  const pad = settings.aug_shift;
  const padded = size + 2 * pad;
  const last = padded - 1;
  const boxes = new Float32Array(count * 4);
  const scale = new Float32Array(count);
  const shift = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const dy = Math.floor(rng() * (2 * pad + 1));
    const dx = Math.floor(rng() * (2 * pad + 1));
    const flip = rng() < settings.aug_flip;
    const gain = 1 + (2 * rng() - 1) * settings.aug_contrast;
    const offset = (2 * rng() - 1) * settings.aug_brightness * 255;
    const invert = rng() < settings.aug_invert;
    // Box corners on the padded image's pixel grid: sample points land exactly on pixels.
    const left = dx / last;
    const right = (dx + size - 1) / last;
    boxes.set([dy / last, flip ? right : left, (dy + size - 1) / last, flip ? left : right], i * 4);
    // 255 - clip(g x + o) = clip(-g x + 255 - o): inversion folds into the same affine step.
    scale[i] = invert ? -gain : gain;
    shift[i] = invert ? 255 - offset : offset;
  }
  return { boxes, scale, shift };
}

/**
 * `pixels`: [batch, H, W, 1] raw intensities (0-255). Returns the augmented batch z-scored with
 * `mean` and `std` (scalars or [H, W, 1]).
 */
export function augmentBatch(
  pixels: tf.Tensor4D,
  draws: AugmentDraws,
  pad: number,
  mean: tf.Tensor,
  std: tf.Tensor,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [count, height, width] = pixels.shape;
    const padded =
      pad > 0
        ? tf.pad(pixels, [
            [0, 0],
            [pad, pad],
            [pad, pad],
            [0, 0],
          ])
        : pixels;
    const boxes = tf.tensor2d(draws.boxes, [count, 4]);
    const boxIndex = tf.range(0, count, 1, "int32") as tf.Tensor1D;
    const moved = tf.image.cropAndResize(padded, boxes, boxIndex, [height, width], "bilinear");
    const scale = tf.tensor4d(draws.scale, [count, 1, 1, 1]);
    const shift = tf.tensor4d(draws.shift, [count, 1, 1, 1]);
    const jittered = tf.clipByValue(moved.mul(scale).add(shift), 0, 255);
    return jittered.sub(mean).div(std) as tf.Tensor4D;
  });
}
