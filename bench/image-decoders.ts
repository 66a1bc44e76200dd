// Decode speed of the worker's image path (worker/image-decode.ts: structure
// checks, bounded inflate for PNG, the Squoosh wasm codecs, gray conversion)
// against the pure-JS decoders it replaced (fast-png, jpeg-js), on the same
// photo-like images in one run, under Node. Writes bench/results/image-decoders.json.
import { mkdir, writeFile } from "node:fs/promises";
import { decode as decodePngJs } from "fast-png";
import { decode as decodeJpegJs } from "jpeg-js";
import sharp, { type Sharp } from "sharp";
import { acceptNoFlagsOrExit } from "../cli/args.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";
import { nodeCodecModules } from "../worker/dev/codecs.ts";
import { ImageDecoder } from "../worker/image-decode.ts";
import { machineContext } from "./machine.ts";

acceptNoFlagsOrExit(
  "npm run bench:decoders",
  "decode speed of the worker's image path against the pure-JS decoders; writes bench/results/image-decoders.json.",
  process.argv.slice(2),
);

const REPEATS = 7;
const SIZES: [number, number][] = [
  [512, 512],
  [1024, 1024],
  [1920, 1080],
];

/** A garment from the test set, dark on a tinted light ground, upscaled, as a catalog photo would be. */
async function photo(pixels: Uint8Array, width: number, height: number): Promise<Sharp> {
  const side = Math.round(Math.min(width, height) * 0.8);
  const garment = await sharp(Buffer.from(pixels.map((v) => 255 - v)), {
    raw: { width: 28, height: 28, channels: 1 },
  })
    .resize(side, side, { kernel: "lanczos3" })
    .tint("#c8b8a0")
    .png()
    .toBuffer();
  const canvas = sharp({ create: { width, height, channels: 3, background: "#f2eee6" } }).composite([
    { input: garment, blend: "multiply" },
  ]);
  return sharp(await canvas.png().toBuffer());
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function time(run: () => unknown): Promise<number> {
  await run();
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return Math.round(median(samples) * 100) / 100;
}

const { test } = await loadFashionMnist({ log: () => {} });
const decoder = new ImageDecoder(nodeCodecModules);
const rows: Record<string, unknown>[] = [];
for (const [width, height] of SIZES) {
  const source = await photo(test.images.subarray(0, 784), width, height);
  const formats: [string, Uint8Array, ((bytes: Uint8Array) => unknown) | undefined][] = [
    ["png", new Uint8Array(await source.clone().png().toBuffer()), (b) => decodePngJs(b)],
    [
      "jpeg q85",
      new Uint8Array(await source.clone().jpeg({ quality: 85 }).toBuffer()),
      (b) => decodeJpegJs(b, { useTArray: true, formatAsRGBA: false }),
    ],
    [
      "jpeg q85 progressive",
      new Uint8Array(await source.clone().jpeg({ quality: 85, progressive: true }).toBuffer()),
      (b) => decodeJpegJs(b, { useTArray: true, formatAsRGBA: false }),
    ],
    ["webp q80", new Uint8Array(await source.clone().webp({ quality: 80 }).toBuffer()), undefined],
  ];
  for (const [format, bytes, pureJs] of formats) {
    const workerMs = await time(() => decoder.decodeAll([bytes], (gray) => gray));
    const pureJsMs = pureJs ? await time(() => pureJs(bytes)) : undefined;
    const row = {
      image: `${width}x${height}`,
      format,
      bytes: bytes.byteLength,
      workerPathMs: workerMs,
      pureJsDecodeMs: pureJsMs,
      pureJsOverWorker: pureJsMs ? Math.round((pureJsMs / workerMs) * 100) / 100 : undefined,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}

await mkdir("bench/results", { recursive: true });
const result = {
  context: machineContext(),
  note: [
    "median of 7 after one warm-up, under Node. workerPathMs: the worker's whole decode (structure checks,",
    "PNG inflate bound, wasm codec, gray); pureJsDecodeMs: fast-png / jpeg-js decode alone (no gray",
    "conversion, no checks), the decoders used before. WebP had no decoder before.",
  ].join(" "),
  rows,
};
await writeFile("bench/results/image-decoders.json", `${JSON.stringify(result, null, 2)}\n`);
console.log("wrote bench/results/image-decoders.json");
