// Turns an uploaded PNG or JPEG of any size and colour into what the model was
// trained on: 28x28 grayscale, light object on a dark background, 0-255.
//
// The rule, in order:
// 1. Transparent pixels are composited over white (how a page shows them).
// 2. Colour becomes luma: 0.299 R + 0.587 G + 0.114 B.
// 3. The background is the mean of the image's outermost ring of pixels. The
//    image is padded to a square with that value (centred), then area-averaged
//    down (or up) to 28x28, as Fashion-MNIST fits the longer side to 28.
// 4. When that border mean is light (> 127.5) the image is inverted, so a
//    product photo on white becomes a light object on black.
// JSON pixels skip all of this: they are taken to be Fashion-MNIST-style already.

import { decode as decodePng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import { IMAGE_SIZE, PIXELS_PER_IMAGE } from "../contracts/image.ts";
import { ApiError } from "./errors.ts";

/** Largest accepted width or height, read from the header before decoding. */
export const MAX_IMAGE_SIDE = 4096;
/**
 * Largest accepted pixel count. jpeg-js peaks at roughly 25 bytes a pixel while
 * it decodes (measured under Node: +103 MB RSS for a 4 MP JPEG), and the
 * isolate's 128 MB also holds ORT's ~40 MB wasm heap: 3 MP leaves headroom.
 * The page and the CLI shrink images before sending them.
 */
export const MAX_IMAGE_PIXELS = 3_000_000;

export type ImageKind = "png" | "jpeg";

export interface GrayImage {
  width: number;
  height: number;
  /** One byte a pixel, 0 = black. */
  gray: Uint8Array;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the first bytes, whatever the request claimed. */
export function sniffImageKind(bytes: Uint8Array): ImageKind | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return undefined;
}

const undecodable = (why: string) =>
  new ApiError(400, "undecodable_image", `the image could not be decoded: ${why}`);

/** Width and height from the PNG IHDR chunk or the JPEG start-of-frame marker. */
export function readImageSize(bytes: Uint8Array, kind: ImageKind): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (kind === "png") {
    if (bytes.byteLength < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") {
      throw undecodable("no PNG header chunk");
    }
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  // Walk the JPEG markers up to the first SOFn (C0-CF except DHT C4, JPG C8, DAC CC).
  let offset = 2;
  while (offset + 9 <= bytes.byteLength) {
    if (bytes[offset] !== 0xff) throw undecodable("corrupt JPEG marker");
    const marker = bytes[offset + 1] ?? 0;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) return { height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
    if (marker === 0xd9 || marker === 0xda) break; // end of image or start of scan before any frame
    offset += 2 + view.getUint16(offset + 2);
  }
  throw undecodable("no JPEG frame header");
}

/** Refuses images over the limits from their header, before any pixel is decoded. */
export function checkImageSize(width: number, height: number): void {
  if (width === 0 || height === 0) throw undecodable("zero width or height");
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new ApiError(
      413,
      "image_too_large",
      `image is ${width}x${height}; the limit is ${MAX_IMAGE_SIDE} a side and ${MAX_IMAGE_PIXELS} pixels`,
    );
  }
}

/** Decodes a PNG or JPEG to one gray byte a pixel (alpha over white). */
export function decodeToGray(bytes: Uint8Array): GrayImage {
  const kind = sniffImageKind(bytes);
  if (!kind) throw new ApiError(415, "unsupported_media_type", "only PNG and JPEG images are accepted");
  const { width, height } = readImageSize(bytes, kind);
  checkImageSize(width, height);
  try {
    return kind === "png" ? pngToGray(bytes) : jpegToGray(bytes);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw undecodable(error instanceof Error ? error.message : String(error));
  }
}

function jpegToGray(bytes: Uint8Array): GrayImage {
  const { width, height, data } = decodeJpeg(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
    maxMemoryUsageInMB: 80,
  });
  const gray = new Uint8Array(width * height);
  for (let i = 0, j = 0; i < gray.length; i++, j += 3) {
    gray[i] = Math.round(0.299 * (data[j] ?? 0) + 0.587 * (data[j + 1] ?? 0) + 0.114 * (data[j + 2] ?? 0));
  }
  return { width, height, gray };
}

function pngToGray(bytes: Uint8Array): GrayImage {
  const png = decodePng(bytes);
  const { width, height, data, depth, palette, channels } = png;
  if (depth === 8 && !palette) return { width, height, gray: eightBitToGray(data, width * height, channels) };
  const maxValue = 2 ** depth - 1;
  // Rows of sub-byte samples are packed and padded to whole bytes.
  const samplesPerRow = width * channels;
  const bytesPerRow = Math.ceil((samplesPerRow * depth) / 8);
  const sample = (row: number, index: number): number => {
    if (depth >= 8) return data[row * samplesPerRow + index] ?? 0;
    const bit = index * depth;
    const byte = data[row * bytesPerRow + (bit >> 3)] ?? 0;
    return (byte >> (8 - depth - (bit & 7))) & maxValue;
  };
  const gray = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let luma: number;
      let alpha = 1;
      if (palette) {
        const entry = palette[sample(y, x)] ?? [0, 0, 0];
        luma = 0.299 * (entry[0] ?? 0) + 0.587 * (entry[1] ?? 0) + 0.114 * (entry[2] ?? 0);
        if (entry.length > 3) alpha = (entry[3] ?? 255) / 255;
      } else {
        const base = x * channels;
        const scale = 255 / maxValue;
        if (channels >= 3) {
          luma =
            (0.299 * sample(y, base) + 0.587 * sample(y, base + 1) + 0.114 * sample(y, base + 2)) * scale;
        } else {
          luma = sample(y, base) * scale;
        }
        if (channels === 2 || channels === 4) alpha = sample(y, base + channels - 1) / maxValue;
      }
      gray[y * width + x] = Math.round(luma * alpha + 255 * (1 - alpha));
    }
  }
  return { width, height, gray };
}

/** The common case (8-bit gray, gray+alpha, RGB, RGBA) in one tight loop per layout. */
function eightBitToGray(data: ArrayLike<number>, pixels: number, channels: number): Uint8Array {
  const gray = new Uint8Array(pixels);
  const d = data as Uint8Array;
  if (channels === 1) {
    gray.set(d.subarray(0, pixels));
  } else if (channels === 2) {
    for (let i = 0, j = 0; i < pixels; i++, j += 2) {
      const alpha = (d[j + 1] ?? 255) / 255;
      gray[i] = Math.round((d[j] ?? 0) * alpha + 255 * (1 - alpha));
    }
  } else {
    for (let i = 0, j = 0; i < pixels; i++, j += channels) {
      const luma = 0.299 * (d[j] ?? 0) + 0.587 * (d[j + 1] ?? 0) + 0.114 * (d[j + 2] ?? 0);
      const alpha = channels === 4 ? (d[j + 3] ?? 255) / 255 : 1;
      gray[i] = Math.round(luma * alpha + 255 * (1 - alpha));
    }
  }
  return gray;
}

/** Mean of the outermost ring of pixels: the image's background. */
export function borderMean({ width, height, gray }: GrayImage): number {
  let sum = 0;
  let count = 0;
  for (let x = 0; x < width; x++) {
    sum += (gray[x] ?? 0) + (gray[(height - 1) * width + x] ?? 0);
    count += 2;
  }
  for (let y = 1; y < height - 1; y++) {
    sum += (gray[y * width] ?? 0) + (gray[y * width + width - 1] ?? 0);
    count += 2;
  }
  return sum / count;
}

/**
 * For each output cell along one axis, the source pixels it covers and by how
 * much, for a source of `length` pixels centred on a padded square of `side`.
 */
function axisWeights(length: number, side: number): { first: number; weights: number[]; covered: number }[] {
  const scale = side / IMAGE_SIZE;
  const padding = (side - length) / 2;
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

/** The rule in the file header: pad to square, area-resample to 28x28, invert on a light border. */
export function toModelPixels(image: GrayImage): Float32Array {
  const { width, height, gray } = image;
  const background = borderMean(image);
  const side = Math.max(width, height);
  const area = (side / IMAGE_SIZE) ** 2;
  const columns = axisWeights(width, side);
  const rows = axisWeights(height, side);
  // Horizontal pass: every source row reduced to 28 weighted sums.
  const rowSums = new Float64Array(height * IMAGE_SIZE);
  for (let y = 0; y < height; y++) {
    const rowStart = y * width;
    for (let cx = 0; cx < IMAGE_SIZE; cx++) {
      const column = columns[cx];
      if (!column) continue;
      let sum = 0;
      for (let k = 0; k < column.weights.length; k++) {
        sum += (column.weights[k] ?? 0) * (gray[rowStart + column.first + k] ?? 0);
      }
      rowSums[y * IMAGE_SIZE + cx] = sum;
    }
  }
  const invert = background > 127.5;
  const pixels = new Float32Array(PIXELS_PER_IMAGE);
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
      pixels[cy * IMAGE_SIZE + cx] = invert ? 255 - value : value;
    }
  }
  return pixels;
}
