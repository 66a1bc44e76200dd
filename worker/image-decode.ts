// Decodes PNG, JPEG and WebP to one gray byte a pixel with the Squoosh codecs
// compiled to wasm (@jsquash: Rust png, mozjpeg, libwebp), behind the checks of
// image-formats.ts and a per-request budget of pixels and decode time.
// bench/image-decoders.ts measured them against the pure-JS decoders used before.
//
// Workers compile no wasm from bytes at run time, so the codecs are handed in
// as compiled modules: in workerd from imports the CompiledWasm rule turns into
// modules (image-wasm.ts), under Node from the files (worker/dev/codecs.ts).
import decodeJpegWasm, { init as initJpeg } from "@jsquash/jpeg/decode.js";
import decodePngWasm, { init as initPng } from "@jsquash/png/decode.js";
import decodeWebpWasm, { init as initWebp } from "@jsquash/webp/decode.js";
import { ApiError } from "./errors.ts";
import { type ImageLayout, inspectImage, undecodable } from "./image-formats.ts";

export interface CodecModules {
  jpeg: WebAssembly.Module;
  png: WebAssembly.Module;
  webp: WebAssembly.Module;
}

/** Decoded pixels (all images of one request together) a request may ask for. */
export const MAX_REQUEST_PIXELS = 4_200_000;
/** Decode time a request may spend; checked before each image after the first. */
export const MAX_REQUEST_DECODE_MS = 1000;
/** Input fed to the inflater at a time: no piece can inflate to more than ~1032x its size. */
const INFLATE_SLICE_BYTES = 2048;

export interface GrayImage {
  width: number;
  height: number;
  /** One byte a pixel, 0 = black. */
  gray: Uint8Array;
}

type EmscriptenInit = (module: WebAssembly.Module) => Promise<void>;

/** What the codecs answer (an ImageData where the platform has one; Workers have none). */
interface DecodedRgba {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export class ImageDecoder {
  private ready: Promise<CodecModules> | undefined;

  constructor(private readonly loadModules: () => Promise<CodecModules>) {}

  private modules(): Promise<CodecModules> {
    if (!this.ready) {
      this.ready = this.loadModules().then(async (modules) => {
        await this.instantiate(modules);
        return modules;
      });
      this.ready.catch(() => {
        this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** Fresh codec instances: after a decoder error its wasm heap may hold what it never freed. */
  private async instantiate(modules: CodecModules, kind?: "jpeg" | "webp"): Promise<void> {
    if (!kind || kind === "jpeg") await (initJpeg as unknown as EmscriptenInit)(modules.jpeg);
    if (!kind || kind === "webp") await (initWebp as unknown as EmscriptenInit)(modules.webp);
    if (!kind) await initPng(modules.png);
  }

  /**
   * Checks every image's structure and size, charges the request's pixel budget
   * for all of them, then decodes them in order within the time budget, handing
   * each to `convert` at once so no more than one decoded image is held at a time.
   */
  async decodeAll<T>(images: Uint8Array[], convert: (image: GrayImage, decodeMs: number) => T): Promise<T[]> {
    const layouts = images.map(inspectImage);
    const pixels = layouts.reduce((sum, { width, height }) => sum + width * height, 0);
    if (pixels > MAX_REQUEST_PIXELS) {
      throw new ApiError(
        413,
        "request_too_large",
        `the images of one request may have ${MAX_REQUEST_PIXELS} pixels in all`,
      );
    }
    const modules = await this.modules();
    const start = performance.now();
    const converted: T[] = [];
    for (const [i, layout] of layouts.entries()) {
      if (i > 0 && performance.now() - start > MAX_REQUEST_DECODE_MS) {
        throw new ApiError(
          422,
          "decode_time_exceeded",
          `decoding this request's images took over ${MAX_REQUEST_DECODE_MS} ms; send fewer or smaller images`,
        );
      }
      const imageStart = performance.now();
      const image = await this.decode(images[i] ?? new Uint8Array(), layout, modules);
      converted.push(convert(image, performance.now() - imageStart));
    }
    return converted;
  }

  private async decode(bytes: Uint8Array, layout: ImageLayout, modules: CodecModules): Promise<GrayImage> {
    let rgba: DecodedRgba;
    try {
      if (layout.png) {
        await checkInflatedSize(layout.png.idat, layout.png.inflatedBytes);
        rgba = await decodePngWasm(copyBuffer(layout.png.essential));
      } else {
        rgba = await (layout.kind === "jpeg" ? decodeJpegWasm : decodeWebpWasm)(copyBuffer(bytes));
      }
    } catch (error) {
      if (error instanceof ApiError) throw error;
      console.error(`${layout.kind} decoder failed:`, error);
      if (layout.kind !== "png") await this.instantiate(modules, layout.kind);
      throw undecodable();
    }
    // A decoder that answers another size than the header said is not trusted.
    if (rgba.width !== layout.width || rgba.height !== layout.height) throw undecodable();
    return { width: rgba.width, height: rgba.height, gray: rgbaToGray(rgba.data) };
  }
}

function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer;
}

/**
 * Inflates a PNG's IDAT stream without keeping it, stopping as soon as it
 * passes the size IHDR implies: a small file that inflates to gigabytes costs
 * at most a few MiB of output before it is refused; a short stream is truncated.
 */
export async function checkInflatedSize(idat: Uint8Array[], expectedBytes: number): Promise<void> {
  const inflater = new DecompressionStream("deflate");
  const writer = inflater.writable.getWriter();
  const reader = inflater.readable.getReader();
  let stopped = false;
  // The next piece is written only once the reader has drained all output and
  // waits: the platform's stream may inflate a written piece in full, at once,
  // whether or not anyone reads (workerd does), so it must not get ahead.
  let drained: () => void = () => undefined;
  const feeding = (async () => {
    for (const part of idat) {
      for (let offset = 0; offset < part.byteLength; offset += INFLATE_SLICE_BYTES) {
        const waiting = new Promise<void>((resolve) => {
          drained = resolve;
        });
        await writer.write(part.slice(offset, offset + INFLATE_SLICE_BYTES));
        await waiting;
        if (stopped) return;
      }
    }
    await writer.close();
  })();
  feeding.catch(() => undefined);
  let inflated = 0;
  try {
    for (;;) {
      const read = reader.read();
      // Queued output settles the read at once; a pending read means the queue is empty.
      const quick = await Promise.race([read, NOTHING_QUEUED]);
      let result: ReadableStreamReadResult<Uint8Array>;
      if (quick === "nothing queued") {
        drained();
        result = await read;
      } else {
        result = quick;
      }
      if (result.done) break;
      inflated += result.value.byteLength;
      if (inflated > expectedBytes) throw undecodable();
    }
    await feeding;
  } catch (error) {
    stopped = true;
    drained();
    reader.cancel().catch(() => undefined);
    writer.abort().catch(() => undefined);
    throw error instanceof ApiError ? error : undecodable();
  }
  if (inflated !== expectedBytes) throw undecodable();
}

const NOTHING_QUEUED = Promise.resolve("nothing queued" as const);

/**
 * Luma (0.299 R + 0.587 G + 0.114 B, in 16-bit fixed point) with transparent
 * pixels composited over white.
 */
export function rgbaToGray(rgba: Uint8ClampedArray | Uint8Array): Uint8Array {
  const gray = new Uint8Array(rgba.length >> 2);
  for (let i = 0, j = 0; i < gray.length; i++, j += 4) {
    const luma = (19595 * rgba[j]! + 38470 * rgba[j + 1]! + 7471 * rgba[j + 2]! + 32768) >> 16;
    const alpha = rgba[j + 3]!;
    gray[i] = alpha === 255 ? luma : ((luma * alpha + 255 * (255 - alpha) + 127) / 255) | 0;
  }
  return gray;
}
