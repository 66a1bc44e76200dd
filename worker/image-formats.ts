// Reads an uploaded image's structure before any pixel is decoded: which format
// it is, its size, and whether its layout stays inside what a decoder may be
// asked to do. Everything here is a linear walk over the bytes; nothing inflates
// or allocates in proportion to what a header claims.
import { ApiError } from "./errors.ts";

export type ImageKind = "png" | "jpeg" | "webp";

/** Largest accepted width or height. */
export const MAX_IMAGE_SIDE = 4096;
/**
 * Largest accepted pixel count of one image (1920x1080 fits). The wasm decoders
 * keep their linear memory at its high-water mark, about 10 bytes a pixel for
 * the largest accepted image, beside onnxruntime's ~33 MiB in a 128 MB isolate.
 */
export const MAX_IMAGE_PIXELS = 2_100_000;
/**
 * Most scans a JPEG may have. libjpeg's progressive script writes 10 (6 for
 * gray), mozjpeg's up to about 12; each scan is a pass over the whole image.
 */
export const MAX_JPEG_SCANS = 24;

export interface ImageLayout {
  kind: ImageKind;
  width: number;
  height: number;
  /** PNG only: the chunks a decoder needs, the first IHDR alone, and the inflated size IHDR implies. */
  png?: PngLayout;
}

export interface PngLayout {
  /** Signature, IHDR, PLTE, tRNS, the IDAT chunks and IEND, byte for byte; every ancillary chunk dropped. */
  essential: Uint8Array;
  /** The zlib stream spread over the IDAT chunks. */
  idat: Uint8Array[];
  /** Exactly how many bytes that stream must inflate to, filter bytes included. */
  inflatedBytes: number;
}

export const undecodable = () => new ApiError(400, "undecodable_image", "the image could not be decoded");
export const unsupported = (what: string) =>
  new ApiError(415, "unsupported_media_type", `${what} is not accepted; send PNG, JPEG or WebP`);

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the first bytes, whatever the request claimed. */
export function sniffImageKind(bytes: Uint8Array): ImageKind | undefined {
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") return "webp";
  return undefined;
}

function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

/** Refuses sizes over the limits. */
export function checkImageSize(width: number, height: number): void {
  if (width === 0 || height === 0) throw undecodable();
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new ApiError(
      413,
      "image_too_large",
      `an image is over ${MAX_IMAGE_SIDE} pixels a side or ${MAX_IMAGE_PIXELS} pixels in all`,
    );
  }
}

/** Format, size and (PNG) the chunks to decode; refuses what no decoder should be handed. */
export function inspectImage(bytes: Uint8Array): ImageLayout {
  const kind = sniffImageKind(bytes);
  if (!kind) throw unsupported("this format");
  const layout =
    kind === "png" ? inspectPng(bytes) : kind === "jpeg" ? inspectJpeg(bytes) : inspectWebp(bytes);
  checkImageSize(layout.width, layout.height);
  return layout;
}

const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS_BY_COLOR_TYPE: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Adam7: x and y start and step of each of the seven passes. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Bytes of filtered scanlines a PNG of this header inflates to. */
export function pngInflatedBytes(
  width: number,
  height: number,
  bitsPerPixel: number,
  interlaced: boolean,
): number {
  const bytesFor = (w: number, h: number) =>
    w === 0 || h === 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  if (!interlaced) return bytesFor(width, height);
  return ADAM7.reduce(
    (sum, [x0, y0, dx, dy]) => sum + bytesFor(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)),
    0,
  );
}

/** Chunks a decoder needs; every other ancillary chunk (iCCP, zTXt, iTXt, APNG's acTL/fcTL/fdAT...) is skipped unread. */
const KEPT_PNG_CHUNKS = new Set(["IHDR", "PLTE", "tRNS", "IDAT", "IEND"]);

function inspectPng(bytes: Uint8Array): ImageLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  const idat: Uint8Array[] = [];
  let header: { width: number; height: number; bitsPerPixel: number; interlaced: boolean } | undefined;
  let idatEnded = false;
  let ended = false;
  let offset = 8;
  while (!ended) {
    if (offset + 12 > bytes.byteLength) throw undecodable();
    const length = view.getUint32(offset);
    const type = ascii(bytes, offset + 4, 4);
    const end = offset + 12 + length;
    if (end > bytes.byteLength) throw undecodable();
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (!header && type !== "IHDR") throw undecodable();
    if (type === "IHDR") {
      // The size check and the decoder must read the same, single header.
      if (header || length !== 13) throw undecodable();
      const width = view.getUint32(offset + 8);
      const height = view.getUint32(offset + 12);
      const [depth = 0, colorType = 0, compression, filter, interlace = 0] = data.subarray(8, 13);
      const channels = CHANNELS_BY_COLOR_TYPE[colorType];
      if (!channels || !DEPTHS_BY_COLOR_TYPE[colorType]?.includes(depth)) throw undecodable();
      if (compression !== 0 || filter !== 0 || interlace > 1) throw undecodable();
      checkImageSize(width, height);
      header = { width, height, bitsPerPixel: channels * depth, interlaced: interlace === 1 };
    } else if (type === "IDAT") {
      // The image data is one run of IDAT chunks.
      if (idatEnded) throw undecodable();
      idat.push(data);
    } else if (idat.length > 0) {
      idatEnded = true;
    }
    // An unknown critical chunk (upper-case first letter) means the file cannot be read correctly.
    const critical = (bytes[offset + 4] ?? 0) < 0x61;
    if (critical && !KEPT_PNG_CHUNKS.has(type)) throw undecodable();
    if (KEPT_PNG_CHUNKS.has(type)) kept.push(bytes.subarray(offset, end));
    ended = type === "IEND";
    offset = end;
  }
  if (!header || idat.length === 0) throw undecodable();
  const essential = new Uint8Array(kept.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of kept) {
    essential.set(part, at);
    at += part.byteLength;
  }
  return {
    kind: "png",
    width: header.width,
    height: header.height,
    png: {
      essential,
      idat,
      inflatedBytes: pngInflatedBytes(header.width, header.height, header.bitsPerPixel, header.interlaced),
    },
  };
}

/** Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
const isFrameMarker = (marker: number) =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * Walks every marker up to EOI, through the entropy-coded data of each scan:
 * one frame, at most MAX_JPEG_SCANS scans, and the end of the image present
 * (a truncated upload is refused rather than decoded into gray).
 */
function inspectJpeg(bytes: Uint8Array): ImageLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let size: { width: number; height: number } | undefined;
  let scans = 0;
  let offset = 2;
  for (;;) {
    if (offset + 2 > bytes.byteLength || bytes[offset] !== 0xff) throw undecodable();
    const marker = bytes[offset + 1] ?? 0;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) break;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) throw undecodable(); // no standalone markers here
    if (offset + 4 > bytes.byteLength) throw undecodable();
    const length = view.getUint16(offset + 2);
    const end = offset + 2 + length;
    if (length < 2 || end > bytes.byteLength) throw undecodable();
    if (isFrameMarker(marker)) {
      // Hierarchical files have several frames; none is accepted.
      if (size || length < 8) throw undecodable();
      size = { height: view.getUint16(offset + 5), width: view.getUint16(offset + 7) };
      checkImageSize(size.width, size.height);
    }
    offset = end;
    if (marker === 0xda) {
      if (!size) throw undecodable();
      scans += 1;
      if (scans > MAX_JPEG_SCANS) {
        throw new ApiError(422, "image_too_complex", `a JPEG has more than ${MAX_JPEG_SCANS} scans`);
      }
      // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00 nor a restart.
      for (;;) {
        offset = bytes.indexOf(0xff, offset);
        if (offset < 0 || offset + 1 >= bytes.byteLength) throw undecodable();
        const next = bytes[offset + 1] ?? 0;
        if (next !== 0 && !(next >= 0xd0 && next <= 0xd7) && next !== 0xff) break;
        offset += 1;
      }
    }
  }
  if (!size || scans === 0) throw undecodable();
  return { kind: "jpeg", ...size };
}

/**
 * RIFF container: the size from VP8X's canvas and from the VP8/VP8L bitstream
 * header, which must agree. Animated WebP is refused (415).
 */
function inspectWebp(bytes: Uint8Array): ImageLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let canvas: { width: number; height: number } | undefined;
  let offset = 12;
  while (offset + 8 <= bytes.byteLength) {
    const type = ascii(bytes, offset, 4);
    const length = view.getUint32(offset + 4, true);
    const data = offset + 8;
    if (data + length > bytes.byteLength) throw undecodable();
    let frame: { width: number; height: number } | undefined;
    if (type === "VP8X") {
      if (length < 10) throw undecodable();
      if ((bytes[data] ?? 0) & 0x02) throw unsupported("animated WebP");
      const read24 = (at: number) =>
        (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16);
      canvas = { width: read24(data + 4) + 1, height: read24(data + 7) + 1 };
      checkImageSize(canvas.width, canvas.height);
    } else if (type === "ANIM" || type === "ANMF") {
      throw unsupported("animated WebP");
    } else if (type === "VP8 ") {
      // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
      if (length < 10 || bytes[data + 3] !== 0x9d || bytes[data + 4] !== 0x01 || bytes[data + 5] !== 0x2a) {
        throw undecodable();
      }
      frame = {
        width: view.getUint16(data + 6, true) & 0x3fff,
        height: view.getUint16(data + 8, true) & 0x3fff,
      };
    } else if (type === "VP8L") {
      if (length < 5 || bytes[data] !== 0x2f) throw undecodable();
      const bits = view.getUint32(data + 1, true);
      frame = { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (frame) {
      checkImageSize(frame.width, frame.height);
      if (canvas && (canvas.width !== frame.width || canvas.height !== frame.height)) throw undecodable();
      return { kind: "webp", ...frame };
    }
    offset = data + length + (length & 1);
  }
  throw undecodable();
}
