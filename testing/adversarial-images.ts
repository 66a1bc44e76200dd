// The adversarial corpus of issue 13: every crafted body that once cost the
// worker seconds or hundreds of MiB, generated when asked (the bombs are small
// on the wire and never stored), with the answer the worker owes each one.
// Node only: used by test/worker/adversarial.test.ts and bench/worker-adversarial.ts.
import { constants, deflateRawSync, deflateSync } from "node:zlib";
import sharp from "sharp";

export interface AdversarialCase {
  name: string;
  /** What the issue found it cost before. */
  why: string;
  contentType: string;
  body: Uint8Array<ArrayBuffer>;
  /** The status the worker must answer. */
  status: number;
  /** The error code, for refusals. */
  code?: string;
}

const MiB = 1024 * 1024;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

const ascii = (text: string) => new TextEncoder().encode(text);

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const typed = concat([ascii(type), data]);
  return concat([u32(data.byteLength), typed, u32(crc32(typed))]);
}

const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number, depth = 8, colorType = 0): Uint8Array {
  return pngChunk("IHDR", concat([u32(width), u32(height), new Uint8Array([depth, colorType, 0, 0, 0])]));
}

/** Filtered scanlines of a gray 8-bit image: a zero filter byte before each row. */
function scanlines(width: number, height: number, value = 128): Uint8Array {
  const rows = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) rows.fill(value, y * (width + 1) + 1, (y + 1) * (width + 1));
  return rows;
}

/**
 * A zlib stream of `mebibytes` MiB of zeros built from one compressed MiB
 * repeated: each piece ends with a full flush, so it stands alone and pieces
 * can be chained. About 1 KiB a MiB, the most deflate allows.
 */
export function zeroBomb(mebibytes: number): Uint8Array {
  const piece = deflateRawSync(new Uint8Array(MiB), { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  const finalEmptyBlock = new Uint8Array([0x03, 0x00]);
  // Adler-32 of n zeros: a stays 1, b is n mod 65521.
  const adler = (((mebibytes * MiB) % 65521) * 65536 + 1) >>> 0;
  return concat([
    new Uint8Array([0x78, 0xda]),
    ...Array.from({ length: mebibytes }, () => piece),
    finalEmptyBlock,
    u32(adler),
  ]);
}

function png(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat([PNG_SIGNATURE, ...parts, pngChunk("IEND", new Uint8Array())]);
}

const small28 = () => pngChunk("IDAT", deflateSync(scanlines(28, 28)));

/** A JPEG whose last scan is repeated until it has `scans` scans. */
async function manyScanJpeg(scans: number): Promise<Uint8Array<ArrayBuffer>> {
  const source = new Uint8Array(
    await sharp({ create: { width: 64, height: 64, channels: 3, background: "#7a5" } })
      .jpeg({ progressive: true })
      .toBuffer(),
  );
  // The last SOS marker and its data run to EOI.
  let lastScan = -1;
  for (let i = 0; i + 1 < source.length; i++) {
    if (source[i] === 0xff && source[i + 1] === 0xda) lastScan = i;
  }
  const head = source.subarray(0, source.length - 2);
  const scan = source.subarray(lastScan, source.length - 2);
  const existing = Array.from(source.subarray(0, source.length - 1)).filter(
    (byte, i) => byte === 0xff && source[i + 1] === 0xda,
  ).length;
  return concat([
    head,
    ...Array.from({ length: scans - existing }, () => scan),
    new Uint8Array([0xff, 0xd9]),
  ]);
}

function webp(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat([ascii("WEBP"), ...chunks]);
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, body.byteLength, true);
  return concat([ascii("RIFF"), size, body]);
}

function riffChunk(type: string, data: Uint8Array): Uint8Array {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setUint32(0, data.byteLength, true);
  return concat([ascii(type), size, data, data.byteLength % 2 ? new Uint8Array(1) : new Uint8Array()]);
}

function multipart(boundary: string, parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat([
    ...parts.flatMap((part, i) => [
      ascii(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${i}.jpg"\r\n`),
      ascii("Content-Type: image/jpeg\r\n\r\n"),
      part,
      ascii("\r\n"),
    ]),
    ascii(`--${boundary}--\r\n`),
  ]);
}

/** Every case; the bombs are built here, in memory, each time. */
export async function adversarialCases(): Promise<AdversarialCase[]> {
  const photo: Uint8Array<ArrayBuffer> = new Uint8Array(
    await sharp({ create: { width: 1920, height: 1080, channels: 3, background: "#ddd" } })
      .jpeg({ quality: 60 })
      .toBuffer(),
  );
  const lossyWebp = new Uint8Array(
    await sharp({ create: { width: 28, height: 28, channels: 3, background: "#888" } })
      .webp()
      .toBuffer(),
  );
  const vp8 = lossyWebp.slice(12);
  const boundary = "adversarial";
  return [
    {
      name: "png-idat-bomb-1GiB",
      why: "a 28x28 PNG whose IDAT inflates to 1 GiB: 12.7 s, +3.8 GB",
      contentType: "image/png",
      body: png([ihdr(28, 28), pngChunk("IDAT", zeroBomb(1024))]),
      status: 400,
      code: "undecodable_image",
    },
    {
      name: "png-idat-bomb-64MiB",
      why: "40-64 KB of body already passed 128 MB",
      contentType: "image/png",
      body: png([ihdr(28, 28), pngChunk("IDAT", zeroBomb(64))]),
      status: 400,
      code: "undecodable_image",
    },
    {
      name: "png-second-ihdr",
      why: "28x28 header, then 16000x16000: decoded 256 MP (+401 MiB)",
      contentType: "image/png",
      body: png([ihdr(28, 28), ihdr(16000, 16000), pngChunk("IDAT", zeroBomb(240))]),
      status: 400,
      code: "undecodable_image",
    },
    {
      name: "png-iccp-bomb",
      why: "an unused colour profile inflating to 256 MiB (261 KB body): now skipped unread",
      contentType: "image/png",
      body: png([
        ihdr(28, 28),
        pngChunk("iCCP", concat([ascii("icc"), new Uint8Array([0, 0]), zeroBomb(256)])),
        small28(),
      ]),
      status: 200,
    },
    {
      name: "png-ztxt-itxt-bombs",
      why: "compressed text chunks inflating to 128 MiB each: skipped unread",
      contentType: "image/png",
      body: png([
        ihdr(28, 28),
        pngChunk("zTXt", concat([ascii("Comment"), new Uint8Array([0, 0]), zeroBomb(128)])),
        pngChunk("iTXt", concat([ascii("Comment"), new Uint8Array([0, 1, 0, 0, 0]), zeroBomb(128)])),
        small28(),
      ]),
      status: 200,
    },
    {
      name: "png-apng-frames",
      why: "APNG: the default image is decoded, the animation's frames are skipped",
      contentType: "image/png",
      body: png([
        ihdr(28, 28),
        pngChunk("acTL", concat([u32(2), u32(0)])),
        small28(),
        pngChunk("fdAT", concat([u32(1), zeroBomb(64)])),
      ]),
      status: 200,
    },
    {
      name: "png-header-dimension-bomb",
      why: "100000x100000 declared in IHDR",
      contentType: "image/png",
      body: png([ihdr(100_000, 100_000), small28()]),
      status: 413,
      code: "image_too_large",
    },
    {
      name: "png-short-idat",
      why: "IDAT holding fewer rows than IHDR declares",
      contentType: "image/png",
      body: png([ihdr(28, 2000), small28()]),
      status: 400,
      code: "undecodable_image",
    },
    {
      name: "jpeg-many-scans",
      why: "progressive scans without bound: 1.2 MB took 7.5 s (/health stalled)",
      contentType: "image/jpeg",
      body: await manyScanJpeg(5000),
      status: 422,
      code: "image_too_complex",
    },
    {
      name: "jpeg-header-dimension-bomb",
      why: "65535x65535 declared in SOF",
      contentType: "image/jpeg",
      body: (() => {
        const bytes = photo.slice();
        for (let i = 0; i + 8 < bytes.length; i++) {
          if (bytes[i] === 0xff && bytes[i + 1] === 0xc0) {
            bytes.set([0xff, 0xff, 0xff, 0xff], i + 5);
            break;
          }
        }
        return bytes;
      })(),
      status: 413,
      code: "image_too_large",
    },
    {
      name: "batch-32-photos",
      why: "32 legitimate 2 MP JPEGs in one request: seconds of synchronous work",
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: multipart(
        boundary,
        Array.from({ length: 32 }, () => photo),
      ),
      status: 413,
      code: "request_too_large",
    },
    {
      name: "batch-33-images",
      why: "one image over the batch limit",
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: multipart(
        boundary,
        Array.from({ length: 33 }, () => lossyWebp),
      ),
      status: 413,
      code: "too_many_images",
    },
    {
      name: "webp-canvas-mismatch",
      why: "VP8X canvas 28x28 around a 16383x16383 bitstream",
      contentType: "image/webp",
      body: webp([
        riffChunk("VP8X", new Uint8Array([0, 0, 0, 0, 27, 0, 0, 27, 0, 0])),
        (() => {
          const chunk = vp8.slice();
          new DataView(chunk.buffer).setUint16(8 + 6, 16383, true);
          new DataView(chunk.buffer).setUint16(8 + 8, 16383, true);
          return chunk;
        })(),
      ]),
      status: 413,
      code: "image_too_large",
    },
    {
      name: "webp-animated",
      why: "animated WebP: refused, not decoded frame by frame",
      contentType: "image/webp",
      body: webp([
        riffChunk("VP8X", new Uint8Array([0x02, 0, 0, 0, 27, 0, 0, 27, 0, 0])),
        riffChunk("ANIM", new Uint8Array(6)),
      ]),
      status: 415,
      code: "unsupported_media_type",
    },
    {
      name: "json-huge-key",
      why: "a 4 MB JSON key came back as a 4 MB error",
      contentType: "application/json",
      body: ascii(JSON.stringify({ ["k".repeat(4_000_000)]: 1 })),
      status: 400,
      code: "invalid_body",
    },
    {
      name: "json-deep-nesting",
      why: "4 MB of nested arrays",
      contentType: "application/json",
      body: ascii(`{"pixels":${"[".repeat(2_000_000)}${"]".repeat(2_000_000)}}`),
      status: 400,
    },
    {
      name: "multipart-unterminated",
      why: "a part that never ends",
      contentType: `multipart/form-data; boundary=${boundary}`,
      body: concat([ascii(`--${boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n`), photo]),
      status: 400,
      code: "bad_request",
    },
  ];
}

export interface CaseAnswer {
  status: number;
  code?: string;
  /** Round trip, client side, over loopback. */
  ms: number;
}

/** Posts one case to a running worker's /v1/predict. */
export async function postCase(url: string, crafted: AdversarialCase): Promise<CaseAnswer> {
  const start = performance.now();
  const response = await fetch(`${url}/v1/predict`, {
    method: "POST",
    body: crafted.body,
    headers: { "content-type": crafted.contentType },
  });
  const text = await response.text();
  const ms = performance.now() - start;
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code, ms };
}
