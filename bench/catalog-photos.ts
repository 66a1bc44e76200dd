// Builds a catalog-style photo set from Fashion-MNIST test images, the way
// users send products: the garment dark on a light, tinted background (the
// inverse of Fashion-MNIST; a fifth light on dark), upscaled to 224-1024 px,
// off-centre with margins, as JPEG (quality 60-95) or PNG. Seeded: the same
// command builds the same set. Only reported on, never used to choose anything.
//
//   tsx bench/catalog-photos.ts [--out .cache/catalog-photos] [--count 2000] [--seed 13]
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { z } from "zod";
import { flagValue, parseCommandOrExit } from "../cli/args.ts";
import { loadFashionMnist } from "../data/fashion-mnist.ts";

export interface CatalogPhoto {
  file: string;
  /** Index in the Fashion-MNIST test split. */
  testIndex: number;
  /** Source label 0-9. */
  label: number;
  width: number;
  height: number;
  format: "jpeg" | "png";
  quality?: number;
  background: "light" | "dark";
}

export const CATALOG_DEFAULT_DIR = ".cache/catalog-photos";
export const CATALOG_INDEX = "photos.json";

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type Rgb = [number, number, number];

export async function buildCatalogPhotos(
  outDir: string,
  count: number,
  seed: number,
): Promise<CatalogPhoto[]> {
  const { test } = await loadFashionMnist({ log: () => {} });
  if (count > test.count) throw new Error(`--count ${count}: the test split has ${test.count} images`);
  const next = random(seed);
  const between = (low: number, high: number) => low + next() * (high - low);
  const integer = (low: number, high: number) => Math.floor(between(low, high + 1));
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  // Evenly spread over the split, so every class is there in its test proportion.
  const stride = test.count / count;
  const photos: CatalogPhoto[] = [];
  for (let k = 0; k < count; k++) {
    const testIndex = Math.floor(k * stride);
    const ink = test.images.subarray(testIndex * 784, (testIndex + 1) * 784);
    const light = next() < 0.8;
    // Light: a pale tinted ground and a dark, coloured garment. Dark: the other way round.
    const ground: Rgb = light
      ? [integer(215, 252), integer(215, 252), integer(215, 252)]
      : [integer(0, 40), integer(0, 40), integer(0, 40)];
    const garment: Rgb = light
      ? [integer(0, 90), integer(0, 90), integer(0, 90)]
      : [integer(200, 255), integer(200, 255), integer(200, 255)];
    const rgb = new Uint8Array(784 * 3);
    for (let i = 0; i < 784; i++) {
      const share = (ink[i] ?? 0) / 255;
      for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(ground[c]! * (1 - share) + garment[c]! * share);
    }
    const width = integer(224, 1024);
    const height = Math.min(1024, Math.max(224, Math.round(width * between(0.75, 1.33))));
    // The garment's 28x28 frame takes 50-90 % of the shorter side, placed anywhere that fits.
    const side = Math.round(Math.min(width, height) * between(0.5, 0.9));
    const left = integer(0, width - side);
    const top = integer(0, height - side);
    const framed = sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } })
      .resize(side, side, { kernel: "lanczos3" })
      .extend({
        left,
        top,
        right: width - side - left,
        bottom: height - side - top,
        background: { r: ground[0], g: ground[1], b: ground[2] },
      });
    const asJpeg = next() < 0.7;
    const quality = asJpeg ? integer(60, 95) : undefined;
    const file = `${String(k).padStart(5, "0")}.${asJpeg ? "jpg" : "png"}`;
    const encoded = asJpeg ? framed.jpeg({ quality }) : framed.png();
    await writeFile(join(outDir, file), await encoded.toBuffer());
    photos.push({
      file,
      testIndex,
      label: test.labels[testIndex] ?? -1,
      width,
      height,
      format: asJpeg ? "jpeg" : "png",
      quality,
      background: light ? "light" : "dark",
    });
    if ((k + 1) % 500 === 0) console.log(`${k + 1}/${count} photos`);
  }
  await writeFile(join(outDir, CATALOG_INDEX), `${JSON.stringify({ seed, count, photos }, null, 1)}\n`);
  return photos;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const values = parseCommandOrExit(
    {
      name: "npm run catalog:build --",
      summary: "builds a seeded catalog-style photo set (JPEG and PNG) from Fashion-MNIST test images.",
      flags: {
        out: { value: "DIR", help: "where the photos and their index go" },
        count: { value: "N", help: "photos" },
        seed: { value: "N", help: "seed of the draw" },
      },
      schema: z.object({
        out: flagValue.path().default(CATALOG_DEFAULT_DIR),
        count: flagValue.integer(1).default(2000),
        seed: flagValue.integer(0).default(13),
      }),
    },
    process.argv.slice(2),
  );
  const { count, seed } = values;
  const photos = await buildCatalogPhotos(values.out, count, seed);
  const jpegs = photos.filter((p) => p.format === "jpeg").length;
  console.log(`wrote ${photos.length} photos (${jpegs} JPEG, ${photos.length - jpegs} PNG) to ${values.out}`);
}
