// Turns a decoded photo of any size into what the model was trained on: 28x28
// gray, a light object on black, made the way Fashion-MNIST was made from
// Zalando's product photos (SPEC.md, last section):
// 1. The background is the colour of the corners (the median of four 3x3 corner
//    patches); the edges close to it are trimmed away.
// 2. What is left is centred on a square of the background colour and
//    area-averaged to 28x28: the longest side becomes 28 pixels.
// 3. On a light background (> 127.5) the intensities are negated, so a product
//    on white becomes a light object on black.
// 4. The contrast is stretched: the background becomes 0 and the brightest pixel 255.
// JSON pixels skip all of this: they are taken to be Fashion-MNIST-style already.
// Decoding (PNG, JPEG, WebP to gray, alpha over white) is image-decode.ts;
// standardization with the manifest's statistics is contracts/normalization.ts.

import { IMAGE_SIZE, PIXELS_PER_IMAGE } from "../contracts/image.ts";
import type { GrayImage } from "./image-decode.ts";

/**
 * How far from the corner colour a pixel must be to count as the object when
 * trimming: a share of the largest difference in the image, and at least a
 * floor above JPEG noise on a flat background.
 */
const TRIM_SHARE = 0.05;
const TRIM_FLOOR = 8;
/** Below this range (0-255) an image is flat: no contrast to stretch. */
const MIN_STRETCH_RANGE = 16;

/** The corner colour: median of the means of the four 3x3 corner patches. */
export function cornerBackground({ width, height, gray }: GrayImage): number {
  const patch = (x0: number, y0: number) => {
    let sum = 0;
    let count = 0;
    for (let y = y0; y < Math.min(height, y0 + 3); y++) {
      for (let x = x0; x < Math.min(width, x0 + 3); x++) {
        sum += gray[y * width + x] ?? 0;
        count++;
      }
    }
    return sum / count;
  };
  const [, b = 0, c = 0] = [
    patch(0, 0),
    patch(Math.max(0, width - 3), 0),
    patch(0, Math.max(0, height - 3)),
    patch(Math.max(0, width - 3), Math.max(0, height - 3)),
  ].sort((p, q) => p - q);
  return (b + c) / 2;
}

/** The smallest box holding every pixel far enough from the background; the whole image when none is. */
export function trimBox(
  { width, height, gray }: GrayImage,
  background: number,
): { x: number; y: number; width: number; height: number } {
  let largest = 0;
  for (let i = 0; i < gray.length; i++) largest = Math.max(largest, Math.abs((gray[i] ?? 0) - background));
  const threshold = Math.max(TRIM_FLOOR, TRIM_SHARE * largest);
  let [left, top, right, bottom] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (Math.abs((gray[y * width + x] ?? 0) - background) <= threshold) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  if (right < 0) return { x: 0, y: 0, width, height };
  return { x: left, y: top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * For each output cell along one axis, the source pixels it covers and by how
 * much, for a source of `length` pixels centred on a padded square of `side`.
 * The padding before the object is a whole number of cells, rounded up as in
 * Fashion-MNIST (an 11-pixel-wide object gets 9 columns left, 8 right), so a
 * 28x28 image is never shifted by a fraction of a pixel and blurred.
 */
function axisWeights(length: number, side: number): { first: number; weights: number[]; covered: number }[] {
  const scale = side / IMAGE_SIZE;
  const padding = Math.ceil((IMAGE_SIZE - Math.round(length / scale)) / 2) * scale;
  return Array.from({ length: IMAGE_SIZE }, (_, cell) => {
    const start = cell * scale - padding;
    const end = start + scale;
    const first = Math.max(0, Math.floor(start));
    const last = Math.min(length, Math.ceil(end));
    const weights: number[] = [];
    let covered = 0;
    for (let p = first; p < last; p++) {
      const w = Math.min(end, p + 1) - Math.max(start, p);
      weights.push(w);
      covered += w;
    }
    return { first, weights, covered };
  });
}

/** The rule in the file header: trim, centre on a square, area-resample to 28x28, negate, stretch. */
export function toModelPixels(image: GrayImage): Float32Array {
  const background = cornerBackground(image);
  const box = trimBox(image, background);
  const side = Math.max(box.width, box.height);
  const area = (side / IMAGE_SIZE) ** 2;
  const columns = axisWeights(box.width, side);
  const rows = axisWeights(box.height, side);
  // Horizontal pass: every source row of the box reduced to 28 weighted sums.
  const rowSums = new Float64Array(box.height * IMAGE_SIZE);
  for (let y = 0; y < box.height; y++) {
    const rowStart = (box.y + y) * image.width + box.x;
    for (let cx = 0; cx < IMAGE_SIZE; cx++) {
      const column = columns[cx];
      if (!column) continue;
      let sum = 0;
      for (let k = 0; k < column.weights.length; k++) {
        sum += (column.weights[k] ?? 0) * (image.gray[rowStart + column.first + k] ?? 0);
      }
      rowSums[y * IMAGE_SIZE + cx] = sum;
    }
  }
  const negate = background > 127.5;
  const pixels = new Float32Array(PIXELS_PER_IMAGE);
  let brightest = 0;
  for (let cy = 0; cy < IMAGE_SIZE; cy++) {
    const row = rows[cy];
    if (!row) continue;
    for (let cx = 0; cx < IMAGE_SIZE; cx++) {
      const column = columns[cx];
      if (!column) continue;
      let sum = 0;
      for (let k = 0; k < row.weights.length; k++) {
        sum += (row.weights[k] ?? 0) * (rowSums[(row.first + k) * IMAGE_SIZE + cx] ?? 0);
      }
      // The part of the cell that falls in the padding takes the background value.
      const value = (sum + background * (area - row.covered * column.covered)) / area;
      const oriented = negate ? 255 - value : value;
      pixels[cy * IMAGE_SIZE + cx] = oriented;
      brightest = Math.max(brightest, oriented);
    }
  }
  const floor = negate ? 255 - background : background;
  const range = brightest - floor;
  if (range < MIN_STRETCH_RANGE) return pixels.map((v) => Math.min(255, Math.max(0, v - floor)));
  return pixels.map((v) => Math.min(255, Math.max(0, ((v - floor) * 255) / range)));
}
